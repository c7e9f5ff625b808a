/**
 * The routed ensemble: the routing order of the models (shared with router/pure/policy.ts, detect then escalate),
 * applied offline to scored rows, and the choice of thresholds on the validation slice to meet targets.
 */
import type { ModelThresholds } from '../types.ts';

export const Outcome = { ALLOW_DETECT: 0, ALLOW_ESCALATE: 1, REVIEW: 2, BLOCK_ESCALATE: 3, BLOCK_DETECT: 4 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export interface RoutedRows {
  xgboost: ArrayLike<number>;
  isolationForest: ArrayLike<number>;
  /** The escalate stage's score (the heavy model's) for every row. */
  second: ArrayLike<number>;
}

/**
 * The routing order, once, for the live policy (router/pure/policy.ts, which puts its rules and lists around it)
 * and for the trainer's threshold search. First line: XGBoost blocks first, then the isolation forest escalates
 * the unusual, then XGBoost's ambiguous band escalates; the rest is allowed.
 */
export const FirstLineBand = { ALLOW: 0, AMBIGUOUS: 1, ANOMALY: 2, BLOCK: 3 } as const;
export type FirstLineBand = (typeof FirstLineBand)[keyof typeof FirstLineBand];

export function firstLineBand(t: ModelThresholds['detect'], xgb: number | undefined, iforest: number | undefined): FirstLineBand {
  if (xgb !== undefined && xgb >= t.blockAbove) return FirstLineBand.BLOCK;
  if (iforest !== undefined && iforest >= t.anomalyEscalateAbove) return FirstLineBand.ANOMALY;
  if (xgb !== undefined && xgb >= t.allowBelow) return FirstLineBand.AMBIGUOUS;
  return FirstLineBand.ALLOW;
}

/** Second line: block at or above blockAbove, allow below allowBelow, the band between is for a person. */
export const SecondLineBand = { ALLOW: 0, AMBIGUOUS: 1, BLOCK: 2 } as const;
export type SecondLineBand = (typeof SecondLineBand)[keyof typeof SecondLineBand];

export function secondLineBand(t: ModelThresholds['escalate'], score: number): SecondLineBand {
  if (score >= t.blockAbove) return SecondLineBand.BLOCK;
  if (score < t.allowBelow) return SecondLineBand.ALLOW;
  return SecondLineBand.AMBIGUOUS;
}

export function route(t: ModelThresholds, xgb: number, iforest: number, second: number): Outcome {
  const first = firstLineBand(t.detect, xgb, iforest);
  if (first === FirstLineBand.BLOCK) return Outcome.BLOCK_DETECT;
  if (first === FirstLineBand.ALLOW) return Outcome.ALLOW_DETECT;
  const band = secondLineBand(t.escalate, second);
  return band === SecondLineBand.BLOCK ? Outcome.BLOCK_ESCALATE : band === SecondLineBand.ALLOW ? Outcome.ALLOW_ESCALATE : Outcome.REVIEW;
}

export function routeAll(t: ModelThresholds, rows: RoutedRows): Uint8Array {
  const out = new Uint8Array(rows.xgboost.length);
  for (let i = 0; i < out.length; i++) out[i] = route(t, rows.xgboost[i], rows.isolationForest[i], rows.second[i]);
  return out;
}

/**
 * One number per routed row for ROC/PR curves: the outcome band (allowed at detect < allowed at escalate <
 * review < blocked at escalate < blocked at detect), then the deciding model's score within the band.
 */
export function ensembleScores(outcomes: Uint8Array, rows: RoutedRows): Float64Array {
  const s = new Float64Array(outcomes.length);
  for (let i = 0; i < s.length; i++) {
    const o = outcomes[i];
    const within = o === Outcome.ALLOW_DETECT || o === Outcome.BLOCK_DETECT ? rows.xgboost[i] : rows.second[i];
    s[i] = (o + Math.min(Math.max(within, 0), 1)) / 5;
  }
  return s;
}

export const isCaught = (o: number) => o === Outcome.REVIEW || o === Outcome.BLOCK_ESCALATE || o === Outcome.BLOCK_DETECT;
export const isEscalated = (o: number) => o === Outcome.ALLOW_ESCALATE || o === Outcome.REVIEW || o === Outcome.BLOCK_ESCALATE;
export const isBlocked = (o: number) => o === Outcome.BLOCK_ESCALATE || o === Outcome.BLOCK_DETECT;

export interface RoutingTargets {
  /** Share of fraud blocked or sent to review. */
  catchRate: number;
  /** At most this share of all transactions goes to the escalate stage. */
  maxEscalateShare: number;
  /** At most this share of all transactions goes to human review. */
  maxReviewShare: number;
  /** At most this share of legitimate transactions is blocked (per stage). */
  maxBlockFpr: number;
  /** Part of the escalation budget reserved for the isolation forest alone. */
  anomalyShareOfEscalations: number;
}

export const DEFAULT_TARGETS: RoutingTargets = {
  catchRate: 0.95,
  maxEscalateShare: 0.03,
  maxReviewShare: 0.005,
  maxBlockFpr: 0.001,
  anomalyShareOfEscalations: 0.3,
};

export interface ThresholdChoice {
  thresholds: ModelThresholds;
  /** What the chosen thresholds do on the validation slice. */
  validation: { catchRate: number; escalateShare: number; reviewShare: number; legitBlockedShare: number };
  met: { catchRate: boolean; maxEscalateShare: boolean; maxReviewShare: boolean };
}

/** Smallest t such that at most `maxCount` of `values` are >= t (values need not be sorted). */
export function thresholdKeepingAtMost(values: ArrayLike<number>, maxCount: number): number {
  const s = Float64Array.from(values).sort().reverse();
  if (maxCount >= s.length) return s.length ? s[s.length - 1] : 0;
  const v = s[Math.max(0, Math.floor(maxCount))];
  return Math.min(1, nextUp(v));
}

function nextUp(v: number): number {
  return v + Math.max(Math.abs(v) * 1e-9, 1e-12);
}

/**
 * Picks thresholds on validation rows. Detect: block where at most maxBlockFpr of legitimate traffic scores;
 * the isolation forest gets a fixed slice of the escalation budget, XGBoost's ambiguous band the rest.
 * Escalate: block at the same legitimate-traffic budget; allowBelow is the highest value that reaches the catch
 * target within the review budget (people are the expensive part), or else the lowest the budget allows.
 */
export function chooseThresholds(rows: RoutedRows, labels: ArrayLike<number>, targets: RoutingTargets = DEFAULT_TARGETS): ThresholdChoice {
  const n = labels.length;
  const legit: number[] = [];
  const fraud: number[] = [];
  for (let i = 0; i < n; i++) (labels[i] ? fraud : legit).push(i);
  const pick = (arr: ArrayLike<number>, idx: number[]) => idx.map((i) => arr[i]);

  const detectBlock = thresholdKeepingAtMost(pick(rows.xgboost, legit), targets.maxBlockFpr * legit.length);
  const anomaly = thresholdKeepingAtMost(pick(rows.isolationForest, legit), targets.anomalyShareOfEscalations * targets.maxEscalateShare * legit.length);

  const base: ModelThresholds = {
    detect: { blockAbove: detectBlock, allowBelow: detectBlock, anomalyEscalateAbove: anomaly },
    escalate: { blockAbove: 1, allowBelow: 0 },
  };

  // allowBelow: the lowest value the escalation budget allows. Escalating costs compute, not people, and
  // every fraud allowed here is lost for good, so detect hands the escalate stage all the budget it may.
  const candidates = uniqueDesc(Array.from(rows.xgboost).filter((v) => v < detectBlock));
  let allowBelow = detectBlock;
  for (const a of candidates) {
    let escalated = 0;
    for (let i = 0; i < n; i++) {
      const x = rows.xgboost[i];
      if (x < detectBlock && (x >= a || rows.isolationForest[i] >= anomaly)) escalated++;
    }
    if (escalated / n > targets.maxEscalateShare) break;
    allowBelow = a;
  }
  base.detect.allowBelow = allowBelow;

  // Escalate stage on the rows detect escalates.
  const escalatedIdx: number[] = [];
  let detectBlockedFraud = 0;
  for (let i = 0; i < n; i++) {
    const x = rows.xgboost[i];
    if (x >= detectBlock) {
      if (labels[i]) detectBlockedFraud++;
    } else if (x >= allowBelow || rows.isolationForest[i] >= anomaly) escalatedIdx.push(i);
  }
  const escLegit = escalatedIdx.filter((i) => !labels[i]);
  const escBlock = escalatedIdx.length ? thresholdKeepingAtMost(pick(rows.second, escLegit), targets.maxBlockFpr * legit.length) : 1;
  let escAllow = escBlock;
  const candidates2 = uniqueDesc(escalatedIdx.map((i) => rows.second[i]).filter((v) => v < escBlock));
  for (const a of candidates2) {
    let review = 0;
    let caught = detectBlockedFraud;
    for (const i of escalatedIdx) {
      const s = rows.second[i];
      if (s >= escBlock) {
        if (labels[i]) caught++;
      } else if (s >= a) {
        review++;
        if (labels[i]) caught++;
      }
    }
    if (review / n > targets.maxReviewShare) break;
    escAllow = a;
    if (fraud.length > 0 && caught / fraud.length >= targets.catchRate) break;
  }
  base.escalate = { blockAbove: escBlock, allowBelow: Math.min(escAllow, escBlock) };

  const outcomes = routeAll(base, rows);
  let caught = 0;
  let esc = 0;
  let review = 0;
  let legitBlocked = 0;
  for (let i = 0; i < n; i++) {
    const o = outcomes[i];
    if (labels[i] && isCaught(o)) caught++;
    if (isEscalated(o)) esc++;
    if (o === Outcome.REVIEW) review++;
    if (!labels[i] && isBlocked(o)) legitBlocked++;
  }
  const validation = {
    catchRate: fraud.length ? caught / fraud.length : NaN,
    escalateShare: esc / n,
    reviewShare: review / n,
    legitBlockedShare: legit.length ? legitBlocked / legit.length : 0,
  };
  return {
    thresholds: base,
    validation,
    met: {
      catchRate: validation.catchRate >= targets.catchRate,
      maxEscalateShare: validation.escalateShare <= targets.maxEscalateShare + 1e-12,
      maxReviewShare: validation.reviewShare <= targets.maxReviewShare + 1e-12,
    },
  };
}

/** Distinct values, highest first, thinned to at most `max` evenly spaced candidates. */
function uniqueDesc(values: number[], max = 400): number[] {
  const u = [...new Set(values)].sort((a, b) => b - a);
  if (u.length <= max) return u;
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(u[Math.floor((k * (u.length - 1)) / (max - 1))]);
  return out;
}
