import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { RedisReviewQueue, reviewKeys } from '../../state/review.ts';
import { testConfig, testRedis, dropTestKeys } from '../helpers/services.ts';
import { openCase } from './review-queue-fixtures.ts';

let config: Config;
let redis: Redis;

beforeAll(async () => {
  config = await testConfig('rq');
  redis = testRedis(config);
});
afterAll(async () => {
  await dropTestKeys(redis, config);
  redis.disconnect();
});

describe('RedisReviewQueue', () => {
  it('orders open cases by risk, then age', async () => {
    const q = new RedisReviewQueue(redis, `${config.redis.keyPrefix}order:`);
    await q.enqueue(openCase('low', 0.55, 1000));
    await q.enqueue(openCase('high-new', 0.9, 3000));
    await q.enqueue(openCase('high-old', 0.9, 2000));
    await q.enqueue(openCase('mid', 0.7, 500));
    expect((await q.listOpen(10)).map((c) => c.caseId)).toEqual(['high-old', 'high-new', 'mid', 'low']);
    expect((await q.listOpen(2)).map((c) => c.caseId)).toEqual(['high-old', 'high-new']);
    expect(await q.openCount()).toBe(4);
  });

  it('orders by expected loss when cases carry it (issue 13): a likelier fraud on a small amount waits', async () => {
    const q = new RedisReviewQueue(redis, `${config.redis.keyPrefix}loss:`);
    await q.enqueue(openCase('sure-small', 0.95, 1000, { expectedLoss: 40 }));
    await q.enqueue(openCase('unsure-large', 0.55, 3000, { expectedLoss: 9_000 }));
    await q.enqueue(openCase('legacy', 0.7, 2000));
    // legacy has no expectedLoss: 0.7 x its amount, between the two.
    const legacy = 0.7 * openCase('legacy', 0.7, 2000).tx.amountMinor;
    expect(legacy).toBeGreaterThan(40);
    expect(legacy).toBeLessThan(9_000);
    expect((await q.listOpen(10)).map((c) => c.caseId)).toEqual(['unsure-large', 'legacy', 'sure-small']);
    expect((await q.get('unsure-large'))?.expectedLoss).toBe(9_000);
  });

  it('knows when the oldest open case was opened, whatever the queue order, and forgets closed ones', async () => {
    const q = new RedisReviewQueue(redis, `${config.redis.keyPrefix}oldest:`);
    expect(await q.oldestOpenAt()).toBeUndefined();
    await q.enqueue(openCase('big-new', 0.6, 5_000, { expectedLoss: 9_000 }));
    await q.enqueue(openCase('small-old', 0.6, 1_000, { expectedLoss: 10 }));
    expect((await q.listOpen(1))[0]?.caseId).toBe('big-new');
    expect(await q.oldestOpenAt()).toBe(1_000);
    await q.close('small-old', 'approved', 'alice', '');
    expect(await q.oldestOpenAt()).toBe(5_000);
  });

  it('finds the oldest among cases enqueued before the opened set existed', async () => {
    const prefix = `${config.redis.keyPrefix}legacy:`;
    const q = new RedisReviewQueue(redis, prefix);
    await q.enqueue(openCase('new', 0.6, 9_000));
    // A case as an older version enqueued it: in the open set and stored, not in review:opened.
    const old = openCase('old', 0.6, 2_000);
    await redis.multi().set(reviewKeys(prefix).case('old'), JSON.stringify(old)).zadd(reviewKeys(prefix).open, 1, 'old').exec();
    expect(await q.oldestOpenAt()).toBe(2_000);
  });

  it('enqueue is idempotent and never reopens a closed case', async () => {
    const q = new RedisReviewQueue(redis, `${config.redis.keyPrefix}idem:`);
    const c = openCase('c1', 0.8, 1000);
    await q.enqueue(c);
    await q.enqueue({ ...c, risk: 0.1 });
    expect(await q.openCount()).toBe(1);
    expect((await q.get('c1'))?.risk).toBe(0.8);
    await q.close('c1', 'approved', 'alice', 'ok');
    await q.enqueue(c);
    expect(await q.openCount()).toBe(0);
    expect((await q.get('c1'))?.status).toBe('approved');
  });

  it('closes a case exactly once under concurrent verdicts', async () => {
    const q = new RedisReviewQueue(redis, `${config.redis.keyPrefix}race:`);
    await q.enqueue(openCase('c2', 0.8, 1000));
    const results = await Promise.all([
      q.close('c2', 'approved', 'alice', 'legit'),
      q.close('c2', 'confirmed_fraud', 'bob', 'fraud'),
      q.close('c2', 'approved', 'carol', ''),
    ]);
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    const stored = await q.get('c2');
    expect(stored?.status).toBe(winners[0]?.status);
    expect(stored?.closedBy).toBe(winners[0]?.closedBy);
    expect(stored?.closedAt).toBeTypeOf('number');
    expect(await q.openCount()).toBe(0);
    expect((await q.listClosed(5)).map((c) => c.caseId)).toEqual(['c2']);
  });

  it('returns undefined for an unknown case and rejects a closed case on enqueue', async () => {
    const q = new RedisReviewQueue(redis, `${config.redis.keyPrefix}unknown:`);
    expect(await q.close('nope', 'approved', 'alice', '')).toBeUndefined();
    expect(await q.get('nope')).toBeUndefined();
    await expect(q.enqueue(openCase('x', 0.5, 1, { status: 'approved' }))).rejects.toThrow(/open cases/);
  });

  it('keys live under the configured prefix', async () => {
    const prefix = `${config.redis.keyPrefix}keys:`;
    const q = new RedisReviewQueue(redis, prefix);
    await q.enqueue(openCase('k1', 0.5, 1));
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.sort()).toEqual([`${prefix}review:case:k1`, `${prefix}review:open`, `${prefix}review:opened`]);
  });
});

describe('RedisReviewQueue outbox', () => {
  it('appends the follow-up messages only for the winning close', async () => {
    const prefix = `${config.redis.keyPrefix}outbox:`;
    const q = new RedisReviewQueue(redis, prefix);
    await q.enqueue(openCase('o1', 0.8, 1));
    const outbox = { key: `${prefix}out`, items: (c: { caseId: string; status: string }) => [`${c.caseId}:${c.status}:a`, `${c.caseId}:${c.status}:b`] };
    const [first, second] = await Promise.all([
      q.close('o1', 'confirmed_fraud', 'alice', '', { outbox }),
      q.close('o1', 'approved', 'bob', '', { outbox }),
    ]);
    const winner = first ?? second;
    expect([first, second].filter(Boolean)).toHaveLength(1);
    expect(await redis.lrange(`${prefix}out`, 0, -1)).toEqual([`o1:${winner?.status}:a`, `o1:${winner?.status}:b`]);
  });
});
