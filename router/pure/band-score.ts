import { MODELS, type ModelSpec } from '../../core/model-registry.ts';
import { routingRoles } from '../../detectors/pure/routing.ts';

/**
 * The band model's first-line score (core/model-registry.ts, the model holding detect's block/allow band: XGBoost
 * today): the one calibrated to p(fraud), and the escalate stage's stand-in when no heavy model is loaded.
 * Undefined when it did not score (rules-only mode).
 */
export function bandScore(scores: Readonly<Record<string, number | undefined>>, models: readonly ModelSpec[] = MODELS): number | undefined {
  return scores[routingRoles(models).band.model];
}

/** The score the escalate stage decides on: the heavy model's, else the band model's, else an undecided 0.5. */
export function escalateScore(heavy: number | undefined, scores: Readonly<Record<string, number | undefined>>, models: readonly ModelSpec[] = MODELS): number {
  return heavy ?? bandScore(scores, models) ?? 0.5;
}

/** The band model's label, for what a page says decided a stage without a heavy model. */
export const bandLabel = (models: readonly ModelSpec[] = MODELS): string => routingRoles(models).band.label;
