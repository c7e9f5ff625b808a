/** Test registries: the real one (core/model-registry.ts MODELS) with a model added or a role moved, as a new detector would. */
import { MODELS, type ModelSpec } from '../../core/model-registry.ts';

/** A third detect model that escalates at or above its threshold (`coldStart` is its policy v1 value). */
export function velocityModel(coldStart = 0.8): ModelSpec {
  return {
    id: 'velocity',
    label: 'velocity',
    stage: 'detect',
    learns: 'unsupervised',
    score: '0..1',
    thresholds: [{ key: 'velocityEscalateAbove', description: 'velocity at or above which detect escalates', coldStart }],
    routing: { role: 'escalateAbove', threshold: 'velocityEscalateAbove', ruleId: 'model.velocity_escalate', description: 'velocity is unusual', reasonLabel: 'velocity' },
  };
}

/** The registry plus the velocity model. */
export const withVelocity = (coldStart = 0.8): readonly ModelSpec[] => [...MODELS, velocityModel(coldStart)];

/** XGBoost demoted to escalateAbove; a 'gbm' model holds the block/allow band. */
export const gbmBand: readonly ModelSpec[] = MODELS.map((m): ModelSpec =>
  m.id === 'xgboost' ? { ...m, thresholds: [{ key: 'xgbEscalateAbove', description: 'x', coldStart: 0.9 }], routing: { role: 'escalateAbove', threshold: 'xgbEscalateAbove', ruleId: 'model.xgb_escalate', description: 'x', reasonLabel: 'xgb' } } : m,
).concat({
  id: 'gbm',
  label: 'GBM',
  stage: 'detect',
  learns: 'supervised',
  score: '0..1',
  thresholds: [
    { key: 'blockAbove', description: 'b', coldStart: 0.9 },
    { key: 'allowBelow', description: 'a', coldStart: 0.2 },
  ],
  routing: { role: 'band', block: 'blockAbove', allow: 'allowBelow', blockRuleId: 'model.gbm_block', ambiguousRuleId: 'model.gbm_ambiguous' },
});
