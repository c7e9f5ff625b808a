/** Whether the heavy model really scored escalations in a scenario, read from the decisions a reader saw. */
import { DecisionSchema } from '../../../core/contracts.ts';

/**
 * How many decisions took the heavy path: escalate decisions with a heavy score, and the REVIEWs among them; and how
 * many were made by another model version than `version`. Each decision is read as every reader reads it
 * (DecisionSchema: the positions of the wire give the keyed form); one that does not parse is counted in `decisions`
 * only.
 */
export function heavyPath(decisions: readonly string[], version?: string): { decisions: number; escalateDecisions: number; escalateScoredByHeavy: number; reviews: number; otherModel: number } {
  let escalateDecisions = 0;
  let escalateScoredByHeavy = 0;
  let reviews = 0;
  let otherModel = 0;
  for (const raw of decisions) {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      continue;
    }
    const parsed = DecisionSchema.safeParse(json);
    if (!parsed.success) continue;
    const d = parsed.data;
    if (version !== undefined && d.versions.model !== version) otherModel += 1;
    if (d.stage !== 'escalate') continue;
    escalateDecisions += 1;
    if (typeof d.scores.heavy === 'number') escalateScoredByHeavy += 1;
    if (d.action === 'REVIEW') reviews += 1;
  }
  return { decisions: decisions.length, escalateDecisions, escalateScoredByHeavy, reviews, otherModel };
}
