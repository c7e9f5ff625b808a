/**
 * The first-line detectors' implementations, one module each (detectors/detector.ts's interface). Their
 * declarations (score meaning, stage, policy thresholds) are core/model-registry.ts's MODELS, which must stay free of
 * imports because the browser bundle reads it; this list is the Node side. The compiler refuses a detect-stage model
 * in the registry without a module here, and a module here under an id the registry does not declare.
 *
 * Adding a detector: its entry in MODELS (registry.ts), its module, and one line below (docs/detectors.md).
 */
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import type { FirstLineDetector } from './detector.ts';
import { isolationForestDetector } from './isolation-forest.ts';
import type { FirstLineModelId } from '../core/model-registry.ts';
import { FIRST_LINE_MODELS } from '../core/model-registry.ts';
import { xgboostDetector } from './xgboost.ts';

const BY_ID: { readonly [Id in FirstLineModelId]: FirstLineDetector<Id> } = {
  isolationForest: isolationForestDetector,
  xgboost: xgboostDetector,
};

/** Every first-line detector, in the registry's order (the order of their scores, training and files). */
export const FIRST_LINE_DETECTORS: readonly FirstLineDetector[] = FIRST_LINE_MODELS.map((m) => BY_ID[m.id] as FirstLineDetector);

/**
 * `list` (a trainer's or loader's `detectors` option), checked: every registered first-line model is in it (the
 * routing reads their scores), ids are unique, and exactly one detector explains.
 */
export function checkDetectorList(list: readonly FirstLineDetector[]): readonly FirstLineDetector[] {
  const ids = list.map((d) => d.id);
  const missing = FIRST_LINE_MODELS.filter((m) => !ids.includes(m.id)).map((m) => m.id);
  const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
  const explainers = list.filter((d) => d.explains).length;
  if (missing.length || twice.length || explainers !== 1) {
    throw new FraudstreamError(
      ErrorCodes.INTERNAL,
      `first-line detectors [${ids.join(', ')}]: ${[missing.length ? `missing registered ${missing.join(', ')}` : '', twice.length ? `listed twice: ${twice.join(', ')}` : '', explainers !== 1 ? `${explainers} explain (one must)` : ''].filter(Boolean).join('; ')}`,
    );
  }
  return list;
}
