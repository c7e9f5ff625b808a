/**
 * The one way a Decision is made, by detect, escalate and an analyst alike, so every decision carries the same
 * why (scores, rules, top features, versions, timings) and the same id scheme (`<txId>:<stage>`).
 */
import type { Action, Decision, DecisionExpectedLoss, Escalation, RuleHit, Stage } from '../../core/contracts.ts';

/** What is known about the transaction when it is decided: an escalation or a case carries all of it. */
export type DecidedTransaction = Pick<Escalation, 'txId' | 'cardId' | 'tx' | 'scores' | 'topFeatures' | 'versions' | 'partialHistory'>;

export interface DecisionInput {
  stage: Stage;
  action: Action;
  reason: string;
  rulesFired: RuleHit[];
  /** Milliseconds spent per stage so far, this one included. */
  timings: Record<string, number>;
  decidedAt: number;
  analyst?: string;
  note?: string;
  /** What allowing or blocking stands to lose (router/pure/money.ts decisionLoss); absent without a model version. */
  expectedLoss?: DecisionExpectedLoss;
}

/** REVIEW is provisional (final=false) until an analyst closes the case; every other action is final. */
export function buildDecision(t: DecidedTransaction, d: DecisionInput): Decision {
  return {
    decisionId: `${t.txId}:${d.stage}`,
    txId: t.txId,
    cardId: t.cardId,
    action: d.action,
    stage: d.stage,
    final: d.action !== 'REVIEW',
    reason: d.reason,
    scores: t.scores,
    rulesFired: d.rulesFired,
    topFeatures: t.topFeatures,
    versions: t.versions,
    timings: d.timings,
    decidedAt: d.decidedAt,
    tx: t.tx,
    ...(d.analyst === undefined ? {} : { analyst: d.analyst }),
    ...(d.note ? { note: d.note } : {}),
    ...(d.expectedLoss ? { expectedLoss: d.expectedLoss } : {}),
    // Carried from detect through escalation and case to the analyst's decision: the same features were seen.
    ...(t.partialHistory ? { partialHistory: true } : {}),
  };
}
