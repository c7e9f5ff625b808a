import { describe, expect, it } from 'vitest';
import { queueLoss, queueScore } from '../../state/review.ts';
import { openCase } from './review-queue-fixtures.ts';

describe('queueScore', () => {
  const t0 = Date.UTC(2025, 0, 1);

  it('puts the higher expected loss first regardless of age', () => {
    expect(queueScore(5_000, t0 + 1_000_000)).toBeLessThan(queueScore(4_000, t0));
    expect(queueScore(1, t0 + 1_000_000)).toBeLessThan(queueScore(0, t0));
  });

  it('puts the older case first at equal expected loss (and within 1% of it: one bucket)', () => {
    expect(queueScore(700, t0)).toBeLessThan(queueScore(700, t0 + 1));
    expect(queueScore(1_510, t0)).toBeLessThan(queueScore(1_520, t0 + 1));
  });

  it('stays an exact integer at the extremes', () => {
    for (const [l, t] of [[0, t0], [1e15, t0], [123_456.7, Date.UTC(2038, 11, 31)]] as const) {
      expect(Number.isSafeInteger(queueScore(l, t))).toBe(true);
    }
    expect(queueScore(-1, t0)).toBe(queueScore(0, t0));
    expect(queueScore(2 ** 41, t0)).toBe(queueScore(2 ** 45, t0));
  });

  it('orders a case opened before expected loss was recorded by p x amount', () => {
    const c = openCase('k', 0.6, t0);
    expect(queueLoss(c)).toBeCloseTo(0.6 * c.tx.amountMinor);
    expect(queueLoss({ ...c, expectedLoss: 12 })).toBe(12);
  });
});
