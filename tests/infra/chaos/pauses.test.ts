import { describe, expect, it } from 'vitest';
import { busiestLeader, coordinatorPartition, javaHashCode, longestPause } from '../../../infra/chaos/pure/pauses.ts';

describe('longestPause', () => {
  it('counts the gap from the fault to the first decision after it', () => {
    expect(longestPause([500, 1_000, 9_000, 9_500], 1_000)).toEqual({ seconds: 8, startedAt: 1_000 });
    expect(longestPause([0, 25_000, 26_000], 1_000)).toEqual({ seconds: 24, startedAt: 1_000 });
  });

  it('finds a later, longer gap, in any input order', () => {
    expect(longestPause([40_000, 2_000, 3_000, 4_000], 1_000)).toEqual({ seconds: 36, startedAt: 4_000 });
  });

  it('no decision after the fault is an endless pause', () => {
    expect(longestPause([100, 200], 1_000).seconds).toBe(Infinity);
  });
});

describe('busiestLeader', () => {
  it('picks the node leading most partitions, the lowest id on a tie, ignoring leaderless ones', () => {
    expect(busiestLeader([1, 2, 2, 3, -1, 2])).toEqual({ node: 2, led: 3, counts: { 1: 1, 2: 3, 3: 1 } });
    expect(busiestLeader([3, 1, 3, 1]).node).toBe(1);
    expect(() => busiestLeader([-1])).toThrow(/no partition has a leader/);
  });
});

describe('coordinatorPartition', () => {
  it("hashes as Java's String.hashCode, overflow included", () => {
    expect(javaHashCode('')).toBe(0);
    expect(javaHashCode('hello')).toBe(99_162_322);
    // Java: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
    expect(javaHashCode('polygenelubricants')).toBe(-2_147_483_648);
  });

  it("is Kafka's Utils.abs(hashCode) % partitions: a negative hash folds to its absolute value, MIN_VALUE to 0", () => {
    expect(coordinatorPartition('hello', 50)).toBe(99_162_322 % 50);
    const negative = ['fraudstream.g.t.1', 'x', 'zzzzzzzz', 'chaos-detect-abc.transactions.5'].find((k) => javaHashCode(k) < 0)!;
    expect(negative).toBeDefined();
    expect(coordinatorPartition(negative, 50)).toBe(-javaHashCode(negative) % 50);
    expect(coordinatorPartition('polygenelubricants', 50)).toBe(0);
  });
});
