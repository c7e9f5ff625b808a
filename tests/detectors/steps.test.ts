import { describe, expect, it } from 'vitest';
import { stepReport } from '../../detectors/trainer.ts';
import { Outcome } from '../../detectors/pure/routing.ts';
import { modelMetrics, ensembleMetrics } from '../../detectors/pure/evaluate.ts';
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
