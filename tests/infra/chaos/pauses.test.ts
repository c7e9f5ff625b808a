import { describe, expect, it } from 'vitest';
import { busiestLeader, longestPause } from '../../../infra/chaos/pure/pauses.ts';

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
