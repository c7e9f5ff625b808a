import { describe, expect, it } from 'vitest';
import { coalesce } from '../../router/runner/coalesce.ts';

describe('coalesce', () => {
  it('merges calls of the same turn into one call per group and hands each caller its own results', async () => {
    const calls: Array<{ group: string; items: number[] }> = [];
    const double = coalesce(async (group: string, items: number[]) => {
      calls.push({ group, items: [...items] });
      return items.map((i) => i * 2);
    });
    const [a, b, c] = await Promise.all([double('m1', [1, 2]), double('m1', [3]), double('m2', [4, 5])]);
    expect(a).toEqual([2, 4]);
    expect(b).toEqual([6]);
    expect(c).toEqual([8, 10]);
    expect(calls).toEqual([
      { group: 'm1', items: [1, 2, 3] },
      { group: 'm2', items: [4, 5] },
    ]);
    // A later turn gets a call of its own.
    expect(await double('m1', [7])).toEqual([14]);
    expect(calls).toHaveLength(3);
  });

  it('when a merged call fails, runs each caller alone so only the caller with the bad row fails', async () => {
    const calls: number[][] = [];
    const run = coalesce(async (_g: string, items: number[]) => {
      calls.push([...items]);
      if (items.includes(13)) throw new Error('model failed on 13');
      return items;
    });
    const results = await Promise.allSettled([run('g', [1, 13]), run('g', [2]), run('g', [3])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(results[1]).toEqual({ status: 'fulfilled', value: [2] });
    expect(calls).toEqual([[1, 13, 2, 3], [1, 13], [2], [3]]);
  });

  it('rejects when the call returns a result count that does not match', async () => {
    const run = coalesce(async (_g: string, items: number[]) => items.slice(1));
    await expect(Promise.all([run('g', [1]), run('g', [2])])).rejects.toThrow(/returned 0 results for 1 items/);
  });
});
