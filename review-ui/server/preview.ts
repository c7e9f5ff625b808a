import type { Policy } from '../../core/contracts.ts';
import { decideEscalation, decideFirstLine, type FirstLineInput } from '../../router/pure/policy.ts';
import type { ScoredSample } from '../../router/types.ts';

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

export function previewPolicy(current: Policy, proposed: Policy, samples: readonly ScoredSample[]): PreviewResult {
  const r: PreviewResult = { samples: samples.length, recorded: zero(), current: zero(), proposed: zero(), delta: zero(), changed: 0, examples: [] };
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
