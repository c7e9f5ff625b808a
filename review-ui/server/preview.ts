import { bandScore } from '../../router/pure/band-score.ts';
import type { Policy } from '../../core/contracts.ts';
import { decideEscalation, decideFirstLine, type FirstLineInput } from '../../router/pure/policy.ts';
import { moneyDelta, moneyFigures, type MoneyFigures, type MoneyRow } from '../../router/pure/money.ts';
import type { ScoredSample } from '../../state/types.ts';
import type { FraudProbability } from '../../detectors/types.ts';
import type { ModelCard } from '../../detectors/model-card.ts';
import { fraudProbabilityOf } from '../../detectors/calibrated.ts';
import { findModel, listModels } from './models.ts';

export type PreviewAction = 'ALLOW' | 'BLOCK' | 'ESCALATE' | 'REVIEW';
type Counts = Record<PreviewAction, number>;

export interface PreviewResult {
  samples: number;
  /** What was actually decided when the samples were scored. */
  recorded: Counts;
  current: Counts;
  proposed: Counts;
  delta: Counts;
  changed: number;
  examples: Array<{ txId: string; cardId: string; amountMinor: number; from: PreviewAction; to: PreviewAction; reason: string }>;
  /** The same comparison in money (moneyPreview). */
  money: MoneyPreview;
}

const zero = (): Counts => ({ ALLOW: 0, BLOCK: 0, ESCALATE: 0, REVIEW: 0 });

/**
 * First line through decideFirstLine; an escalation is followed through decideEscalation when the sample
 * carries a heavy score (else it stays ESCALATE: the heavy model would decide). Review capacity is taken
 * as free, so REVIEW counts are what would be sent to humans, not what the queue could take.
 */
export function outcome(policy: Policy, s: ScoredSample): { action: PreviewAction; reason: string } {
  const input: FirstLineInput = { scores: s.scores, amountMinor: s.amountMinor, country: s.country, mcc: s.mcc, cardId: s.cardId, merchantId: s.merchantId };
  const first = decideFirstLine(policy, input);
  if (first.action !== 'ESCALATE' || s.scores.heavy === undefined) return first;
  return decideEscalation(policy, s.scores.heavy, 0);
}

export function previewPolicy(current: Policy, proposed: Policy, samples: readonly ScoredSample[], served?: ServedProbability): PreviewResult {
  const r: PreviewResult = { samples: samples.length, recorded: zero(), current: zero(), proposed: zero(), delta: zero(), changed: 0, examples: [], money: moneyPreview(current, proposed, samples, served) };
  for (const s of samples) {
    r.recorded[s.action] += 1;
    const a = outcome(current, s);
    const b = outcome(proposed, s);
    r.current[a.action] += 1;
    r.proposed[b.action] += 1;
    if (a.action !== b.action) {
      r.changed += 1;
      if (r.examples.length < 25) r.examples.push({ txId: s.txId, cardId: s.cardId, amountMinor: s.amountMinor, from: a.action, to: b.action, reason: b.reason });
    }
  }
  for (const k of Object.keys(r.delta) as PreviewAction[]) r.delta[k] = r.proposed[k] - r.current[k];
  return r;
}

/**
 * Where each sample's p(fraud) comes from when no model version can be found: the band model's score (XGBoost) stands in for a
 * probability; the page and the CLI say so, since a raw score over- or under-states the money.
 */
export const P_FRAUD_SOURCE = 'xgboost score, uncalibrated (no model version found to calibrate it)';

/** The served version's p(fraud) (detectors/calibrated.ts) and its name. */
export interface ServedProbability {
  version: string;
  probability: FraudProbability;
}

/**
 * The p(fraud) the stages serve: the current policy's model version, else the newest under MODEL_DIR (what the
 * stages load by default). Read from its model card only, so the console loads no model. Undefined: none found.
 */
export async function servedProbability(modelDir: string, policy: Policy): Promise<ServedProbability | undefined> {
  const m = policy.modelVersion ? await findModel(modelDir, policy.modelVersion).catch(() => undefined) : (await listModels(modelDir)).find((v) => v.card !== null);
  if (!m?.card) return undefined;
  return { version: m.version, probability: fraudProbabilityOf(m.card as Pick<ModelCard, 'calibration'>, m.version, { warn: false }) };
}

/** Block thresholds the curve is drawn at: 0.05, 0.10, ... 1.00. */
export const CURVE_POINTS = 20;

export interface MoneyPreview {
  samples: number;
  /** Hours between the oldest and newest sample's transaction time; 0 when fewer than two carry a time. */
  spanHours: number;
  pFraudSource: string;
  /** True when p(fraud) is the served version's calibrated score. */
  pFraudCalibrated: boolean;
  current: MoneyFigures;
  proposed: MoneyFigures;
  /** proposed minus current, figure by figure. */
  delta: MoneyFigures;
  /** The proposed policy with only detect.blockAbove moved (allowBelow lowered to it where it would cross). */
  curve: Array<{ blockAbove: number; figures: MoneyFigures }>;
}

const rawP = (score: number): number => Math.min(1, Math.max(0, score));

function spanHoursOf(samples: readonly ScoredSample[]): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of samples) {
    if (s.ts === undefined) continue;
    lo = Math.min(lo, s.ts);
    hi = Math.max(hi, s.ts);
  }
  return hi > lo ? (hi - lo) / 3_600_000 : 0;
}

/** The money a policy catches and costs on the samples: fraud caught, legitimate money blocked, reviews per hour. */
export function moneyPreview(current: Policy, proposed: Policy, samples: readonly ScoredSample[], served?: ServedProbability): MoneyPreview {
  const toP = served ? (x: number) => served.probability.fromBandScore(x) : rawP;
  const rows: MoneyRow[] = samples.map((s) => {
    const band = bandScore(s.scores);
    return { amountMinor: s.amountMinor, pFraud: band === undefined ? 0 : toP(band), ...(s.isFraud === undefined ? {} : { isFraud: s.isFraud }) };
  });
  const spanHours = spanHoursOf(samples);
  const figures = (p: Policy) => moneyFigures(rows, samples.map((s) => outcome(p, s).action), spanHours);
  const cur = figures(current);
  const prop = figures(proposed);
  const curve = Array.from({ length: CURVE_POINTS }, (_, i) => {
    const blockAbove = (i + 1) / CURVE_POINTS;
    const d = proposed.thresholds.detect;
    const moved: Policy = { ...proposed, thresholds: { ...proposed.thresholds, detect: { ...d, blockAbove, allowBelow: Math.min(d.allowBelow, blockAbove) } } };
    return { blockAbove, figures: figures(moved) };
  });
  const pFraudSource = served ? `${served.probability.source}, from ${served.version}` : P_FRAUD_SOURCE;
  return { samples: samples.length, spanHours, pFraudSource, pFraudCalibrated: served?.probability.calibrated ?? false, current: cur, proposed: prop, delta: moneyDelta(cur, prop), curve };
}
