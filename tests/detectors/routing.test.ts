import { describe, expect, it } from 'vitest';
import type { ModelThresholds } from '../../core/model-registry.ts';
import { chooseThresholds, Outcome, route, routeAll, type RoutingTargets } from '../../detectors/pure/routing.ts';
import { ensembleMetrics } from '../../detectors/pure/evaluate.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';

const T: ModelThresholds = {
  detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 },
  escalate: { blockAbove: 0.8, allowBelow: 0.3 },
};

describe('routing (same order as the router policy)', () => {
  it('blocks on XGBoost first, escalates on anomaly or ambiguity, then lets the escalate score decide', () => {
    expect(route(T, { xgboost: 0.95, isolationForest: 0.99 }, 0)).toBe(Outcome.BLOCK_DETECT);
    expect(route(T, { xgboost: 0.1, isolationForest: 0.5 }, 0.99)).toBe(Outcome.ALLOW_DETECT);
    expect(route(T, { xgboost: 0.1, isolationForest: 0.75 }, 0.85)).toBe(Outcome.BLOCK_ESCALATE);
    expect(route(T, { xgboost: 0.5, isolationForest: 0.1 }, 0.1)).toBe(Outcome.ALLOW_ESCALATE);
    expect(route(T, { xgboost: 0.5, isolationForest: 0.1 }, 0.5)).toBe(Outcome.REVIEW);
    expect(route(T, { xgboost: 0.2, isolationForest: 0.1 }, 0.3)).toBe(Outcome.REVIEW); // allowBelow is exclusive, blockAbove inclusive
  });
});

/** Scores from a noisy model: fraud high, legit low, overlapping. */
function synthetic(n: number, fraudRate: number, seed: number) {
  const rand = mulberry32(seed);
  const labels: number[] = [];
  const xgboost: number[] = [];
  const isolationForest: number[] = [];
  const second: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rand() < fraudRate ? 1 : 0;
    labels.push(y);
    const clamp = (v: number) => Math.min(1, Math.max(0, v));
    xgboost.push(clamp(y ? 0.55 + 0.45 * (rand() - 0.3) : 0.08 * rand() ** 3 + (rand() < 0.02 ? 0.5 * rand() : 0)));
    isolationForest.push(clamp(0.4 + 0.2 * rand() + (y ? 0.15 : 0)));
    second.push(clamp(xgboost[i] + 0.2 * (rand() - 0.5)));
  }
  return { labels, rows: { xgboost, isolationForest, second } };
}

describe('threshold choice on validation', () => {
  const targets: RoutingTargets = { catchRate: 0.95, maxEscalateShare: 0.05, maxReviewShare: 0.01, maxBlockFpr: 0.001, anomalyShareOfEscalations: 0.3 };

  it('respects the escalation, review and legitimate-block budgets and reports what it reached', () => {
    const { labels, rows } = synthetic(20_000, 0.02, 1);
    const choice = chooseThresholds(rows, labels, targets);
    const t = choice.thresholds;
    expect(t.detect.allowBelow).toBeLessThanOrEqual(t.detect.blockAbove);
    expect(t.escalate.allowBelow).toBeLessThanOrEqual(t.escalate.blockAbove);
    const outcomes = routeAll(t, rows);
    const m = ensembleMetrics(outcomes, rows, labels, labels.map((y) => (y ? 'x' : null)));
    expect(m.escalateShare).toBeLessThanOrEqual(targets.maxEscalateShare);
    expect(m.reviewShare).toBeLessThanOrEqual(targets.maxReviewShare);
    expect(m.legitBlockedShare).toBeLessThanOrEqual(2 * targets.maxBlockFpr + 1e-9); // two stages, each within budget
    expect(choice.validation.escalateShare).toBeCloseTo(m.escalateShare, 12);
    expect(choice.validation.catchRate).toBeCloseTo(m.catchRate, 12);
    expect(choice.met.maxEscalateShare && choice.met.maxReviewShare).toBe(true);
    // the escalation budget is used, not wasted
    expect(m.escalateShare).toBeGreaterThan(targets.maxEscalateShare * 0.8);
    expect(m.catchRate).toBeGreaterThan(0.8);
  });

  it('says so when the catch target cannot be met within the budgets', () => {
    const { labels, rows } = synthetic(20_000, 0.02, 2);
    const choice = chooseThresholds(rows, labels, { ...targets, catchRate: 1, maxEscalateShare: 0.005, maxReviewShare: 0.0005 });
    expect(choice.met.catchRate).toBe(false);
    expect(choice.validation.escalateShare).toBeLessThanOrEqual(0.005);
    expect(choice.validation.reviewShare).toBeLessThanOrEqual(0.0005);
  });
});
