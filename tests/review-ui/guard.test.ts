import { describe, expect, it } from 'vitest';
import { DecisionSchema, type Decision, type Policy } from '../../core/contracts.ts';
import { logger } from '../../core/logger.ts';
import { GUARD_WHO, GuardWatcher } from '../../review-ui/server/guard.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';

/** An in-memory stand-in for the policy store: versions by number, rollback copies content into a new version. */
function fakeStore() {
  const versions = new Map<number, Policy>();
  const base = defaultPolicy(COLD_START_THRESHOLDS);
  let current = 0;
  const save = (by: string, updatedAt = Date.now()) => {
    current += 1;
    versions.set(current, { ...base, version: current, updatedAt, updatedBy: by });
    return versions.get(current) as Policy;
  };
  return {
    versions,
    save,
    current: async () => versions.get(current) as Policy,
    get: async (v: number) => versions.get(v),
    rollback: async (_v: number, by: string) => save(by),
  };
}

let n = 0;
function decision(action: Decision['action'], policy: number): Decision {
  n += 1;
  const txId = `tx-${n}`;
  return DecisionSchema.parse({
    decisionId: `${txId}:detect`, txId, cardId: 'card-1', action, stage: 'detect', final: true, reason: 'test', scores: {}, rulesFired: [], topFeatures: [],
    versions: { model: 'm', policy }, timings: {}, decidedAt: Date.now(),
    tx: { txId, cardId: 'card-1', merchantId: 'm-1', merchantName: 'Shop', mcc: '5732', amountMinor: 100, currency: 'EUR', ts: Date.now(), channel: 'card_present', country: 'DE', lat: 0, lon: 0, deviceId: null },
  });
}

function setup() {
  const store = fakeStore();
  const audits: unknown[] = [];
  const claimed = new Set<number>();
  const claim = async (v: number) => !claimed.has(v) && Boolean(claimed.add(v));
  const guard = new GuardWatcher({ rail: { maxBlockRateFactor: 3, minDecisions: 10, windowMinutes: 10 }, policies: store, audit: { record: async (e) => (audits.push(e), e as never) }, log: logger('test'), claim });
  const feed = (action: Decision['action'], policy: number, count: number) => {
    for (let i = 0; i < count; i++) guard.onDecision(decision(action, policy));
  };
  return { store, audits, guard, feed, claimed };
}

describe('guard watcher', () => {
  it('keeps a change whose block rate stays within the factor', async () => {
    const { store, audits, guard, feed } = setup();
    store.save('alice');
    feed('BLOCK', 1, 10);
    feed('ALLOW', 1, 90);
    store.save('alice');
    feed('BLOCK', 2, 2);
    feed('ALLOW', 2, 18);
    await guard.settled();
    expect(audits).toEqual([]);
    expect(guard.status().watching).toMatchObject({ version: 2, previousVersion: 1, decisions: 20 });
  });

  it('rolls back a spike once, and keeps the restored version', async () => {
    const { store, audits, guard, feed } = setup();
    store.save('alice');
    feed('ALLOW', 1, 100);
    store.save('alice');
    feed('BLOCK', 2, 20);
    await guard.settled();
    expect((await store.current()).version).toBe(3);
    expect(audits).toHaveLength(1);
    expect(guard.status().rollbacks).toEqual([expect.objectContaining({ fromVersion: 2, toVersion: 1, newVersion: 3 })]);
    feed('BLOCK', 3, 30);
    await guard.settled();
    expect((await store.current()).updatedBy).toBe(GUARD_WHO);
    expect(audits).toHaveLength(1);
  });

  it('leaves alone a change past its window, one claimed by another process, and one already superseded', async () => {
    const old = setup();
    old.store.save('alice');
    old.feed('ALLOW', 1, 100);
    old.store.save('alice', Date.now() - 11 * 60_000);
    old.feed('BLOCK', 2, 20);
    await old.guard.settled();
    expect(old.audits).toEqual([]);
    expect((await old.store.current()).version).toBe(2);

    // Another UI process claimed the rollback first.
    const other = setup();
    other.store.save('alice');
    other.feed('ALLOW', 1, 100);
    other.store.save('alice');
    other.claimed.add(2);
    other.feed('BLOCK', 2, 20);
    await other.guard.settled();
    expect(other.audits).toEqual([]);
    expect((await other.store.current()).version).toBe(2);

    const moved = setup();
    moved.store.save('alice');
    moved.feed('ALLOW', 1, 100);
    moved.store.save('alice');
    moved.store.save('bob');
    moved.feed('BLOCK', 2, 20);
    await moved.guard.settled();
    expect(moved.audits).toEqual([]);
    expect((await moved.store.current()).version).toBe(3);
  });
});
