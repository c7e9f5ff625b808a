import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import type { Policy, PolicyInput } from '../../core/contracts.ts';
import type { ModelThresholds } from '../../core/model-registry.ts';
import { RedisPolicyStore, defaultPolicy, policyChannel, policyKeys } from '../../state/policy.ts';
import { coldStartThresholds } from '../../core/model-registry.ts';
import { RedisSampleStore } from '../../state/samples.ts';
import type { ScoredSample } from '../../state/types.ts';
import { testConfig, testRedis, dropTestKeys } from '../helpers/services.ts';

const thresholds: ModelThresholds = {
  detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 },
  escalate: { blockAbove: 0.8, allowBelow: 0.3 },
};

let config: Config;
let redis: Redis;
const extra: Redis[] = [];

beforeAll(async () => {
  config = await testConfig('ps');
  redis = testRedis(config);
});
afterAll(async () => {
  await dropTestKeys(redis, config);
  for (const r of [redis, ...extra]) r.disconnect();
});

const store = (sub: string) => new RedisPolicyStore(redis, `${config.redis.keyPrefix}${sub}:`, () => defaultPolicy(thresholds, 'm-1'));
const input = (p: Policy): PolicyInput => {
  const { version: _v, updatedAt: _u, updatedBy: _b, ...rest } = p;
  return rest;
};

describe('defaultPolicy', () => {
  it('takes the model thresholds and starts with empty lists', () => {
    const p = defaultPolicy(thresholds, 'm-1', 5);
    expect(p.version).toBe(1);
    expect(p.thresholds).toEqual(thresholds);
    expect(p.modelVersion).toBe('m-1');
    expect(Object.values(p.lists).every((l) => l.length === 0)).toBe(true);
    expect(p.review.capacity).toBeGreaterThan(0);
  });
});

describe('RedisPolicyStore', () => {
  it('creates version 1 once, even when many processes ask at the same time', async () => {
    const stores = [store('init'), store('init'), store('init')];
    const got = await Promise.all(stores.map((s) => s.current()));
    expect(got.map((p) => p.version)).toEqual([1, 1, 1]);
    expect(await stores[0]!.history(10)).toHaveLength(1);
  });

  it('versions each change, keeps history and rolls back as a new version', async () => {
    const s = store('versions');
    const v1 = await s.current();
    const v2 = await s.update({ ...input(v1), lists: { ...v1.lists, blockCards: ['card-9'] } }, 'alice');
    expect(v2.version).toBe(2);
    expect(v2.updatedBy).toBe('alice');
    expect((await s.current()).lists.blockCards).toEqual(['card-9']);
    const v3 = await s.rollback(1, 'bob');
    expect(v3.version).toBe(3);
    expect(v3.lists.blockCards).toEqual([]);
    expect(v3.thresholds).toEqual(v1.thresholds);
    expect((await s.history(10)).map((p) => p.version)).toEqual([3, 2, 1]);
    await expect(s.rollback(99, 'bob')).rejects.toThrow(/version 99 does not exist/);
  });

  it('rejects an invalid policy naming the field and stores nothing', async () => {
    const s = store('invalid');
    const v1 = await s.current();
    const bad = { ...input(v1), thresholds: { ...v1.thresholds, detect: { ...v1.thresholds.detect, allowBelow: 0.95 } } };
    await expect(s.update(bad, 'alice')).rejects.toThrow(/thresholds\.detect\.allowBelow/);
    expect((await s.current()).version).toBe(1);
  });

  it('reads versions stored before a model was registered: the missing threshold gets its cold-start value', async () => {
    const prefix = `${config.redis.keyPrefix}upgrade:`;
    const s = new RedisPolicyStore(redis, prefix, () => defaultPolicy({ ...thresholds, detect: { ...thresholds.detect, anomalyEscalateAbove: 0.55 } }, 'm-1'));
    const v1 = await s.current();
    const v2 = await s.update({ ...input(v1), review: { ...input(v1).review, capacity: 9 } }, 'alice');
    // As an older release stored them: no anomalyEscalateAbove (the isolation forest "not yet registered").
    for (const v of [1, 2]) {
      const doc = JSON.parse((await redis.get(policyKeys(prefix).doc(v)))!);
      delete doc.thresholds.detect.anomalyEscalateAbove;
      await redis.set(policyKeys(prefix).doc(v), JSON.stringify(doc));
    }
    const cold = coldStartThresholds().detect.anomalyEscalateAbove;
    expect(cold).not.toBe(0.55);
    const now = await s.current();
    expect(now.version).toBe(v2.version);
    expect(now.review.capacity).toBe(9);
    expect(now.thresholds.detect).toEqual({ blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: cold });
    expect((await s.history(10)).map((p) => p.thresholds.detect.anomalyEscalateAbove)).toEqual([cold, cold]);
    const v3 = await s.rollback(1, 'bob');
    expect(v3.thresholds.detect.anomalyEscalateAbove).toBe(cold);
    expect(JSON.parse((await redis.get(policyKeys(prefix).doc(3)))!).thresholds.detect.anomalyEscalateAbove).toBe(cold);
  });

  it('publishes each change so a watcher in another process sees it without restart', async () => {
    const s = store('watch');
    await s.current();
    const sub = testRedis(config);
    extra.push(sub);
    const seen: number[] = [];
    const stop = await s.watch(sub, (p) => seen.push(p.version));
    const rawSeen: string[] = [];
    const raw = testRedis(config);
    extra.push(raw);
    raw.on('message', (_ch: string, msg: string) => rawSeen.push(msg));
    await raw.subscribe(policyChannel(`${config.redis.keyPrefix}watch:`));
    const v1 = await s.current();
    await s.update({ ...input(v1), review: { ...input(v1).review, capacity: 7 } }, 'alice');
    for (let i = 0; i < 50 && (seen.length === 0 || rawSeen.length === 0); i++) await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([2]);
    expect(rawSeen).toEqual(['2']);
    await stop();
  });
});

describe('RedisSampleStore', () => {
  const sample = (i: number): ScoredSample => ({
    txId: `t${i}`,
    cardId: 'c',
    merchantId: 'm',
    mcc: '5411',
    country: 'FR',
    amountMinor: i,
    scores: { xgboost: i / 100 },
    rulesFired: [],
    action: 'ALLOW',
  });

  it('keeps the newest samples up to its capacity', async () => {
    const s = new RedisSampleStore(redis, `${config.redis.keyPrefix}samples:`, 5);
    await s.push([1, 2, 3].map(sample));
    await s.push([4, 5, 6, 7].map(sample));
    expect(await s.count()).toBe(5);
    expect((await s.recent(10)).map((x) => x.txId)).toEqual(['t7', 't6', 't5', 't4', 't3']);
    expect((await s.recent(2)).map((x) => x.txId)).toEqual(['t7', 't6']);
  });

  it('skips an entry that does not parse', async () => {
    const s = new RedisSampleStore(redis, `${config.redis.keyPrefix}samples2:`, 5);
    await s.push([sample(1)]);
    await redis.lpush(s.key, '{"broken":true}', 'not json');
    expect((await s.recent(10)).map((x) => x.txId)).toEqual(['t1']);
  });
});
