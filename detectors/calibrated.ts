/**
 * p(fraud) as a served version states it: the isotonic calibrator of the XGBoost score the trainer fitted on the
 * validation slice (model-card.json `calibration`). A version without one (trained before calibration, or on a
 * slice with no fraud) serves the raw XGBoost score as p, with a warning at load: the money it states is then
 * only as right as the raw score happens to be.
 */
import { logger } from '../core/logger.ts';
import type { ModelCard } from './model-card.ts';
import { calibrate, type Calibrator } from './pure/calibration.ts';
import type { FraudProbability } from './types.ts';

/** What a version without a calibrator serves: the raw score, clamped to 0..1. */
export const RAW_XGBOOST_P: FraudProbability = {
  calibrated: false,
  source: 'raw XGBoost score (this version has no calibrator)',
  fromXgboost: (score) => Math.min(1, Math.max(0, score)),
};

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
    return { calibrated: true, source: `isotonic calibration of the XGBoost score (fitted on the ${cal.fittedOn})`, fromXgboost: (score) => calibrate(c, score) };
  }
  if (warn) logger('models').warn({ version }, cal ? 'model card calibrator is malformed: p(fraud) is the raw XGBoost score' : 'no calibrator in the model card: p(fraud) is the raw XGBoost score');
  return RAW_XGBOOST_P;
}
