/**
 * Champion against challenger on the same live traffic: the challenger's would-be decisions are compared with
 * what the champion did, and both are judged against the labels that have come back. Labels arrive late
 * (chargebacks take weeks), so every figure says how much of its ground truth has arrived.
 */

import type { ShadowAction, ShadowPair } from '../../state/shadow.ts';

export interface SideReport {
  blockRate: number;
  reviewRate: number;
  escalationRate: number;
  moneyBlocked: number;
  /** Against labelled rows only; null while nothing labelled was flagged / no labelled fraud. */
  precision: number | null;
  recall: number | null;
}

export interface Cohort {
  /** Start of the cohort's day (UTC ms). */
  day: number;
  transactions: number;
  labelled: number;
  /** Share of the labels this cohort should eventually get that have arrived, by its age. */
  maturity: number;
}

export interface ShadowReport {
  transactions: number;
  agreement: Record<ShadowAction, Record<ShadowAction, number>>;
  agreementRate: number;
  champion: SideReport;
  challenger: SideReport;
  cohorts: Cohort[];
  /** Share of the report's expected ground truth that has arrived, weighted by cohort size. */
  maturity: number;
  immature: boolean;
}

export interface LabelDelay {
  /** Label delays seen in the past (days from transaction to label); their empirical CDF gives maturity. */
  delaysDays: readonly number[];
  /** Metrics are "immature" below this share of expected ground truth. */
  matureAt: number;
  /**
   * Fewer observed delays than this and nothing is known about how late labels come: maturity is 0 (immature),
   * never the optimistic 1 of an empty distribution. Default 0 (the pure behaviour); the shadow report uses 20.
   */
  minDelays?: number;
}

/** Default share of expected labels a report needs before its metrics count as mature. */
export const DEFAULT_MATURE_AT = 0.8;
/** Default number of observed label delays before the delay distribution is trusted. */
export const DEFAULT_MIN_DELAYS = 20;

const DAY = 86_400_000;

/** Share of eventual labels that arrive within `ageDays`, from past delays; 1 when nothing is known about delays. */
export function labelArrivedShare(ageDays: number, delaysDays: readonly number[]): number {
  if (delaysDays.length === 0) return 1;
  let within = 0;
  for (const d of delaysDays) if (d <= ageDays) within += 1;
  return within / delaysDays.length;
}

function side(pairs: readonly ShadowPair[], pick: (p: ShadowPair) => ShadowAction, escalated: (p: ShadowPair) => boolean): SideReport {
  let block = 0;
  let review = 0;
  let esc = 0;
  let money = 0;
  let tp = 0;
  let flaggedLabelled = 0;
  let fraudLabelled = 0;
  for (const p of pairs) {
    const a = pick(p);
    const flagged = a === 'BLOCK' || a === 'REVIEW';
    if (a === 'BLOCK') {
      block += 1;
      money += p.amountMinor;
    }
    if (a === 'REVIEW') review += 1;
    if (escalated(p)) esc += 1;
    if (p.isFraud === undefined) continue;
    if (flagged) flaggedLabelled += 1;
    if (p.isFraud) fraudLabelled += 1;
    if (flagged && p.isFraud) tp += 1;
  }
  const n = pairs.length || 1;
  return {
    blockRate: block / n,
    reviewRate: review / n,
    escalationRate: esc / n,
    moneyBlocked: money,
    precision: flaggedLabelled === 0 ? null : tp / flaggedLabelled,
    recall: fraudLabelled === 0 ? null : tp / fraudLabelled,
  };
}

export function emptyAgreement(): Record<ShadowAction, Record<ShadowAction, number>> {
  const row = () => ({ ALLOW: 0, BLOCK: 0, REVIEW: 0, ESCALATE: 0 });
  return { ALLOW: row(), BLOCK: row(), REVIEW: row(), ESCALATE: row() };
}

export function shadowReport(pairs: readonly ShadowPair[], now: number, delay: LabelDelay): ShadowReport {
  const agreement = emptyAgreement();
  let agree = 0;
  const byDay = new Map<number, { transactions: number; labelled: number }>();
  for (const p of pairs) {
    agreement[p.champion][p.challenger] += 1;
    if (p.champion === p.challenger) agree += 1;
    const day = Math.floor(p.ts / DAY) * DAY;
    const c = byDay.get(day) ?? { transactions: 0, labelled: 0 };
    c.transactions += 1;
    if (p.isFraud !== undefined) c.labelled += 1;
    byDay.set(day, c);
  }
  const known = delay.delaysDays.length >= (delay.minDelays ?? 0);
  const cohorts = [...byDay]
    .sort(([a], [b]) => a - b)
    .map(([day, c]) => ({ day, ...c, maturity: known ? labelArrivedShare((now - (day + DAY / 2)) / DAY, delay.delaysDays) : 0 }));
  const total = pairs.length;
  const maturity = total === 0 ? 0 : cohorts.reduce((s, c) => s + c.maturity * c.transactions, 0) / total;
  return {
    transactions: total,
    agreement,
    agreementRate: total === 0 ? 0 : agree / total,
    champion: side(pairs, (p) => p.champion, (p) => p.championEscalated),
    challenger: side(pairs, (p) => p.challenger, (p) => p.challengerEscalated),
    cohorts,
    maturity,
    immature: maturity < delay.matureAt,
  };
}

/** The challenger's side of one transaction, as the shadow worker decides it (never published). */
export interface ShadowOutcome {
  /** First-line action (ALLOW, BLOCK or ESCALATE). */
  first: ShadowAction;
  /** Final action: the first line's, or what the second line decided for an escalated row. */
  final: ShadowAction;
}

/** One pair from the champion's and the challenger's outcomes of the same transaction. */
export function toPair(
  tx: { txId: string; ts: number; amountMinor: number },
  champion: ShadowOutcome,
  challenger: ShadowOutcome,
): ShadowPair {
  return {
    txId: tx.txId,
    ts: tx.ts,
    amountMinor: tx.amountMinor,
    champion: champion.final,
    challenger: challenger.final,
    championEscalated: champion.first === 'ESCALATE',
    challengerEscalated: challenger.first === 'ESCALATE',
  };
}

/** Label delays in days from (tx ts, labeledAt) pairs; a label dated before its transaction counts as 0 days. */
export function delaysInDays(rows: ReadonlyArray<{ ts: number; labeledAt: number }>): number[] {
  return rows.map((r) => Math.max(0, r.labeledAt - r.ts) / DAY);
}
