import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { MemoryFeatureStore, RedisFeatureStore } from '../../detectors/features.ts';
import { testConfig, testRedis } from '../helpers/services.ts';
import { tinyStream } from './tiny-stream.ts';
import { BASE_FEATURE_COUNT } from '../../detectors/pure/features.ts';
import { entityStateFromHash, type EntityState } from '../../detectors/pure/entity-state.ts';

const clients: Redis[] = [];
const prefixes: string[] = [];

afterAll(async () => {
  const r = clients[0];
  if (r) {
    for (const p of prefixes) {
      const keys = await r.keys(`${p}feat:*`);
      if (keys.length) await r.del(...keys);
    }
  }
  await Promise.all(clients.map((c) => c.quit()));
});

async function redisStore(label: string, cardsPerScript?: number) {
  const config = await testConfig(label);
  const redis = testRedis(config);
  clients.push(redis);
  prefixes.push(config.redis.keyPrefix);
  return { redis, prefix: config.redis.keyPrefix, store: new RedisFeatureStore(redis, { keyPrefix: config.redis.keyPrefix, cardsPerScript }) };
}

const arrays = (vs: Float64Array[]) => vs.map((v) => Array.from(v));
const base = (v: number[]) => v.slice(0, BASE_FEATURE_COUNT);

/** Every entity hash in Redis decodes to exactly the memory store's state of that entity (the Lua mirrors entity-state.ts). */
async function expectEntityStatesEqual(redis: Redis, prefix: string, memory: MemoryFeatureStore): Promise<void> {
  const keys = await redis.keys(`${prefix}feat:e:*`);
  expect(keys.length).toBe(memory.entityCount + 1);
  for (const key of keys) {
    const entity = key.slice(key.indexOf('{') + 1, -1);
    const got = entityStateFromHash(await redis.hgetallBuffer(key));
    expect({ entity, ...got }).toEqual({ entity, ...(memory.peekEntity(entity) as EntityState) });
  }
}

describe('RedisFeatureStore', () => {
  it.each([
    ['one script call per batch', undefined],
    ['one script call per card (Redis Cluster mode)', 1],
  ])('gives the same vectors and history as the in-memory store for one stream: %s', async (_, cardsPerScript) => {
    const txs = tinyStream(600, 11, { cards: 12 }).map((i) => i.tx);
    const { store, redis, prefix } = await redisStore('feat-parity', cardsPerScript);
    const memory = new MemoryFeatureStore();
    const want = await memory.computeAndApply(txs);

    const got: Float64Array[] = [];
    const sizes = [50, 1, 17, 128, 3];
    for (let i = 0, b = 0; i < txs.length; b++) {
      const size = sizes[b % sizes.length];
      got.push(...(await store.computeAndApply(txs.slice(i, i + size))));
      i += size;
    }
    expect(arrays(got)).toEqual(arrays(want));
    for (const card of ['card-0', 'card-5', 'card-11']) {
      expect(arrays(await store.history(card, 8))).toEqual(arrays(await memory.history(card, 8)));
      const mid = txs[300].ts;
      const before = await store.history(card, 8, mid);
      expect(arrays(before)).toEqual(arrays(await memory.history(card, 8, mid)));
    }
    // keys are prefixed and hash-tagged by card, or by entity, or (the new-card cap's counters) all by one tag
    const keys = await redis.keys(`${prefix}feat:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => /^.+feat:\{card-\d+\}$/.test(k) || /^.+feat:e:\{[a-z*]+:[^}]+\}$/.test(k) || /^.+feat:n:\{newcards\}:m:[^:]+:\d+$/.test(k))).toBe(true);
    await expectEntityStatesEqual(redis, prefix, memory);
  });

  it('keeps concurrent batches of one store apart (card states are reused between passes)', async () => {
    const txs = tinyStream(400, 12, { cards: 10 }).map((i) => i.tx);
    const want = await new MemoryFeatureStore().computeAndApply(txs);
    const { store } = await redisStore('feat-concurrent');
    const lanes = [0, 1].map((lane) => txs.map((t, i) => ({ t, i })).filter(({ t }) => Number(t.cardId.split('-')[1]) % 2 === lane));
    const got: Float64Array[] = new Array(txs.length);
    const sizes = [7, 40, 1, 23];
    for (let k = 0, b = 0; k < Math.max(...lanes.map((l) => l.length)); b++) {
      const size = sizes[b % sizes.length];
      // both lanes in flight at once on the same store, each on its own cards
      await Promise.all(
        lanes.map(async (lane) => {
          if (k >= lane.length) return;
          // each batch also replays the lane's previous transaction: its vector is read back from history, an
          // extra round trip between computing the batch and writing it
          const part = lane.slice(Math.max(0, k - 1), k + size);
          const vs = await store.computeAndApply(part.map((p) => p.t));
          part.forEach((p, j) => {
            if (got[p.i]) expect(Array.from(vs[j])).toEqual(Array.from(got[p.i]));
            got[p.i] = vs[j];
          });
        }),
      );
      k += size;
    }
    // Entity features (shared merchants and devices) see the other lane's transactions in whatever order the two
    // lanes interleave; the card's own features do not. After both lanes, the entity state is the same as sequential.
    expect(arrays(got).map(base)).toEqual(arrays(want).map(base));
    const memory = new MemoryFeatureStore();
    memory.computeAndApplySync(txs);
    await expectEntityStatesEqual((store as unknown as { redis: Redis }).redis, (store as unknown as { opts: { keyPrefix: string } }).opts.keyPrefix, memory);
  });

  it('re-applying a batch returns the first vectors and changes nothing', async () => {
    const txs = tinyStream(200, 12, { cards: 5 }).map((i) => i.tx);
    const { store } = await redisStore('feat-idem');
    const first = await store.computeAndApply(txs.slice(0, 150));
    const replay = await store.computeAndApply(txs.slice(100, 150));
    expect(arrays(replay)).toEqual(arrays(first.slice(100, 150)));
    const rest = await store.computeAndApply(txs.slice(150));
    const clean = await new MemoryFeatureStore().computeAndApply(txs);
    expect(arrays(rest)).toEqual(arrays(clean.slice(150)));
  });

  it('two writers racing on the same cards still count every transaction once', async () => {
    const txs = tinyStream(240, 13, { cards: 3 }).map((i) => i.tx);
    const { redis, prefix } = await redisStore('feat-race');
    const a = new RedisFeatureStore(redis, { keyPrefix: prefix });
    const b = new RedisFeatureStore(redis.duplicate(), { keyPrefix: prefix });
    clients.push((b as unknown as { redis: Redis }).redis);
    const clean = await new MemoryFeatureStore().computeAndApply(txs);
    for (let i = 0; i < txs.length; i += 40) {
      const chunk = txs.slice(i, i + 40);
      // both deliver the same chunk at once (a rebalance redelivery): one wins each card, the other retries
      const [va, vb] = await Promise.all([a.computeAndApply(chunk), b.computeAndApply(chunk)]);
      expect(arrays(va)).toEqual(arrays(clean.slice(i, i + 40)));
      expect(arrays(vb)).toEqual(arrays(clean.slice(i, i + 40)));
    }
  });

  it('refreshes a card\'s TTL on its first write and then only once ttl/64 has passed', async () => {
    const txs = tinyStream(30, 14, { cards: 1 }).map((i) => i.tx);
    const { redis, prefix } = await redisStore('feat-ttl');
    let now = 1_000_000;
    const ttl = 6_400; // refreshed at most every 100 s
    const store = new RedisFeatureStore(redis, { keyPrefix: prefix, ttlSeconds: ttl, nowSeconds: () => now });
    const key = store.cardKey(txs[0].cardId);
    await store.computeAndApply(txs.slice(0, 10));
    expect(await redis.ttl(key)).toBeGreaterThan(ttl - 5);
    expect(await redis.hget(key, 'e')).toBe(String(now));
    await redis.expire(key, 50);
    now += 99;
    await store.computeAndApply(txs.slice(10, 20));
    const kept = await redis.ttl(key);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(50); // within ttl/64 of the last refresh: no EXPIRE sent
    now += 1;
    await store.computeAndApply(txs.slice(20));
    expect(await redis.ttl(key)).toBeGreaterThan(ttl - 5);
    expect(await redis.hget(key, 'e')).toBe(String(now));
    prefixes.push(`${prefix}never:`);
    const never = new RedisFeatureStore(redis, { keyPrefix: `${prefix}never:`, ttlSeconds: 0 });
    await never.computeAndApply(txs.slice(0, 5));
    expect(await redis.ttl(never.cardKey(txs[0].cardId))).toBe(-1);
  });
});
