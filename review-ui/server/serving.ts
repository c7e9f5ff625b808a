/** Model promotion and "what do the stages serve": pure logic behind the Models page. */
import { PolicySchema, describeZodError, type Decision, type Policy, type PolicyInput } from '../../core/contracts.ts';
import { UserInputError } from '../../core/errors.ts';

/** The current policy's content with another model version (and optionally that card's thresholds). */
export function promotionInput(current: Policy, version: string, cardThresholds?: unknown): PolicyInput {
  const { version: _v, updatedAt: _u, updatedBy: _b, ...content } = current;
  const next = { ...content, modelVersion: version, ...(cardThresholds !== undefined ? { thresholds: cardThresholds } : {}) };
  const probe = PolicySchema.safeParse({ ...next, version: 1, updatedAt: 0, updatedBy: 'check' });
  if (!probe.success) throw new UserInputError(`model ${version}: its card's thresholds do not make a valid policy: ${describeZodError(probe.error)}`);
  const { version: _pv, updatedAt: _pu, updatedBy: _pb, ...input } = probe.data;
  return input;
}

export interface ServedVersion {
  model: string;
  decisions: number;
  byStage: Record<string, number>;
  lastAt: number;
}

export interface ServedSummary {
  /** Decisions looked at (the stages' own: human review decisions repeat the model of their case). */
  considered: number;
  /** Model version of the most recently decided of them; null when none. */
  latest: string | null;
  latestAt: number | null;
  versions: ServedVersion[];
}

/** Which model versions the running stages stamped on their recent decisions, most recently seen first. */
export function servedModels(decisions: ReadonlyArray<Pick<Decision, 'stage' | 'versions' | 'decidedAt'>>): ServedSummary {
  const by = new Map<string, ServedVersion>();
  let latest: { model: string; at: number } | null = null;
  let considered = 0;
  for (const d of decisions) {
    if (d.stage === 'review') continue;
    considered++;
    const model = d.versions.model;
    const v = by.get(model) ?? { model, decisions: 0, byStage: {}, lastAt: 0 };
    v.decisions++;
    v.byStage[d.stage] = (v.byStage[d.stage] ?? 0) + 1;
    v.lastAt = Math.max(v.lastAt, d.decidedAt);
    by.set(model, v);
    if (!latest || d.decidedAt >= latest.at) latest = { model, at: d.decidedAt };
  }
  return {
    considered,
    latest: latest?.model ?? null,
    latestAt: latest?.at ?? null,
    versions: [...by.values()].sort((a, b) => b.lastAt - a.lastAt || a.model.localeCompare(b.model)),
  };
}
