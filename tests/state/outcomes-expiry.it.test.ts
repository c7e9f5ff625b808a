/**
 * Dedupe claims are never evicted, and still expire after their window: a claim has no TTL (Redis' volatile-lru only
 * evicts keys with one) and sits in the set of its time bucket; the sweep deletes the buckets a window old with their
 * claims. On redis-servers of its own: one plain, one with maxmemory 8mb and the project's policy, filled past the cap
 * with TTL'd filler (the filler is evicted, no claim is).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { REDIS_EVICTION_POLICY, startLocalRedis, type LocalRedis } from '../../infra/redis-local.ts';
import { OUTCOME_BUCKET_SHARDS, OutcomeStore, outcomeExpiryIndexKey, outcomeExpiryKey, outcomeKeyPrefix, outcomeShard, outcomeViewKey, type RestoredClaim } from '../../state/outcomes.ts';

const W = 3_600; // the dedupe window in these tests (bucket: a minute)
const B = 60_000;
const T0 = Date.UTC(2026, 11, 7, 6, 0, 0);

describe('dedupe claims: no TTL, a time bucket, swept after the window', () => {
  let local: LocalRedis;
  let redis: Redis;
  beforeAll(async () => {
    local = await startLocalRedis();
    redis = new Redis(local.url);
  }, 30_000);
  afterAll(async () => {
    redis?.disconnect();
    await local?.stop();
  });

  /** A store whose clock the test moves. */
  const at = (P: string, clock: { now: number }, o: { bucketSeconds?: number; reader?: (since: number, write: (c: RestoredClaim[]) => Promise<void>) => Promise<{ read: number }> } = {}) =>
    new OutcomeStore(redis, P, 'detect', W, { now: () => clock.now, ...o });
  const claimKey = (P: string, k: string) => outcomeKeyPrefix(P, 'detect') + k;

  it('a claim has no TTL and is in its bucket; a sweep inside the window keeps it, one after the window removes it and its bucket', async () => {
    const P = 'exp1:';
    const clock = { now: T0 };
    const store = at(P, clock);
    await redis.set(outcomeViewKey(P, 'detect'), 'gen');
    expect(store.bucketSeconds).toBe(60);
    const first = await store.claim([{ key: 'tx-old', source: '0:1', hash: 'h1' }]);
    expect(first[0]).toEqual({ mine: true, again: false });
    expect(await redis.ttl(claimKey(P, 'tx-old'))).toBe(-1);
    const oldBucket = store.bucketOf(T0);
    expect(await store.bucketMembers(oldBucket)).toEqual(['tx-old']);
    expect(await redis.smembers(outcomeExpiryIndexKey(P, 'detect'))).toEqual([String(oldBucket)]);
    // marked committed: still no TTL, still in its bucket
    await store.markCommitted([{ key: 'tx-old', source: '0:1', hash: 'h1' }]);
    expect(await redis.get(claimKey(P, 'tx-old'))).toBe('=0:1|h1');
    expect(await redis.ttl(claimKey(P, 'tx-old'))).toBe(-1);

    // 40 minutes later, another claim (another bucket); the old one held again adds nothing to the new bucket
    clock.now = T0 + 40 * 60_000;
    const later = await store.claim([{ key: 'tx-new', source: '0:2', hash: 'h2' }, { key: 'tx-old', source: '0:1', hash: 'h1' }]);
    expect(later[0]).toEqual({ mine: true, again: false });
    expect(later[1]).toEqual({ mine: false, holder: { source: '0:1', hash: 'h1', committed: true } });
    const newBucket = store.bucketOf(clock.now);
    expect(await store.bucketMembers(newBucket)).toEqual(['tx-new']);

    // just inside tx-old's window: nothing swept
    clock.now = T0 + W * 1000 - 1;
    expect(await store.sweep()).toEqual({ buckets: 0, deleted: 0, ran: true });
    expect(await redis.exists(claimKey(P, 'tx-old'))).toBe(1);

    // a window after the end of tx-old's bucket: tx-old and its bucket go, tx-new (inside its window) stays
    clock.now = (oldBucket + 1) * B + W * 1000;
    expect(await store.sweep()).toEqual({ buckets: 1, deleted: 1, ran: true });
    expect(await redis.exists(claimKey(P, 'tx-old'))).toBe(0);
    expect(await redis.exists(...store.bucketKeys(oldBucket))).toBe(0);
    expect(await redis.exists(claimKey(P, 'tx-new'))).toBe(1);
    expect(await redis.smembers(outcomeExpiryIndexKey(P, 'detect'))).toEqual([String(newBucket)]);
    // the expired key is free again
    expect((await store.claim([{ key: 'tx-old', source: '5:5', hash: 'h1' }]))[0]).toEqual({ mine: true, again: false });

    // and tx-new's turn
    clock.now = (newBucket + 1) * B + W * 1000;
    expect(await store.sweep()).toMatchObject({ buckets: 1, deleted: 1 });
    expect(await redis.exists(claimKey(P, 'tx-new'))).toBe(0);
  });

  it('sweeps a large bucket in chunks; a second member meanwhile waits its turn', async () => {
    const P = 'exp2:';
    const clock = { now: T0 };
    const store = at(P, clock);
    await redis.set(outcomeViewKey(P, 'detect'), 'gen');
    const items = Array.from({ length: 2_345 }, (_, i) => ({ key: `tx-${i}`, source: `0:${i}`, hash: 'h' }));
    for (let i = 0; i < items.length; i += 500) await store.claim(items.slice(i, i + 500));
    expect((await store.bucketMembers(store.bucketOf(T0))).length).toBe(items.length);
    clock.now = T0 + (W + 300) * 1000;
    const other = new OutcomeStore(redis, P, 'detect', W, { now: () => clock.now });
    const [a, b] = await Promise.all([store.sweep({ chunk: 100 }), other.sweep({ chunk: 100 })]);
    expect([a, b].filter((r) => r.ran)).toHaveLength(1);
    expect(a.deleted + b.deleted).toBe(items.length);
    expect(await redis.keys(`${P}outcome:*`)).toEqual([]);
    expect(await redis.keys(`${P}outcome-expiry:*`)).toEqual([]);
  });

  it('a released key leaves its bucket: the next copy\'s claim is not swept with the first one\'s bucket', async () => {
    const P = 'exp3:';
    const clock = { now: T0 };
    const store = at(P, clock);
    await redis.set(outcomeViewKey(P, 'detect'), 'gen');
    await store.claim([{ key: 'tx-r', source: '0:1', hash: 'h1' }]);
    await store.release(['tx-r']);
    expect((await store.bucketMembers(store.bucketOf(T0))).length).toBe(0);
    clock.now = T0 + 50 * 60_000;
    expect((await store.claim([{ key: 'tx-r', source: '0:9', hash: 'h1' }]))[0]).toEqual({ mine: true, again: false });
    // the first bucket's sweep time: the second claim (50 minutes younger) stays
    clock.now = (store.bucketOf(T0) + 1) * B + W * 1000;
    await store.sweep();
    expect(await redis.get(claimKey(P, 'tx-r'))).toBe('0:9|h1');
  });

  it('restore puts each claim in the bucket of its record time, without a TTL; claims outside the window are not written', async () => {
    const P = 'exp4:';
    const clock = { now: T0 };
    const recorded: RestoredClaim[] = [
      { stage: 'detect', key: 'tx-a', source: '0:1', hash: 'ha', at: T0 - 1_000 },
      { stage: 'detect', key: 'tx-b', source: '0:2', hash: 'hb', at: T0 - 50 * 60_000 },
      { stage: 'detect', key: 'tx-c', source: '0:3', hash: 'hc', at: T0 - 50 * 60_000 + 10 },
      { stage: 'detect', key: 'tx-gone', source: '0:4', hash: 'hd', at: T0 - W * 1000 - 1 },
      { stage: 'escalate', key: 'tx-e', source: '0:5', hash: 'he', at: T0 - 1_000 },
    ];
    const store = at(P, clock, { reader: async (_since, write) => (await write(recorded), { read: recorded.length }) });
    const [held] = await store.claim([{ key: 'tx-a', source: '7:7', hash: 'ha' }]);
    expect(held).toEqual({ mine: false, holder: { source: '0:1', hash: 'ha', committed: true } });
    const bA = store.bucketOf(T0 - 1_000);
    const bB = store.bucketOf(T0 - 50 * 60_000);
    expect(bA).not.toBe(bB);
    expect(await store.bucketMembers(bA)).toEqual(['tx-a']);
    expect((await store.bucketMembers(bB)).sort()).toEqual(['tx-b', 'tx-c']);
    expect((await redis.smembers(outcomeExpiryIndexKey(P, 'detect'))).sort()).toEqual([String(bA), String(bB)].sort());
    for (const k of ['tx-a', 'tx-b', 'tx-c']) expect(await redis.ttl(claimKey(P, k))).toBe(-1);
    expect(await redis.exists(claimKey(P, 'tx-gone'))).toBe(0);
    expect(await redis.exists(claimKey(P, 'tx-e'))).toBe(0);
    // restored claims are swept a window after their record time (what was left of their window), not a window from now
    clock.now = (bB + 1) * B + W * 1000;
    expect(await store.sweep()).toMatchObject({ buckets: 1, deleted: 2 });
    expect(await redis.exists(claimKey(P, 'tx-a'))).toBe(1);
    // restoring a claim that is live already changes neither its value nor its bucket
    await store.restore([{ stage: 'detect', key: 'tx-a', source: '9:9', hash: 'hz', at: clock.now }]);
    expect(await redis.get(claimKey(P, 'tx-a'))).toBe('=0:1|ha');
    expect(await redis.exists(...store.bucketKeys(store.bucketOf(clock.now)))).toBe(0);
  });

  it('a bucket is split in shards by key hash, so no one set holds a whole minute of claims; a set from before sharding is still swept and released from', async () => {
    const P = 'exp5:';
    const clock = { now: T0 };
    const store = at(P, clock);
    await redis.set(outcomeViewKey(P, 'detect'), 'gen');
    const items = Array.from({ length: 6_400 }, (_, i) => ({ key: `4b1c-${i}`, source: `0:${i}`, hash: 'h' }));
    for (let i = 0; i < items.length; i += 500) await store.claim(items.slice(i, i + 500));
    const bucket = store.bucketOf(T0);
    const sizes: number[] = [];
    for (let s = 0; s < OUTCOME_BUCKET_SHARDS; s++) {
      const members = await redis.smembers(outcomeExpiryKey(P, 'detect', bucket, s));
      for (const m of members) expect(outcomeShard(m)).toBe(s);
      sizes.push(members.length);
    }
    expect(sizes.reduce((a, n) => a + n, 0)).toBe(items.length);
    // Unequal shares (2^(i/32)): the largest under twice the mean, the smallest over a third of it; none empty.
    expect(Math.max(...sizes)).toBeLessThan((2 * items.length) / OUTCOME_BUCKET_SHARDS);
    expect(Math.min(...sizes)).toBeGreaterThan(items.length / OUTCOME_BUCKET_SHARDS / 3);
    expect(await redis.exists(outcomeExpiryKey(P, 'detect', bucket))).toBe(0);

    // A claim written before sharding sits in the bucket's single set: release takes it out, the sweep deletes from it.
    await redis.set(claimKey(P, 'legacy-1'), '0:1|h');
    await redis.set(claimKey(P, 'legacy-2'), '0:2|h');
    await redis.sadd(outcomeExpiryKey(P, 'detect', bucket), 'legacy-1', 'legacy-2');
    await store.release(['legacy-2']);
    expect(await redis.smembers(outcomeExpiryKey(P, 'detect', bucket))).toEqual(['legacy-1']);
    clock.now = (bucket + 1) * B + W * 1000;
    expect(await store.sweep()).toEqual({ buckets: 1, deleted: items.length + 1, ran: true });
    expect(await redis.keys(`${P}outcome:*`)).toEqual([]);
    expect(await redis.keys(`${P}outcome-expiry:*`)).toEqual([]);
  });

  it('refuses a bad window or bucket span with a clear message', () => {
    expect(() => new OutcomeStore(redis, 'x:', 'detect', 0)).toThrow(/dedupe window must be a whole number of seconds >= 1, got 0/);
    expect(() => new OutcomeStore(redis, 'x:', 'detect', 60, { bucketSeconds: 0.5 })).toThrow(/bucketSeconds must be a whole number/);
  });
});

describe('dedupe claims under a real memory cap (own redis-server, maxmemory 8mb, volatile-lru)', () => {
  let local: LocalRedis;
  let redis: Redis;
  beforeAll(async () => {
    local = await startLocalRedis({ maxmemory: '8mb' });
    redis = new Redis(local.url, { maxRetriesPerRequest: 3 });
  }, 30_000);
  afterAll(async () => {
    redis?.disconnect();
    await local?.stop();
  });

  it('filler with a TTL beyond the cap is evicted, no claim is', { timeout: 120_000 }, async () => {
    expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', REDIS_EVICTION_POLICY]);
    const P = 'cap:';
    await redis.set(outcomeViewKey(P, 'detect'), 'gen');
    const store = new OutcomeStore(redis, P, 'detect', 24 * 3600);
    const claims = 10_000;
    const items = Array.from({ length: claims }, (_, i) => ({ key: `0f8fad5b-d9cb-469f-a165-${String(i).padStart(12, '0')}`, source: `0:${i}`, hash: 'h'.repeat(22) }));
    for (let i = 0; i < claims; i += 500) expect((await store.claim(items.slice(i, i + 500))).every((c) => c.mine)).toBe(true);
    // The claims are the least recently used keys from here on: under volatile-lru they would go first if they had a TTL.
    const filler = 'x'.repeat(1_000);
    let written = 0;
    for (let round = 0; round < 24; round++) {
      const p = redis.pipeline();
      for (let j = 0; j < 1_000; j++) p.set(`${P}filler:${written++}`, filler, 'EX', 3600);
      await p.exec();
    }
    const info = await redis.info();
    const evicted = Number(/evicted_keys:(\d+)/.exec(info)?.[1]);
    expect(written * filler.length).toBeGreaterThan(2 * 8 * 1024 * 1024);
    expect(evicted).toBeGreaterThan(written / 3);
    expect(await redis.dbsize()).toBeLessThan(claims + written);
    let present = 0;
    for (let i = 0; i < claims; i += 1_000) present += (await redis.exists(...items.slice(i, i + 1_000).map((it) => store.key(it.key))));
    expect(present).toBe(claims);
    let bucketed = 0;
    for (const b of await redis.smembers(outcomeExpiryIndexKey(P, 'detect'))) bucketed += (await store.bucketMembers(Number(b))).length;
    expect(bucketed).toBe(claims);
    // and they still hold: every copy is refused
    const again = await store.claim(items.slice(0, 500).map((it) => ({ ...it, source: '1:1' })));
    expect(again.every((c) => !c.mine)).toBe(true);
  });

  it('claims alone past the cap: writes are refused (OOM: batches retry, none decided twice); the sweep still runs and frees it', { timeout: 120_000 }, async () => {
    await redis.flushall();
    await redis.config('RESETSTAT');
    const P = 'full:';
    await redis.set(outcomeViewKey(P, 'detect'), 'gen');
    const clock = { now: Date.now() };
    const store = new OutcomeStore(redis, P, 'detect', W, { now: () => clock.now });
    let claimed = 0;
    let refused: Error | undefined;
    for (let b = 0; b < 200 && !refused; b++) {
      try {
        await store.claim(Array.from({ length: 500 }, (_, i) => ({ key: `0f8fad5b-d9cb-469f-a165-${String(b * 500 + i).padStart(12, '0')}`, source: `0:${b}`, hash: 'h'.repeat(22) })));
        claimed += 500;
      } catch (err) {
        refused = err as Error;
      }
    }
    expect(refused?.message).toMatch(/OOM/);
    expect(claimed).toBeGreaterThan(10_000);
    expect(Number(/evicted_keys:(\d+)/.exec(await redis.info('stats'))?.[1])).toBe(0);
    // Past the cap for good: small writes until Redis refuses them (a large claim call's own arguments count too).
    let full = false;
    for (let i = 0; i < 100_000 && !full; i++) full = await redis.set(`${P}probe:${i}`, 'x'.repeat(100)).then(() => false, (err: Error) => /OOM/.test(err.message));
    expect(full).toBe(true);
    // a window later, the sweep (a script that may run out of memory: allow-oom) deletes them and claims work again
    clock.now += (W + 2 * store.bucketSeconds) * 1000;
    const swept = await store.sweep();
    expect(swept.deleted).toBeGreaterThanOrEqual(claimed);
    expect((await store.claim([{ key: 'tx-after', source: '1:1', hash: 'h' }]))[0]).toEqual({ mine: true, again: false });
  });
});
