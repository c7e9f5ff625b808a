import { describe, expect, it } from 'vitest';
import { expectedLoss, moneyDelta, moneyFigures, reviewCutoff, slaStatus } from '../../router/pure/money.ts';

const costs = { chargebackFeeMinor: 1_500, falseBlockCostMinor: 2_000 };

describe('policy in money', () => {
  it('weighs the expected loss of allowing against the friction of blocking', () => {
    const small = expectedLoss(0.1, 5_000, costs); // 0.1 x 6,500 = 650 vs 0.9 x 2,000 = 1,800
    expect(small.ifAllowed).toBeCloseTo(650);
    expect(small.ifBlocked).toBeCloseTo(1_800);
    expect(small.cheaper).toBe('ALLOW');
    const large = expectedLoss(0.1, 50_000, costs); // same p, ten times the amount: 5,150 vs 1,800
    expect(large.cheaper).toBe('BLOCK');
    expect(large.stake).toBeCloseTo(1_800);
  });

  it('sets the review cutoff so the cases above it fit the analysts hours', () => {
    const stakes = Array.from({ length: 100 }, (_, i) => i + 1); // 100 ambiguous cases in 2 hours
    const cap = { analysts: 2, casesPerAnalystHour: 10, slaMinutes: 60 }; // 20/h -> 40 fit
    expect(reviewCutoff(stakes, 2, cap)).toBe(61); // the 40 largest: 100..61
    expect(reviewCutoff(stakes.slice(0, 30), 2, cap)).toBe(0);
    expect(reviewCutoff(stakes, 2, { ...cap, analysts: 0 })).toBe(Number.POSITIVE_INFINITY);
    expect(() => reviewCutoff(stakes, 0, cap)).toThrow(/spanHours/);
  });

  it('reports the queue age against the SLA', () => {
    const cap = { analysts: 1, casesPerAnalystHour: 10, slaMinutes: 30 };
    expect(slaStatus(0, 45 * 60_000, cap)).toEqual({ ageMinutes: 45, slaMinutes: 30, breached: true });
    expect(slaStatus(undefined, 45 * 60_000, cap).breached).toBe(false);
  });

  it('counts money caught, missed and wrongly blocked, with labels where known and p where not', () => {
    const rows = [
      { amountMinor: 10_000, pFraud: 0.9, isFraud: true },
      { amountMinor: 4_000, pFraud: 0.8, isFraud: false },
      { amountMinor: 2_000, pFraud: 0.5 },
      { amountMinor: 7_000, pFraud: 0.2, isFraud: true },
    ];
    const current = moneyFigures(rows, ['BLOCK', 'ALLOW', 'REVIEW', 'ALLOW'], 2);
    expect(current).toMatchObject({ blocked: 1, reviewed: 1, fraudMoneyCaught: 11_000, fraudMoneyMissed: 7_000, legitMoneyBlocked: 0, reviewsPerHour: 0.5, labelled: 3 });
    const proposed = moneyFigures(rows, ['BLOCK', 'BLOCK', 'BLOCK', 'ALLOW'], 2);
    expect(proposed).toMatchObject({ blocked: 3, fraudMoneyCaught: 11_000, legitMoneyBlocked: 5_000 });
    const d = moneyDelta(current, proposed);
    expect(d.legitMoneyBlocked).toBe(5_000);
    expect(d.reviewed).toBe(-1);
    expect(d.blocked).toBe(2);
  });
});
