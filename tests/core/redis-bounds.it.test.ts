/** Every Redis key family has a TTL or a cap (issue 12): the ones that had neither, checked against real Redis. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { FraudstreamError } from '../../core/errors.ts';
import { recordDrift } from '../../detectors/drift.ts';
import { DRIFT_TTL_SECONDS, driftKey } from '../../state/drift.ts';
import { POLICY_KEEP_VERSIONS, RedisPolicyStore, defaultPolicy, policyKeys } from '../../state/policy.ts';
import { forgetCases, RedisReviewQueue, reviewKeys } from '../../state/review.ts';
import { storeCardHistory } from '../../state/card-history.ts';
import { CARD_HISTORY_KEEP, CARD_HISTORY_TTL_SECONDS, cardHistoryKey, cardRowsKey } from '../../state/ui.ts';
import { openCase, tx } from '../router/review-queue-fixtures.ts';
import { dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';

let config: Config;
let redis: Redis;
let prefix: string;

beforeAll(async () => {
  config = await testConfig('bounds');
  redis = testRedis(config);
  prefix = config.redis.keyPrefix;
});
afterAll(async () => {
  await dropTestKeys(redis, config);
  redis.disconnect();
});

describe('Redis bounds', () => {
  it('neither an open case nor a closed one has a TTL (record views are never evicted); the ops sweep removes closed ones', async () => {
    const q = new RedisReviewQueue(redis, prefix);
    await q.enqueue(openCase('b1', 0.5, Date.now()));
    expect(await redis.ttl(reviewKeys(prefix).case('b1'))).toBe(-1);
    await q.close('b1', 'approved', 'alice', '');
    expect(await redis.ttl(reviewKeys(prefix).case('b1'))).toBe(-1);
    expect((await q.get('b1'))?.status).toBe('approved');
    // What the sweep does past CLOSED_CASE_TTL_SECONDS (router/ops/case-records.ts, tests/router/case-records.it.test.ts).
    expect(await forgetCases(redis, prefix, ['b1'])).toBe(1);
    expect(await redis.exists(reviewKeys(prefix).case('b1'))).toBe(0);
  });

  it('a full verdict outbox refuses the verdict and leaves the case open', async () => {
    const q = new RedisReviewQueue(redis, prefix);
    const outbox = `${prefix}test-outbox`;
    await redis.rpush(outbox, 'a', 'b', 'c');
    await q.enqueue(openCase('b2', 0.5, Date.now()));
    const err = await q.close('b2', 'approved', 'alice', '', { outbox: { key: outbox, items: () => ['label'], max: 3 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FraudstreamError);
    expect((err as Error).message).toMatch(/wait for Kafka/);
    expect((await q.get('b2'))?.status).toBe('open');
    expect(await redis.llen(outbox)).toBe(3);
    await redis.lpop(outbox);
    expect((await q.close('b2', 'approved', 'alice', '', { outbox: { key: outbox, items: () => ['label'], max: 3 } }))?.status).toBe('approved');
    expect(await redis.lrange(outbox, 0, -1)).toEqual(['b', 'c', 'label']);
  });

  it(`policy versions: the newest ${POLICY_KEEP_VERSIONS} are kept, older ones deleted`, async () => {
    const p = `${prefix}pol:`;
    const store = new RedisPolicyStore(redis, p, () => defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } }));
    const base = await store.current();
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = base;
    // Jump the counter so one update crosses the cap without writing a thousand versions.
    await redis.set(policyKeys(p).counter, String(POLICY_KEEP_VERSIONS + 5));
    const after = await store.update(input, 'alice');
    expect(after.version).toBe(POLICY_KEEP_VERSIONS + 6);
    expect(await redis.exists(policyKeys(p).doc(1))).toBe(0);
    expect(await redis.zrange(policyKeys(p).history, 0, -1)).toEqual([String(after.version)]);
    expect((await store.current()).version).toBe(after.version);
  });

  it('drift counts expire DRIFT_TTL_SECONDS after the last batch', async () => {
    await recordDrift(redis, prefix, 'v-old', { amount: [1, 2, 3] });
    const ttl = await redis.ttl(driftKey(prefix, 'v-old'));
    expect(ttl).toBeGreaterThan(DRIFT_TTL_SECONDS - 60);
  });

  it(`card history keeps the last ${CARD_HISTORY_KEEP} transactions per card, ids and rows together, with a TTL`, async () => {
    const decisions = Array.from({ length: CARD_HISTORY_KEEP + 15 }, (_, i) => {
      const t = tx({ txId: `h-${i}`, cardId: 'card-h', ts: 1_767_225_600_000 + i * 1000 });
      return { txId: t.txId, cardId: 'card-h', tx: t, action: 'ALLOW' as const, stage: 'detect' as const, decidedAt: t.ts };
    });
    await storeCardHistory(redis, prefix, decisions.slice(0, 30));
    await storeCardHistory(redis, prefix, decisions.slice(30));
    const ids = await redis.zrange(cardHistoryKey(prefix, 'card-h'), 0, -1);
    expect(ids.length).toBe(CARD_HISTORY_KEEP);
    expect(ids[0]).toBe('h-15');
    expect((await redis.hkeys(cardRowsKey(prefix, 'card-h'))).sort()).toEqual([...ids].sort());
    for (const key of [cardHistoryKey(prefix, 'card-h'), cardRowsKey(prefix, 'card-h')]) expect(await redis.ttl(key)).toBeGreaterThan(CARD_HISTORY_TTL_SECONDS - 60);
  });
});
