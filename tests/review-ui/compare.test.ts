import { describe, expect, it } from 'vitest';
import { alignCurves, cardCurves, compareCards } from '../../review-ui/web/src/compare-data.ts';
import { ModelPromoteBodySchema } from '../../core/contracts.ts';
import { promotionInput, servedModels } from '../../review-ui/server/serving.ts';
import { defaultPolicy } from '../../state/policy.ts';
import { UserInputError } from '../../core/errors.ts';

const metrics = (auc: number, scen: Record<string, number>) => ({ rocAuc: auc, auprc: auc - 0.2, recallAt1pctFpr: auc - 0.3, perScenarioRecall: scen, flaggedShare: 0.01 });

describe('compareCards', () => {
  const a = { test: { xgboost: metrics(0.9, { card_testing: 0.8 }), ensemble: { ...metrics(0.91, { card_testing: 0.85 }), catchRate: 0.9, escalateShare: 0.05, reviewShare: 0.01, blockShare: 0.02, blockPrecision: 0.8, legitBlockedShare: 0.001 } } };
  const b = { test: { xgboost: metrics(0.95, { card_testing: 0.7, bust_out: 0.5 }), ensemble: { ...metrics(0.91, { card_testing: 0.85 }), catchRate: 0.9, escalateShare: 0.08, reviewShare: 0.01, blockShare: 0.03, blockPrecision: 0.8, legitBlockedShare: 0.001 } } };
  const rows = compareCards(a, b);
  const get = (label: string) => rows.find((r) => r.label === label);

  it('gives B - A with a direction-aware verdict', () => {
    expect(get('xgboost · ROC AUC')).toMatchObject({ a: 0.9, b: 0.95, verdict: 'better' });
    expect(get('xgboost · ROC AUC')?.delta).toBeCloseTo(0.05);
    expect(get('escalated')).toMatchObject({ a: 0.05, b: 0.08, verdict: 'worse', group: 'ensemble' });
    expect(get('blocked')).toMatchObject({ verdict: 'changed' });
    expect(get('to review')).toMatchObject({ verdict: 'same', delta: 0 });
    expect(get('card_testing · xgboost')).toMatchObject({ a: 0.8, b: 0.7, verdict: 'worse', group: 'scenarios' });
  });

  it('marks a metric only one card has as missing', () => {
    expect(get('bust_out · xgboost')).toMatchObject({ a: null, b: 0.5, delta: null, verdict: 'missing' });
    const oneSided = compareCards(a, { test: {} });
    expect(oneSided.find((r) => r.label === 'ensemble · AUPRC')).toMatchObject({ b: null, verdict: 'missing' });
  });

  it('returns nothing for cards without test metrics', () => {
    expect(compareCards(null, { foo: 1 })).toEqual([]);
  });
});

describe('cardCurves', () => {
  it('keeps valid points, drops malformed ones, and says null when there are none', () => {
    const c = cardCurves({ curves: { xgboost: { pr: [[0, 1], [0.5, 'x'], [0.5, 0.9], [2, 0.1], [1, 0.1]], roc: [[0, 0]] }, unknown: { pr: [[0, 1], [1, 0]] } } });
    expect(c).toEqual({ xgboost: { pr: [[0, 1], [0.5, 0.9], [1, 0.1]] } });
    expect(cardCurves({ test: {} })).toBeNull();
    expect(cardCurves({ curves: { heavy: { pr: 'nope' } } })).toBeNull();
  });
});

describe('alignCurves', () => {
  it('merges x values and puts each curve on its own rows, keeping equal-x order', () => {
    const [xs, y1, y2] = alignCurves([
      [[0, 1], [0.5, 0.8], [0.5, 0.6], [1, 0.2]],
      [[0.7, 0.5], [0.2, 0.9]],
    ]);
    expect(xs).toEqual([0, 0.2, 0.5, 0.5, 0.7, 1]);
    expect(y1).toEqual([1, null, 0.8, 0.6, null, 0.2]);
    expect(y2).toEqual([null, 0.9, null, null, 0.5, null]);
  });
});

describe('promotion', () => {
  const current = { ...defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } }, 'v1'), version: 7 };

  it('changes only the model version unless asked for the card thresholds', () => {
    const input = promotionInput(current, 'v2');
    expect(input.modelVersion).toBe('v2');
    expect(input.thresholds).toEqual(current.thresholds);
    expect(input.rules).toEqual(current.rules);
    expect(input).not.toHaveProperty('version');
    const t = { detect: { blockAbove: 0.8, allowBelow: 0.2, anomalyEscalateAbove: 0.7 }, escalate: { blockAbove: 0.75, allowBelow: 0.25 } };
    expect(promotionInput(current, 'v2', t).thresholds).toEqual(t);
  });

  it('refuses card thresholds that do not make a policy, naming the field', () => {
    expect(() => promotionInput(current, 'v2', null)).toThrow(UserInputError);
    expect(() => promotionInput(current, 'v2', { detect: { blockAbove: 2 } })).toThrow(/thresholds/);
  });

  it('validates the request body', () => {
    expect(ModelPromoteBodySchema.parse({ version: 'v2' })).toEqual({ version: 'v2', useCardThresholds: false });
    expect(ModelPromoteBodySchema.safeParse({ version: '../etc' }).success).toBe(false);
    expect(ModelPromoteBodySchema.safeParse({ version: 'v2', extra: 1 }).success).toBe(false);
  });
});

describe('servedModels', () => {
  it('counts model versions on stage decisions, newest first, ignoring human review decisions', () => {
    const d = (model: string, stage: 'detect' | 'escalate' | 'review', decidedAt: number) => ({ stage, decidedAt, versions: { model, policy: 1 } });
    const s = servedModels([d('v1', 'detect', 10), d('v1', 'escalate', 20), d('v2', 'detect', 30), d('v2', 'detect', 25), d('v1', 'review', 99)]);
    expect(s).toMatchObject({ considered: 4, latest: 'v2', latestAt: 30 });
    expect(s.versions.map((v) => [v.model, v.decisions, v.byStage])).toEqual([
      ['v2', 2, { detect: 2 }],
      ['v1', 2, { detect: 1, escalate: 1 }],
    ]);
    expect(servedModels([])).toEqual({ considered: 0, latest: null, latestAt: null, versions: [] });
  });
});
