/**
 * The claims' bucket shards (state/outcomes.ts outcomeShard): a Redis set's hash table doubles at once when its size
 * passes a power of two, past maxmemory if need be. Equal shards pass their powers of two together, so one claim call
 * doubled many tables at once (a 256 MB Redis 3.1 MiB over with 1M random cards); unequal shares spread the doublings.
 * This test fills a bucket in claim calls of 500 keys and counts, per call, the shards whose size passed a power of two.
 */
import { describe, expect, it } from 'vitest';
import { OUTCOME_BUCKET_SHARDS, outcomeKeyHash, outcomeShard } from '../../state/outcomes.ts';

const CALL = 500;

/**
 * The most shards that passed a power of two (>= 2,048) within one claim call, and the most bytes of new tables those
 * doublings allocated in one call (8 bytes a slot, the new table twice the size passed), for a shard function.
 */
function worstCall(shardOf: (key: string) => number, keys: number): { doublings: number; bytes: number } {
  const sizes = new Array<number>(OUTCOME_BUCKET_SHARDS).fill(0);
  let doublings = 0;
  let bytes = 0;
  for (let start = 0; start < keys; start += CALL) {
    let d = 0;
    let b = 0;
    for (let i = start; i < start + CALL; i++) {
      const s = shardOf(`0f8fad5b-d9cb-469f-a165-${i.toString(16).padStart(12, '0')}`);
      sizes[s]! += 1;
      const n = sizes[s]!;
      if (n >= 2_048 && (n & (n - 1)) === 0) {
        d += 1;
        b += 8 * 2 * n;
      }
    }
    doublings = Math.max(doublings, d);
    bytes = Math.max(bytes, b);
  }
  return { doublings, bytes };
}

/** The same hash split evenly (modulo): what the shards were at first. */
const evenShard = (key: string): number => outcomeKeyHash(key) % OUTCOME_BUCKET_SHARDS;

describe('claim bucket shards', () => {
  it('every key has a shard in range, the same each time', () => {
    for (const k of ['', 'a', 'tx-1', '0f8fad5b-d9cb-469f-a165-000000000001', 'é'.repeat(40)]) {
      const s = outcomeShard(k);
      expect(Number.isInteger(s) && s >= 0 && s < OUTCOME_BUCKET_SHARDS).toBe(true);
      expect(outcomeShard(k)).toBe(s);
    }
  });

  it('shares grow as 2^(i/32): shard 31 about twice shard 0', () => {
    const sizes = new Array<number>(OUTCOME_BUCKET_SHARDS).fill(0);
    const n = 320_000;
    for (let i = 0; i < n; i++) sizes[outcomeShard(`k-${i}`)]! += 1;
    const ratio = sizes[OUTCOME_BUCKET_SHARDS - 1]! / sizes[0]!;
    expect(ratio).toBeGreaterThan(1.8);
    expect(ratio).toBeLessThan(2.2);
    for (let i = 1; i < OUTCOME_BUCKET_SHARDS; i++) expect(sizes[i]!).toBeGreaterThan(sizes[0]! * 0.9);
  });

  it('as a bucket fills to 600,000 claims, one claim call doubles at most a few shards; an even split doubles many at once', () => {
    const keys = 600_000;
    const even = worstCall(evenShard, keys);
    const spread = worstCall(outcomeShard, keys);
    const kib = (b: number) => `${Math.round(b / 1024)} KiB`;
    console.log(`worst claim call of ${CALL}: even split ${even.doublings} tables doubled (${kib(even.bytes)} new), unequal shares ${spread.doublings} (${kib(spread.bytes)})`);
    expect(even.doublings).toBeGreaterThanOrEqual(8);
    expect(spread.doublings).toBeLessThanOrEqual(3);
    expect(spread.bytes * 4).toBeLessThanOrEqual(even.bytes);
  });
});
