import { describe, expect, it } from 'vitest';
import { stepReport } from '../../detectors/trainer.ts';
import { Outcome } from '../../detectors/pure/routing.ts';
import { chooseEnsembleBlend, modelMetrics, ensembleMetrics } from '../../detectors/pure/evaluate.ts';
import { MODELS } from '../../core/model-registry.ts';
import type { ModelCard } from '../../detectors/model-card.ts';

/** 40 rows: 20 allowed at detect (legit), 20 escalated (half fraud). */
function slice(heavyGood: boolean) {
  const labels = Array.from({ length: 40 }, (_, i) => (i >= 20 && i % 2 === 0 ? 1 : 0));
  const xgboost = Float64Array.from(labels, (_, i) => (i < 20 ? 0.01 : 0.5 + (i % 3) * 0.01));
  const isolationForest = Float64Array.from(labels, () => 0.4);
  const heavy = Float64Array.from(labels, (y, i) => (i < 20 ? 0 : heavyGood ? (y ? 0.9 : 0.1) : y ? 0.1 : 0.9));
  const outcomes = Uint8Array.from(labels, (_, i) => (i < 20 ? Outcome.ALLOW_DETECT : Outcome.REVIEW));
  const rows = { xgboost, isolationForest, second: heavy, heavy };
  const sc = labels.map(() => null);
  const metrics = {
    xgboost: modelMetrics(xgboost, labels, sc),
    isolationForest: modelMetrics(isolationForest, labels, sc),
    heavy: modelMetrics(heavy, labels, sc),
    ensemble: ensembleMetrics(outcomes, rows, labels, sc),
  } as unknown as ModelCard['test'];
  return stepReport(labels, rows, outcomes, metrics, ['isolationForest', 'xgboost'], MODELS);
}

describe('what each step adds, on the model card', () => {
  it('says the heavy model earns its place when it ranks the escalated rows better than the band model', () => {
    const r = slice(true);
    expect(r.escalated).toMatchObject({ rows: 20, positives: 10, heavyBeatsBand: true });
    expect(r.escalated.heavyAveragePrecision).toBe(1);
    expect(r.lines[1]).toMatch(/heavy model earns its place/);
  });

  it('says so when it does not, and when the routed ensemble falls below its best member', () => {
    const r = slice(false);
    expect(r.escalated.heavyBeatsBand).toBe(false);
    expect(r.lines[1]).toMatch(/does not beat xgboost here: let the policy route around it/);
    expect(r.ensemble.bestMember).toBe('xgboost');
    expect(r.ensemble.belowBestMember).toBe(r.ensemble.averagePrecision < r.ensemble.bestMemberAveragePrecision);
  });
});

describe('the ensemble blend chosen on validation', () => {
  // 40 rows, fraud every 4th; the routing's outcomes put fraud low, XGBoost ranks perfectly.
  const labels = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? 1 : 0));
  const xgboost = Float64Array.from(labels, (y, i) => (y ? 0.8 + i / 1000 : 0.2 + i / 1000));
  const isolationForest = Float64Array.from(labels, (_, i) => (i % 7) / 7);

  it('takes in the best member when the routing ranks worse, so the ensemble is not below it on validation', () => {
    const outcomes = Uint8Array.from(labels, (y) => (y ? Outcome.ALLOW_DETECT : Outcome.REVIEW));
    const rows = { xgboost, isolationForest, second: isolationForest };
    const b = chooseEnsembleBlend(outcomes, rows, labels, ['isolationForest', 'xgboost'])!;
    expect(b.member).toBe('xgboost');
    expect(b.weight).toBeGreaterThan(0);
    expect(b.validation.routedAveragePrecision).toBeLessThan(b.validation.memberAveragePrecision);
    expect(b.validation.blendedAveragePrecision).toBeGreaterThanOrEqual(b.validation.memberAveragePrecision);
    // The metrics use the blend: the ensemble's AP on these rows is the blended one.
    expect(ensembleMetrics(outcomes, rows, labels, labels.map(() => null), MODELS, undefined, b).auprc).toBeCloseTo(b.validation.blendedAveragePrecision, 12);
  });

  it('keeps the routing alone when it already ranks best', () => {
    const outcomes = Uint8Array.from(labels, (y) => (y ? Outcome.BLOCK_DETECT : Outcome.ALLOW_DETECT));
    const rows = { xgboost: isolationForest, isolationForest, second: isolationForest };
    const b = chooseEnsembleBlend(outcomes, rows, labels, ['isolationForest', 'xgboost'])!;
    expect(b.weight).toBe(0);
    expect(b.validation.blendedAveragePrecision).toBe(1);
  });

  it('chooses nothing when validation has one class', () => {
    const outcomes = new Uint8Array(10);
    const zeros = new Float64Array(10);
    expect(chooseEnsembleBlend(outcomes, { xgboost: zeros, isolationForest: zeros, second: zeros }, Array(10).fill(0), ['xgboost'])).toBeUndefined();
  });
});
