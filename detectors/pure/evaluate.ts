/** Test-slice reports: one shape for every single model, one for the routed ensemble. */
import { averagePrecision, dailyCardPrecisionAtK, recallAtFpr, rocAuc, thresholdAtFpr } from './metrics.ts';
import type { ModelSpec } from '../../core/model-registry.ts';
import { ensembleScores, isBlocked, isCaught, isEscalated, memberScores, Outcome, type EnsembleBlend, type RoutedRows } from './routing.ts';

export interface ModelMetrics {
  rows: number;
  positives: number;
  rocAuc: number;
  auprc: number;
  recallAt1pctFpr: number;
  /** Per fraud scenario: share scoring above the 1%-FPR threshold (the novel scenario included). */
  perScenarioRecall: Record<string, number>;
  /** Share of all rows above the 1%-FPR threshold: what a reviewer would face if this model alone flagged. */
  flaggedShare: number;
  /** Daily card precision@k (k in cardPrecisionK): what a review team of k cards a day would catch (transactions only). */
  cardPrecisionAtK?: number;
  cardPrecisionK?: number;
  /** The same for a perfect ranking (the labels as scores): the ceiling, k cards a day when fewer are fraudulent. */
  cardPrecisionCeiling?: number;
}

/** Who and when each test row is, for daily card precision@k. */
export interface CardDays {
  cards: readonly string[];
  ts: ArrayLike<number>;
  k: number;
}

export interface EnsembleMetrics extends ModelMetrics {
  /** Share of fraud blocked or sent to review; per scenario in perScenarioRecall. */
  catchRate: number;
  escalateShare: number;
  reviewShare: number;
  blockShare: number;
  legitBlockedShare: number;
  /** Share of blocked rows that were fraud. */
  blockPrecision: number;
  outcomes: Record<'allowDetect' | 'allowEscalate' | 'review' | 'blockEscalate' | 'blockDetect', number>;
}

function scenarioRecall(hit: (i: number) => boolean, labels: ArrayLike<number>, scenarios: ReadonlyArray<string | null>): Record<string, number> {
  const total = new Map<string, number>();
  const caught = new Map<string, number>();
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    const s = scenarios[i] ?? 'unknown';
    total.set(s, (total.get(s) ?? 0) + 1);
    if (hit(i)) caught.set(s, (caught.get(s) ?? 0) + 1);
  }
  return Object.fromEntries([...total.keys()].sort().map((s) => [s, (caught.get(s) ?? 0) / (total.get(s) ?? 1)]));
}

export function modelMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>, scenarios: ReadonlyArray<string | null>, cardDays?: CardDays): ModelMetrics {
  const t = thresholdAtFpr(scores, labels, 0.01);
  let positives = 0;
  let flagged = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) positives++;
    if (scores[i] > t) flagged++;
  }
  return {
    rows: labels.length,
    positives,
    rocAuc: rocAuc(scores, labels),
    auprc: averagePrecision(scores, labels),
    recallAt1pctFpr: recallAtFpr(scores, labels, 0.01),
    perScenarioRecall: scenarioRecall((i) => scores[i] > t, labels, scenarios),
    flaggedShare: labels.length ? flagged / labels.length : 0,
    ...(cardDays
      ? {
          cardPrecisionAtK: dailyCardPrecisionAtK(scores, labels, cardDays.ts, cardDays.cards, cardDays.k),
          cardPrecisionK: cardDays.k,
          cardPrecisionCeiling: dailyCardPrecisionAtK(labels, labels, cardDays.ts, cardDays.cards, cardDays.k),
        }
      : {}),
  };
}

export function ensembleMetrics(
  outcomes: Uint8Array,
  rows: RoutedRows & { heavy?: ArrayLike<number> },
  labels: ArrayLike<number>,
  scenarios: ReadonlyArray<string | null>,
  models?: readonly ModelSpec[],
  cardDays?: CardDays,
  blend?: EnsembleBlend,
): EnsembleMetrics {
  const scores = ensembleScores(outcomes, rows, models, blend);
  const base = modelMetrics(scores, labels, scenarios, cardDays);
  const n = labels.length;
  let fraud = 0;
  let caught = 0;
  let esc = 0;
  let review = 0;
  let blocked = 0;
  let blockedFraud = 0;
  let legit = 0;
  let legitBlocked = 0;
  const counts = [0, 0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const o = outcomes[i];
    counts[o]++;
    if (labels[i]) {
      fraud++;
      if (isCaught(o)) caught++;
    } else {
      legit++;
      if (isBlocked(o)) legitBlocked++;
    }
    if (isEscalated(o)) esc++;
    if (o === Outcome.REVIEW) review++;
    if (isBlocked(o)) {
      blocked++;
      if (labels[i]) blockedFraud++;
    }
  }
  const share = (x: number) => (n ? x / n : 0);
  return {
    ...base,
    perScenarioRecall: scenarioRecall((i) => isCaught(outcomes[i]), labels, scenarios),
    flaggedShare: share(review + blocked),
    catchRate: fraud ? caught / fraud : NaN,
    escalateShare: share(esc),
    reviewShare: share(review),
    blockShare: share(blocked),
    legitBlockedShare: legit ? legitBlocked / legit : 0,
    blockPrecision: blocked ? blockedFraud / blocked : NaN,
    outcomes: {
      allowDetect: share(counts[Outcome.ALLOW_DETECT]),
      allowEscalate: share(counts[Outcome.ALLOW_ESCALATE]),
      review: share(counts[Outcome.REVIEW]),
      blockEscalate: share(counts[Outcome.BLOCK_ESCALATE]),
      blockDetect: share(counts[Outcome.BLOCK_DETECT]),
    },
  };
}

/** The blend the trainer chose on validation, and what it weighed. */
export interface EnsembleBlendChoice extends EnsembleBlend {
  /** Validation average precision of the routing alone, of the member alone, and of the chosen blend. */
  validation: { routedAveragePrecision: number; memberAveragePrecision: number; blendedAveragePrecision: number };
}

/** Blend weights tried, routing alone first (a tie keeps the smaller weight: more of the routing). */
export const BLEND_WEIGHTS: readonly number[] = Array.from({ length: 21 }, (_, i) => i / 20);

/**
 * Chooses on validation how much of its best member's score the routed ensemble's ranking takes in, so the
 * ensemble does not rank below that member (weight 1 is the member alone, always on the grid). The member is the
 * candidate with the best validation average precision. Undefined when validation lacks a class (nothing to rank).
 */
export function chooseEnsembleBlend(
  outcomes: Uint8Array,
  rows: RoutedRows & { heavy?: ArrayLike<number> },
  labels: ArrayLike<number>,
  candidates: readonly string[],
  models?: readonly ModelSpec[],
): EnsembleBlendChoice | undefined {
  let pos = 0;
  for (let i = 0; i < labels.length; i++) pos += labels[i] ? 1 : 0;
  if (pos === 0 || pos === labels.length) return undefined;
  let member = '';
  let memberAp = -Infinity;
  for (const id of candidates) {
    const m = memberScores(rows, id);
    if (!m) continue;
    const ap = averagePrecision(m, labels);
    if (ap > memberAp) [member, memberAp] = [id, ap];
  }
  const routedAp = averagePrecision(ensembleScores(outcomes, rows, models), labels);
  if (!member) return { member: '', weight: 0, validation: { routedAveragePrecision: routedAp, memberAveragePrecision: NaN, blendedAveragePrecision: routedAp } };
  let best = { weight: 0, ap: routedAp };
  for (const weight of BLEND_WEIGHTS.slice(1)) {
    const ap = averagePrecision(ensembleScores(outcomes, rows, models, { member, weight }), labels);
    if (ap > best.ap + 1e-12) best = { weight, ap };
  }
  return { member, weight: best.weight, validation: { routedAveragePrecision: routedAp, memberAveragePrecision: memberAp, blendedAveragePrecision: best.ap } };
}
