/**
 * The outcome store's view marker (issue 18): claims are refused until the view is rebuilt, a wipe during a rebuild
 * makes it rebuild again rather than declare a half-restored view whole, and two processes rebuilding at once both
 * end with one whole view. Its own redis-server (FLUSHALL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../../infra/redis-local.ts';
import { OutcomeStore, outcomeKeyPrefix, outcomeRebuildKey, outcomeViewKey, type ClaimReader, type RestoredClaim } from '../../state/outcomes.ts';

const P = 'ov:';
const TTL = 3600;

describe('outcome store: the view is rebuilt from the record before anything is claimed', () => {
  let local: LocalRedis;
  let redis: Redis;

  beforeAll(async () => {
    local = await startLocalRedis();
    redis = new Redis(local.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await local?.stop();
  });

  const recorded = (now: number): RestoredClaim[] => [
    { stage: 'detect', key: 'tx-1', source: '0:10', hash: 'h1', at: now - 1_000 },
    { stage: 'detect', key: 'tx-2', source: '1:11', hash: 'h2', at: now - 2 * TTL * 1000 }, // outside the window
    { stage: 'escalate', key: 'tx-3', source: '0:12', hash: 'h3', at: now - 1_000 }, // another stage's
  ];

  it('a wipe during the rebuild starts it again; the claims are there and the copy of tx-1 is a duplicate', async () => {
    await redis.flushall();
    let calls = 0;
    const reader: ClaimReader = async (_since, write) => {
      calls += 1;
      await write(recorded(Date.now()));
      if (calls === 1) await redis.flushall();
      return { read: 3 };
    };
    const store = new OutcomeStore(redis, P, 'detect', TTL, { reader });
    const claims = await store.claim([
      { key: 'tx-1', source: '2:99', hash: 'h1' },
      { key: 'tx-2', source: '2:100', hash: 'h2' },
      { key: 'tx-3', source: '2:101', hash: 'h3' },
    ]);
    expect(calls).toBe(2);
    expect(claims[0]).toEqual({ mine: false, holder: { source: '0:10', hash: 'h1', committed: true } });
    expect(claims[1]).toEqual({ mine: true, again: false });
    expect(claims[2]).toEqual({ mine: true, again: false });
    expect(claims.view).toBe(await redis.get(outcomeViewKey(P, 'detect')));
    expect(await redis.exists(outcomeRebuildKey(P, 'detect'))).toBe(0);
    // No TTL (never evicted): swept with the bucket of its record time (tests/state/outcomes-expiry.it.test.ts).
    expect(await redis.ttl(outcomeKeyPrefix(P, 'detect') + 'tx-1')).toBe(-1);
    expect(await store.bucketMembers(store.bucketOf(recorded(Date.now())[0]!.at))).toContain('tx-1');
    await expect(store.confirm(claims.view!)).resolves.toBeUndefined();
    await redis.flushall();
    await expect(store.confirm(claims.view!)).rejects.toThrow(/lost during this batch/);
  });

  it('two processes rebuilding at once: one whole view, both claim afterwards', async () => {
    await redis.flushall();
    const other = new Redis(local.url);
    try {
      let reads = 0;
      const slowReader: ClaimReader = async (_since, write) => {
        reads += 1;
        await new Promise((r) => setTimeout(r, 100));
        await write(recorded(Date.now()));
        return { read: 3 };
      };
      const a = new OutcomeStore(redis, P, 'detect', TTL, { reader: slowReader });
      const b = new OutcomeStore(other, P, 'detect', TTL, { reader: slowReader });
      const [ca, cb] = await Promise.all([a.claim([{ key: 'tx-1', source: '5:1', hash: 'h1' }]), b.claim([{ key: 'tx-9', source: '5:2', hash: 'h9' }])]);
      expect(reads).toBe(2);
      expect(ca[0]).toEqual({ mine: false, holder: { source: '0:10', hash: 'h1', committed: true } });
      expect(cb[0]).toEqual({ mine: true, again: false });
      expect(ca.view).toBe(cb.view);
    } finally {
      other.disconnect();
    }
  });

  // chaos redis-kill9 at 2a33e69: 7 transactions decided twice after a kill -9 of Redis. A claim read back from the
  // record is the claim of a committed decision: the same message delivered again (a stale committed offset, a zombie
  // member) used to count as "an earlier attempt that never committed" and was decided a second time.
  it('a redelivery of a message whose claim was read back from the record is a duplicate, not decided again', async () => {
    await redis.flushall();
    const reader: ClaimReader = async (_since, write) => {
      await write(recorded(Date.now()));
      return { read: 3 };
    };
    const store = new OutcomeStore(redis, P, 'detect', TTL, { reader });
    const [again] = await store.claim([{ key: 'tx-1', source: '0:10', hash: 'h1' }]);
    expect(again).toEqual({ mine: false, holder: { source: '0:10', hash: 'h1', committed: true } });
  });

  it('a claim marked committed after its batch: the same message again is a duplicate; unmarked it is decided again', async () => {
    await redis.flushall();
    const store = new OutcomeStore(redis, P, 'detect', TTL);
    const first = await store.claim([
      { key: 'tx-a', source: '3:331', hash: 'ha' },
      { key: 'tx-b', source: '3:332', hash: 'hb' },
    ]);
    expect(first.slice()).toEqual([{ mine: true, again: false }, { mine: true, again: false }]);
    // An attempt that never committed: the same message is decided again (unchanged).
    const retry = await store.claim([{ key: 'tx-b', source: '3:332', hash: 'hb' }]);
    expect(retry[0]).toEqual({ mine: true, again: true });
    await store.markCommitted([
      { key: 'tx-a', source: '3:331', hash: 'ha' },
      // Held by another message now (released and claimed again): left alone.
      { key: 'tx-b', source: '9:9', hash: 'hb' },
    ]);
    const after = await store.claim([
      { key: 'tx-a', source: '3:331', hash: 'ha' },
      { key: 'tx-b', source: '3:332', hash: 'hb' },
    ]);
    expect(after[0]).toEqual({ mine: false, holder: { source: '3:331', hash: 'ha', committed: true } });
    expect(after[1]).toEqual({ mine: true, again: true });
    // Marked, still without a TTL (swept with its bucket).
    expect(await redis.pttl(outcomeKeyPrefix(P, 'detect') + 'tx-a')).toBe(-1);
    // Another copy of the transaction (other source, same content) stays an identical duplicate.
    const copy = await store.claim([{ key: 'tx-a', source: '3:900', hash: 'ha' }]);
    expect(copy[0]).toEqual({ mine: false, holder: { source: '3:331', hash: 'ha', committed: true } });
  });
});
