import { MODELS, stageThresholds, type ModelSpec } from '../../../core/model-registry.ts';

type Stage = ModelSpec['stage'];

/** One threshold input on the Policy page, as the registered models declare it (core/model-registry.ts). */
export interface ThresholdField {
  key: string;
  /** The input's name: `<stage>.<key>`. */
  path: string;
  /** The field's label. */
  label: string;
  /** Its name in the Versions table's column (`detect block / allow / anomaly`). */
  short: string;
  /** The registry's description, shown as the field's title. */
  description: string;
}

/** How a threshold reads, from the role its model plays (the escalate stage blocks and allows by its two keys). */
function wording(m: ModelSpec, key: string): { label: string; short: string } {
  const r = m.routing;
  const band = r?.role === 'band' ? { block: r.block, allow: r.allow } : m.stage === 'escalate' ? { block: 'blockAbove', allow: 'allowBelow' } : undefined;
  if (band?.block === key) return { label: 'block at or above', short: 'block' };
  if (band?.allow === key) return { label: 'allow below', short: 'allow' };
  if (r?.role === 'escalateAbove' && r.threshold === key) return { label: `escalate at or above (${m.label})`, short: r.reasonLabel };
  return { label: `${m.label}: ${key}`, short: key };
}

/** A stage's threshold fields: the band model's first, then the others in registry order. */
export function thresholdFields(stage: Stage, models: readonly ModelSpec[] = MODELS): ThresholdField[] {
  const byId = new Map(models.map((m) => [m.id, m]));
  const rank = (id: string) => (byId.get(id)?.routing?.role === 'band' ? 0 : 1);
  return [...stageThresholds(stage, models)]
    .sort((a, b) => rank(a.model) - rank(b.model))
    .map((t) => ({ key: t.key, path: `${stage}.${t.key}`, description: t.description, ...wording(byId.get(t.model)!, t.key) }));
}

/** The stage's fieldset legend: `Detect (XGBoost + isolation forest)`, band model first. */
export function stageLegend(stage: Stage, models: readonly ModelSpec[] = MODELS): string {
  const rank = (m: ModelSpec) => (m.routing?.role === 'band' ? 0 : 1);
  const labels = models.filter((m) => m.stage === stage).sort((a, b) => rank(a) - rank(b)).map((m) => m.label);
  return `${stage === 'detect' ? 'Detect' : 'Escalate'} (${labels.join(' + ')})`;
}
