import { describe, expect, it } from 'vitest';
import { decideEscalation, decideFirstLine, evaluateRules, type FirstLineInput } from '../../router/pure/policy.ts';
import { defaultPolicy } from '../../state/policy.ts';
import type { Policy } from '../../core/contracts.ts';

const base: Policy = defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } });
const input = (over: Partial<FirstLineInput> = {}): FirstLineInput => ({
  scores: { xgboost: 0.05, isolationForest: 0.4 },
  amountMinor: 1_000,
  country: 'FR',
  mcc: '5411',
  cardId: 'c1',
  merchantId: 'm1',
  ...over,
});
const withPolicy = (p: Partial<Policy>): Policy => ({ ...base, ...p });

describe('first-line policy', () => {
  it('allows low scores and blocks high ones, naming the threshold', () => {
    expect(decideFirstLine(base, input()).action).toBe('ALLOW');
    const blocked = decideFirstLine(base, input({ scores: { xgboost: 0.95, isolationForest: 0.4 } }));
    expect(blocked.action).toBe('BLOCK');
    expect(blocked.rulesFired[0]).toMatchObject({ id: 'model.xgboost_block', threshold: 0.9, value: 0.95 });
  });

  it('escalates the ambiguous band and the anomalous', () => {
    expect(decideFirstLine(base, input({ scores: { xgboost: 0.5, isolationForest: 0.4 } })).action).toBe('ESCALATE');
    const anomalous = decideFirstLine(base, input({ scores: { xgboost: 0.05, isolationForest: 0.75 } }));
    expect(anomalous.action).toBe('ESCALATE');
    expect(anomalous.rulesFired.map((r) => r.id)).toContain('model.anomaly_escalate');
  });

  it('block lists beat allow lists, allow lists beat the models', () => {
    const both = withPolicy({ lists: { ...base.lists, blockCards: ['c1'], allowCards: ['c1'] } });
    expect(decideFirstLine(both, input()).action).toBe('BLOCK');
    const allow = withPolicy({ lists: { ...base.lists, allowMerchants: ['m1'] } });
    expect(decideFirstLine(allow, input({ scores: { xgboost: 0.99 } })).action).toBe('ALLOW');
  });

  it('rules: amount limits, countries and MCCs', () => {
    const p = withPolicy({ rules: { ...base.rules, blockAmountAbove: 5_000, escalateAmountAbove: 2_000, blockedCountries: ['KP'], escalateMccs: ['7995'] } });
    expect(decideFirstLine(p, input({ amountMinor: 6_000 })).action).toBe('BLOCK');
    expect(decideFirstLine(p, input({ amountMinor: 3_000 })).action).toBe('ESCALATE');
    expect(decideFirstLine(p, input({ country: 'KP' })).action).toBe('BLOCK');
    expect(decideFirstLine(p, input({ mcc: '7995' })).action).toBe('ESCALATE');
    expect(evaluateRules(p, input({ amountMinor: 3_000 })).map((h) => h.id)).toEqual(['rule.amount_escalate']);
  });

  it('without model scores (rules-only mode) allows what no rule catches', () => {
    const d = decideFirstLine(base, input({ scores: {} }));
    expect(d.action).toBe('ALLOW');
    expect(d.reason).toMatch(/rules-only/);
  });

});

describe('escalation policy', () => {
  it('settles what the heavy model is sure of and reviews the rest while there is room', () => {
    expect(decideEscalation(base, 0.9, 0).action).toBe('BLOCK');
    expect(decideEscalation(base, 0.1, 0).action).toBe('ALLOW');
    expect(decideEscalation(base, 0.5, 0).action).toBe('REVIEW');
  });

  it('a full review queue falls back to the heavy score around the middle of the band', () => {
    const p = withPolicy({ review: { ...base.review, capacity: 3 } });
    expect(decideEscalation(p, 0.6, 3)).toMatchObject({ action: 'BLOCK' });
    expect(decideEscalation(p, 0.5, 3)).toMatchObject({ action: 'ALLOW' });
    expect(decideEscalation(p, 0.5, 3).rulesFired[0]?.id).toBe('review.capacity_full');
  });
});

describe('reasons', () => {
  it('regression: thresholds chosen on validation print rounded, not as 17-digit floats', () => {
    const p = withPolicy({ thresholds: { ...base.thresholds, detect: { blockAbove: 0.9137, allowBelow: 0.015043781138956547, anomalyEscalateAbove: 0.7 } } });
    const d = decideFirstLine(p, input({ scores: { xgboost: 0.0001, isolationForest: 0.1 } }));
    expect(d.reason).toBe('XGBoost 1.00e-4 < 0.015');
  });
});
