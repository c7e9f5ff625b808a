/** How detect knows its feature history is partial (router/feature-history.ts), with a fake Redis and group. */
import { describe, expect, it } from 'vitest';
import { featureHistory } from '../../router/feature-history.ts';
import { buildDecision } from '../../router/pure/decision.ts';
import { DecisionSchema, type Transaction } from '../../core/contracts.ts';
import { featureCompleteKey } from '../../state/features.ts';

function fakeRedis() {
  const keys = new Map<string, string>();
  return {
    keys,
    exists: async (k: string) => (keys.has(k) ? 1 : 0),
    set: async (k: string, v: string, nx?: string) => {
      if (nx === 'NX' && keys.has(k)) return null;
      keys.set(k, v);
      return 'OK';
    },
  };
}

const quiet = { warn: () => undefined, info: () => undefined };
const key = featureCompleteKey('t:');

describe('feature history', () => {
  it('a group that never decided writes the marker once, however many partitions ask at the same moment', async () => {
    const redis = fakeRedis();
    let asked = 0;
    const h = featureHistory({ redis: redis as never, prefix: 't:', decidedBefore: async () => (asked++, false), log: quiet });
    expect(await Promise.all([h.complete(), h.complete(), h.complete()])).toEqual([true, true, true]);
    expect(asked).toBe(1);
    expect(JSON.parse(redis.keys.get(key)!)).toMatchObject({ by: 'first-start' });
  });

  it('after a loss on a group that decided before: partial until the marker is back', async () => {
    const redis = fakeRedis();
    const h = featureHistory({ redis: redis as never, prefix: 't:', decidedBefore: async () => true, log: quiet });
    expect(await Promise.all([h.complete(), h.complete()])).toEqual([false, false]);
    expect(redis.keys.has(key)).toBe(false);
    redis.keys.set(key, JSON.stringify({ at: 1, by: 'restore' }));
    expect(await h.complete()).toBe(true);
    // Lost again later (a second wipe): partial again, without asking the group again.
    redis.keys.clear();
    expect(await h.complete()).toBe(false);
  });

  it('a process that started on a whole state and then lost it does not take itself for a first start', async () => {
    const redis = fakeRedis();
    redis.keys.set(key, '{}');
    const h = featureHistory({ redis: redis as never, prefix: 't:', decidedBefore: async () => true, log: quiet });
    expect(await h.complete()).toBe(true);
    redis.keys.clear();
    expect(await h.complete()).toBe(false);
  });
});

describe('partialHistory on the decision contract', () => {
  const tx: Transaction = { txId: 't1', cardId: 'c1', merchantId: 'm1', merchantName: 'Shop', mcc: '5999', amountMinor: 100, currency: 'EUR', ts: 1, channel: 'card_present', country: 'FR', lat: 0, lon: 0, deviceId: null };
  const input = { stage: 'escalate' as const, action: 'ALLOW' as const, reason: 'r', rulesFired: [], timings: {}, decidedAt: 2 };

  it('is carried from what detect saw into the decision, and absent when the history was whole', () => {
    const partial = buildDecision({ txId: 't1', cardId: 'c1', tx, scores: {}, topFeatures: [], versions: { model: 'm', policy: 1 }, partialHistory: true }, input);
    expect(DecisionSchema.parse(partial).partialHistory).toBe(true);
    const whole = buildDecision({ txId: 't1', cardId: 'c1', tx, scores: {}, topFeatures: [], versions: { model: 'm', policy: 1 } }, input);
    expect('partialHistory' in whole).toBe(false);
  });

  it('keeps decisions written before the field parseable', () => {
    const { partialHistory: _p, ...old } = buildDecision({ txId: 't1', cardId: 'c1', tx, scores: {}, topFeatures: [], versions: { model: 'm', policy: 1 } }, input);
    expect(DecisionSchema.safeParse(old).success).toBe(true);
    expect(DecisionSchema.safeParse({ ...old, partialHistory: 'yes' }).success).toBe(false);
  });
});

describe('the console says it in words', () => {
  it('on a decision and a case: partial, with what to run, or complete', async () => {
    const { historyText } = await import('../../review-ui/web/src/decision-row.ts');
    expect(historyText(true)).toMatch(/^partial: .*restore features/);
    expect(historyText(undefined)).toBe('complete');
  });
});
