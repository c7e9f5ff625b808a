/**
 * The one way a Decision is made, by detect, escalate and an analyst alike, so every decision carries the same
 * why (scores, rules, top features, versions, timings) and the same id scheme (`<txId>:<stage>`).
 */
import { MODEL_IDS } from '../../core/model-registry.ts';
import { decisionIdOf, type Action, type Decision, type DecisionExpectedLoss, type DecisionTx, type DecisionWire, type Escalation, type RuleHit, type Stage, type Transaction } from '../../core/contracts.ts';

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

/**
 * A decision's numbers at the precision a reader can use (issue 20: bytes per decision). A double prints up to 17
 * digits; the decision was already taken on the full value, and what readers do with these (show them, sort by them,
 * chart them) needs far fewer. Scores keep 5 decimals (a threshold's neighbourhood stays readable), feature values and
 * contributions 4 significant digits (integers as they are). The coordinates stay whole (the case baseline measures
 * distances from them); p(fraud) comes at 6 significant digits from router/pure/money.ts decisionLoss, which computes
 * the losses from that value, so a reader can check them.
 */
const roundTo = (x: number, scale: number): number => Math.round(x * scale) / scale;

function significant(x: number): number {
  if (Number.isInteger(x) || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  // At least 4 significant digits, and never fewer decimals than a value of that size shows (1234.5678 -> 1234.6).
  const digits = a >= 1000 ? Math.floor(Math.log10(a)) + 2 : 4;
  return Number(x.toPrecision(Math.min(17, digits)));
}

function roundScores(scores: Decision['scores']): Decision['scores'] {
  const out: Record<string, number> = {};
  for (const k in scores) {
    const v = (scores as Record<string, number | undefined>)[k];
    if (v !== undefined) out[k] = roundTo(v, 1e5);
  }
  return out as Decision['scores'];
}

/** The fields of a transaction a decision carries (core/contracts.ts DecisionTxSchema); the rest stays on its topic. */
export function decisionTx(tx: Transaction): DecisionTx {
  return {
    merchantId: tx.merchantId, merchantName: tx.merchantName, mcc: tx.mcc, amountMinor: tx.amountMinor, currency: tx.currency,
    ts: tx.ts, channel: tx.channel, country: tx.country, lat: tx.lat, lon: tx.lon, deviceId: tx.deviceId,
  };
}

/** Stage timings to the microsecond: a measurement's noise is larger, and 17 digits cost bytes on every decision. */
function roundTimings(t: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k in t) out[k] = Math.round((t[k] as number) * 1000) / 1000;
  return out;
}

/** REVIEW is provisional (final=false) until an analyst closes the case; every other action is final. */
export function buildDecision(t: DecidedTransaction, d: DecisionInput): Decision {
  return {
    decisionId: decisionIdOf(t.txId, d.stage),
    txId: t.txId,
    cardId: t.cardId,
    action: d.action,
    stage: d.stage,
    final: d.action !== 'REVIEW',
    reason: d.reason,
    scores: roundScores(t.scores),
    rulesFired: d.rulesFired,
    topFeatures: t.topFeatures.map((f) => ({ name: f.name, value: significant(f.value), contribution: significant(f.contribution) })),
    versions: t.versions,
    timings: roundTimings(d.timings),
    decidedAt: d.decidedAt,
    tx: decisionTx(t.tx),
    ...(d.analyst === undefined ? {} : { analyst: d.analyst }),
    ...(d.note ? { note: d.note } : {}),
    ...(d.expectedLoss ? { expectedLoss: d.expectedLoss } : {}),
    // Carried from detect through escalation and case to the analyst's decision: the same features were seen.
    ...(t.partialHistory ? { partialHistory: true } : {}),
  };
}

/**
 * The decision as the decisions topic carries it: what DecisionSchema fills in when absent is left out (decisionId when
 * it is txId:stage, final when it follows from the action, empty rulesFired and topFeatures), and the transaction's
 * fields, the scores, the expected loss and the versions go by position (core/contracts.ts
 * DecisionWireSchema). DecisionSchema.parse of the text gives the decision back.
 */
export function encodeDecision(d: Decision): string {
  const { decisionId, final, rulesFired, topFeatures, expectedLoss, versions, tx, scores, ...rest } = d;
  const wire: DecisionWire = {
    ...(decisionId === decisionIdOf(d.txId, d.stage) ? {} : { decisionId }),
    ...rest,
    scores: scoresTuple(scores),
    versions: [versions.model, versions.policy],
    tx: txTuple(tx),
    ...(final === (d.action !== 'REVIEW') ? {} : { final }),
    ...(rulesFired.length ? { rulesFired } : {}),
    ...(topFeatures.length ? { topFeatures } : {}),
    ...(expectedLoss ? { expectedLoss: lossTuple(expectedLoss) } : {}),
  };
  return JSON.stringify(wire);
}

/** One score per registered model in MODEL_IDS order, null where a model did not run, trailing nulls left out. */
function scoresTuple(scores: Decision['scores']): (number | null)[] {
  const out = MODEL_IDS.map((id) => scores[id] ?? null);
  while (out.length && out[out.length - 1] === null) out.pop();
  return out;
}

function txTuple(t: DecisionTx): Extract<DecisionWire['tx'], unknown[]> {
  const head = [t.merchantId, t.merchantName, t.mcc, t.amountMinor, t.currency, t.ts, t.channel, t.country, t.lat, t.lon] as const;
  return t.deviceId === null ? [...head] : [...head, t.deviceId];
}

/** [pFraud, ifAllowed, ifBlocked], then `false` when uncalibrated, then the stake when it is not the smaller loss. */
function lossTuple(e: DecisionExpectedLoss): Extract<NonNullable<DecisionWire['expectedLoss']>, unknown[]> {
  const head = [e.pFraud, e.ifAllowedMinor, e.ifBlockedMinor] as const;
  if (e.stakeMinor !== Math.min(e.ifAllowedMinor, e.ifBlockedMinor)) return [...head, e.calibrated, e.stakeMinor];
  return e.calibrated ? [...head] : [...head, false];
}
