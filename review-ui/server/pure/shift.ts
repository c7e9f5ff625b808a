/**
 * The Shift page (issue 21): per analyst, cases decided per hour, the median time to a decision, and agreement with
 * the chargebacks that came back later; per open case, the SLA clock. Pure: the route passes closed cases, claim
 * times from the audit, ground truth and the policy's SLA.
 */
import type { Case } from '../../../core/contracts.ts';

export interface AnalystShift {
  analyst: string;
  decided: number;
  /** decided / the window's hours. */
  perHour: number;
  confirmedFraud: number;
  approved: number;
  /** Median of closedAt - createdAt: how long the analyst's cases waited from opening to verdict. */
  medianToDecisionMs: number | null;
  /** Median of closedAt - the analyst's claim: the time they spent on a case (cases claimed before the audit kept it are left out). */
  medianHandlingMs: number | null;
  /** Of the decided cases whose ground truth (a chargeback label) came back: how many, and how many the verdict matched. */
  labelled: number;
  agreed: number;
  agreement: number | null;
  /** Decided cases per hour of the window, oldest hour first. */
  hourly: number[];
}

export interface ShiftView {
  from: number;
  to: number;
  hours: number;
  analysts: AnalystShift[];
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * `claims`: when each analyst claimed each case, keyed `${caseId}|${analyst}` (the latest claim before the verdict).
 * `truth`: ground truth per case id.
 */
export function shiftView(closed: readonly Case[], claims: ReadonlyMap<string, number>, truth: ReadonlyMap<string, { isFraud: boolean }>, now: number, hours: number): ShiftView {
  const from = now - hours * 3_600_000;
  const by = new Map<string, Case[]>();
  for (const c of closed) {
    if (c.status === 'open' || c.closedAt === undefined || c.closedAt < from || c.closedAt > now) continue;
    const who = c.closedBy ?? '?';
    by.set(who, [...(by.get(who) ?? []), c]);
  }
  const analysts = [...by.entries()].map(([analyst, cases]): AnalystShift => {
    const hourly = Array.from({ length: hours }, () => 0);
    for (const c of cases) {
      const i = Math.min(hours - 1, Math.floor(((c.closedAt as number) - from) / 3_600_000));
      hourly[i] = (hourly[i] ?? 0) + 1;
    }
    const handling = cases.flatMap((c) => {
      const at = claims.get(`${c.caseId}|${analyst}`);
      return at !== undefined && at <= (c.closedAt as number) ? [(c.closedAt as number) - at] : [];
    });
    let labelled = 0;
    let agreed = 0;
    for (const c of cases) {
      const t = truth.get(c.caseId);
      if (!t) continue;
      labelled++;
      if (t.isFraud === (c.status === 'confirmed_fraud')) agreed++;
    }
    return {
      analyst,
      decided: cases.length,
      perHour: cases.length / hours,
      confirmedFraud: cases.filter((c) => c.status === 'confirmed_fraud').length,
      approved: cases.filter((c) => c.status === 'approved').length,
      medianToDecisionMs: median(cases.map((c) => (c.closedAt as number) - c.createdAt)),
      medianHandlingMs: median(handling),
      labelled,
      agreed,
      agreement: labelled ? agreed / labelled : null,
      hourly,
    };
  });
  analysts.sort((a, b) => b.decided - a.decided || a.analyst.localeCompare(b.analyst));
  return { from, to: now, hours, analysts };
}

export interface SlaClock {
  /** Minutes since the case opened. */
  ageMinutes: number;
  slaMinutes: number;
  /** Minutes until the SLA is breached; negative once overdue. */
  leftMinutes: number;
  overdue: boolean;
}

export function slaClock(createdAt: number, now: number, slaMinutes: number): SlaClock {
  const ageMinutes = Math.max(0, now - createdAt) / 60_000;
  return { ageMinutes, slaMinutes, leftMinutes: slaMinutes - ageMinutes, overdue: ageMinutes > slaMinutes };
}

/**
 * The queue's order: overdue cases first (the longest overdue on top), then the unclaimed, then the claimed; each part
 * keeps the order it came in (expected loss, then age).
 */
export function queueOrder<C extends { caseId: string; createdAt: number }>(cases: readonly C[], claimed: ReadonlySet<string>, now: number, slaMinutes: number): C[] {
  const overdue = cases.filter((c) => slaClock(c.createdAt, now, slaMinutes).overdue).sort((a, b) => a.createdAt - b.createdAt);
  const late = new Set(overdue.map((c) => c.caseId));
  const rest = cases.filter((c) => !late.has(c.caseId));
  return [...overdue, ...rest.filter((c) => !claimed.has(c.caseId)), ...rest.filter((c) => claimed.has(c.caseId))];
}
