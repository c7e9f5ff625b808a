import { describe, expect, it } from 'vitest';
import { queueScore } from '../../state/review.ts';

describe('queueScore', () => {
  const t0 = Date.UTC(2025, 0, 1);

  it('puts higher risk first regardless of age', () => {
    expect(queueScore(0.9, t0 + 1_000_000)).toBeLessThan(queueScore(0.8, t0));
  });

  it('puts the older case first at equal risk', () => {
    expect(queueScore(0.7, t0)).toBeLessThan(queueScore(0.7, t0 + 1));
  });

  it('stays an exact integer at the extremes', () => {
    for (const [r, t] of [[0, t0], [1, t0], [0.5555, Date.UTC(2038, 11, 31)]] as const) {
      const s = queueScore(r, t);
      expect(Number.isSafeInteger(s)).toBe(true);
    }
    expect(queueScore(-1, t0)).toBe(queueScore(0, t0));
    expect(queueScore(2, t0)).toBe(queueScore(1, t0));
  });
});
