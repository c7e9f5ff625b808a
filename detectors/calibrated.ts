/**
 * p(fraud) as a served version states it: the isotonic calibrator of the band model's score (core/model-registry.ts
 * routing role 'band': XGBoost) the trainer fitted on the validation slice (model-card.json `calibration`, whose
 * `model` field says 'xgboost' in every card written so far). A version without one (trained before calibration, or
 * on a slice with no fraud) serves the raw band score as p, with a warning at load: the money it states is then only
 * as right as the raw score happens to be.
 */
import { logger } from '../core/logger.ts';
import type { ModelCard } from './model-card.ts';
import { calibrate, type Calibrator } from './pure/calibration.ts';
import { MODELS } from '../core/model-registry.ts';
import { routingRoles } from './pure/routing.ts';
import type { FraudProbability } from './types.ts';

/** The calibrated model's name in what a page or a log says: the band model's label. */
const BAND = routingRoles(MODELS).band.label;

const probability = (calibrated: boolean, source: string, p: (score: number) => number): FraudProbability => ({ calibrated, source, fromBandScore: p });

/** What a version without a calibrator serves: the raw band score, clamped to 0..1. */
export const RAW_BAND_P: FraudProbability = probability(false, `raw ${BAND} score (this version has no calibrator)`, (score) => Math.min(1, Math.max(0, score)));

function isCalibrator(c: unknown): c is Calibrator {
  if (typeof c !== 'object' || c === null) return false;
  const { method, x, y } = c as Record<string, unknown>;
  return method === 'isotonic' && Array.isArray(x) && Array.isArray(y) && x.length > 0 && x.length === y.length && [...x, ...y].every((v) => typeof v === 'number' && Number.isFinite(v));
}

/** The p(fraud) a version's card allows; logs a warning when it has to fall back to the raw score. */
export function fraudProbabilityOf(card: Pick<ModelCard, 'calibration'> | undefined, version: string, { warn = true } = {}): FraudProbability {
  const cal = card?.calibration;
  if (cal && isCalibrator(cal.calibrator)) {
    const c = cal.calibrator;
    return probability(true, `isotonic calibration of the ${BAND} score (fitted on the ${cal.fittedOn})`, (score) => calibrate(c, score));
  }
  if (warn) logger('models').warn({ version }, cal ? `model card calibrator is malformed: p(fraud) is the raw ${BAND} score` : `no calibrator in the model card: p(fraud) is the raw ${BAND} score`);
  return RAW_BAND_P;
}
