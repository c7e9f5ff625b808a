/** Issue 13 part 2: a policy stated in money (costs, staffing) and a preview of what a change catches and costs. */
import { describe, expect, it } from 'vitest';
import { PolicyInputSchema, PolicySchema, POLICY_MONEY_DEFAULTS, type Policy } from '../../core/contracts.ts';
import { CURVE_POINTS, moneyPreview } from '../../review-ui/server/preview.ts';
import { moneyPreviewTable } from '../../review-ui/policy-commands.ts';
import type { ScoredSample } from '../../state/types.ts';
import { defaultPolicy } from '../../state/policy.ts';

const policy: Policy = defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.8 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } });
const HOUR = 3_600_000;
const s = (txId: string, amountMinor: number, scores: ScoredSample['scores'], over: Partial<ScoredSample> = {}): ScoredSample => ({
  txId, cardId: 'c', merchantId: 'm', mcc: '5411', country: 'FR', amountMinor, scores, rulesFired: [], action: 'ALLOW', ...over,
});

describe('policy schema: money and staffing', () => {
  it('a policy stored before issue 13 (no money, review with capacity only) parses with the defaults', () => {
    const { money: _m, ...old } = policy;
    const parsed = PolicySchema.parse({ ...old, review: { capacity: 12 } });
    expect(parsed.review).toEqual({ capacity: 12, ...POLICY_MONEY_DEFAULTS.review });
    expect(parsed.money).toEqual(POLICY_MONEY_DEFAULTS.money);
  });

  it('refuses a negative fee and zero analyst throughput, naming the field', () => {
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = policy;
    const fee = PolicyInputSchema.safeParse({ ...input, money: { ...input.money, chargebackFeeMinor: -1 } });
    expect(fee.success).toBe(false);
    expect(fee.error?.issues[0]?.path).toEqual(['money', 'chargebackFeeMinor']);
    const rate = PolicyInputSchema.safeParse({ ...input, review: { ...input.review, casesPerAnalystHour: 0 } });
    expect(rate.error?.issues[0]?.path).toEqual(['review', 'casesPerAnalystHour']);
  });
});

describe('moneyPreview', () => {
  // a: fraud, blocked by both. b: legitimate at 0.6, escalated today (no heavy score: counts as allowed), blocked
  // when blockAbove drops to 0.5. c: unlabelled at 0.1, allowed (expected fraud 10% of it). d: unlabelled at 0.7,
  // reviewed today (heavy 0.5), blocked when proposed.
  const samples = [
    s('a', 10_000, { xgboost: 0.95 }, { isFraud: true, ts: 0 }),
    s('b', 5_000, { xgboost: 0.6 }, { isFraud: false, ts: HOUR }),
    s('c', 2_000, { xgboost: 0.1 }, { ts: 2 * HOUR }),
    s('d', 1_000, { xgboost: 0.7, heavy: 0.5 }),
  ];
  const proposed: Policy = { ...policy, version: 2, thresholds: { ...policy.thresholds, detect: { ...policy.thresholds.detect, blockAbove: 0.5 } } };
  const m = moneyPreview(policy, proposed, samples);

  it('states both policies in money over the samples\' time span', () => {
    expect(m.spanHours).toBe(2);
    expect(m.current).toEqual({ transactions: 4, blocked: 1, reviewed: 1, fraudMoneyCaught: 10_700, fraudMoneyMissed: 200, legitMoneyBlocked: 0, reviewsPerHour: 0.5, labelled: 2 });
    expect(m.proposed).toMatchObject({ blocked: 3, reviewed: 0, fraudMoneyCaught: 10_700, legitMoneyBlocked: 5_300, reviewsPerHour: 0 });
    expect(m.proposed.legitMoneyBlocked).toBeCloseTo(5_300, 6);
    expect(m.delta.legitMoneyBlocked).toBeCloseTo(5_300, 6);
    expect(m.delta.reviewsPerHour).toBe(-0.5);
    expect(m.delta.blocked).toBe(2);
    expect(m.pFraudSource).toMatch(/xgboost.*uncalibrated/);
  });

  it('draws the curve at 20 block thresholds: the higher the threshold, the less blocked money', () => {
    expect(m.curve).toHaveLength(CURVE_POINTS);
    expect(m.curve[0]!.blockAbove).toBeCloseTo(0.05);
    expect(m.curve.at(-1)!.blockAbove).toBe(1);
    for (let i = 1; i < m.curve.length; i++) {
      expect(m.curve[i]!.figures.blocked).toBeLessThanOrEqual(m.curve[i - 1]!.figures.blocked);
      expect(m.curve[i]!.figures.legitMoneyBlocked).toBeLessThanOrEqual(m.curve[i - 1]!.figures.legitMoneyBlocked);
    }
    expect(m.curve[0]!.figures.blocked).toBeGreaterThan(m.curve.at(-1)!.figures.blocked);
    // At 0.5 the curve is the proposed policy itself.
    expect(m.curve[9]!.figures).toEqual(m.proposed);
  });

  it('gives no rate when fewer than two samples carry a time', () => {
    const r = moneyPreview(policy, proposed, [s('x', 100, { xgboost: 0.5, heavy: 0.5 })]);
    expect(r.spanHours).toBe(0);
    expect(r.current.reviewsPerHour).toBe(0);
    expect(r.current.reviewed).toBe(1);
  });

  it('prints a table with current, proposed and change per figure', () => {
    const t = moneyPreviewTable(m);
    expect(t).toMatch(/legitimate money blocked\s+0\s+5300\s+\+5300/);
    expect(t).toMatch(/reviews per hour\s+0\.5\s+0\.0\s+-0\.5/);
    expect(t).toContain('4 scored samples over 2.00 h');
  });
});
