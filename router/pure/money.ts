/**
 * Policy in money and people. A threshold means little to whoever pays for fraud and for analysts; these
 * functions turn calibrated scores into expected loss, a review cutoff into analyst hours, and a policy into
 * money caught and money wrongly blocked. Amounts are minor units of one currency.
 */

export interface Costs {
  /** Added to the amount when fraud goes through: the scheme's chargeback fee and handling. */
  chargebackFeeMinor: number;
  /** What blocking a legitimate payment costs: lost margin, support contact, a customer who leaves. */
  falseBlockCostMinor: number;
}

export interface ExpectedLoss {
  /** Expected loss if the payment is allowed: p x (amount + fee). */
  ifAllowed: number;
  /** Expected loss if it is blocked: (1 - p) x friction. */
  ifBlocked: number;
  /** The cheaper action, and by how much (what a human review could save at most). */
  cheaper: 'ALLOW' | 'BLOCK';
  stake: number;
}

export function expectedLoss(pFraud: number, amountMinor: number, costs: Costs): ExpectedLoss {
  const p = Math.min(1, Math.max(0, pFraud));
  const ifAllowed = p * (amountMinor + costs.chargebackFeeMinor);
  const ifBlocked = (1 - p) * costs.falseBlockCostMinor;
  return { ifAllowed, ifBlocked, cheaper: ifAllowed > ifBlocked ? 'BLOCK' : 'ALLOW', stake: Math.min(ifAllowed, ifBlocked) };
}

export interface ReviewCapacity {
  analysts: number;
  casesPerAnalystHour: number;
  /** A case must be decided within this many minutes of arriving. */
  slaMinutes: number;
}

export const casesPerHour = (c: ReviewCapacity): number => c.analysts * c.casesPerAnalystHour;

/**
 * The review cutoff the capacity allows: the smallest stake such that the cases at or above it, arriving at the
 * observed rate, fit the analysts' hours. `stakes` are the expected losses (stake) of the ambiguous cases seen
 * over `spanHours`. Returns 0 when everything fits, Infinity when there is no capacity at all.
 */
export function reviewCutoff(stakes: readonly number[], spanHours: number, capacity: ReviewCapacity): number {
  const perHour = casesPerHour(capacity);
  if (perHour <= 0) return Number.POSITIVE_INFINITY;
  if (spanHours <= 0) throw new Error('reviewCutoff: spanHours must be positive');
  const fits = Math.floor(perHour * spanHours);
  if (stakes.length <= fits) return 0;
  if (fits === 0) return Number.POSITIVE_INFINITY;
  const sorted = [...stakes].sort((a, b) => b - a);
  return sorted[fits - 1]!;
}

/** Age of the oldest open case against the SLA: what the Live page shows. */
export function slaStatus(oldestOpenCaseAt: number | undefined, now: number, c: ReviewCapacity): { ageMinutes: number; slaMinutes: number; breached: boolean } {
  const ageMinutes = oldestOpenCaseAt === undefined ? 0 : Math.max(0, (now - oldestOpenCaseAt) / 60_000);
  return { ageMinutes, slaMinutes: c.slaMinutes, breached: ageMinutes > c.slaMinutes };
}

export interface MoneyRow {
  amountMinor: number;
  /** Calibrated p(fraud); used when the row has no label. */
  pFraud: number;
  /** Ground truth when known (a labelled replay file, a label that came back). */
  isFraud?: boolean;
}

export interface MoneyFigures {
  transactions: number;
  blocked: number;
  reviewed: number;
  /** Fraud money stopped: blocked rows that are fraud (expected: p x amount for unlabelled rows). */
  fraudMoneyCaught: number;
  /** Fraud money that went through: allowed rows that are fraud. */
  fraudMoneyMissed: number;
  /** Legitimate money blocked: blocked rows that are legitimate. */
  legitMoneyBlocked: number;
  /** Reviews per hour over the rows' time span. */
  reviewsPerHour: number;
  /** How many rows carried a label (the rest are expectations). */
  labelled: number;
}

export type MoneyAction = 'ALLOW' | 'BLOCK' | 'REVIEW' | 'ESCALATE';

/**
 * What a policy's actions cost and save over a set of rows. A REVIEW is counted as caught if fraud (an analyst
 * decides it) and costs analyst time, not a false block; an ESCALATE still pending counts as allowed.
 */
export function moneyFigures(rows: readonly MoneyRow[], actions: readonly MoneyAction[], spanHours: number): MoneyFigures {
  const f: MoneyFigures = { transactions: rows.length, blocked: 0, reviewed: 0, fraudMoneyCaught: 0, fraudMoneyMissed: 0, legitMoneyBlocked: 0, reviewsPerHour: 0, labelled: 0 };
  rows.forEach((r, i) => {
    const a = actions[i];
    const fraudShare = r.isFraud === undefined ? Math.min(1, Math.max(0, r.pFraud)) : r.isFraud ? 1 : 0;
    if (r.isFraud !== undefined) f.labelled += 1;
    if (a === 'BLOCK') {
      f.blocked += 1;
      f.fraudMoneyCaught += fraudShare * r.amountMinor;
      f.legitMoneyBlocked += (1 - fraudShare) * r.amountMinor;
    } else if (a === 'REVIEW') {
      f.reviewed += 1;
      f.fraudMoneyCaught += fraudShare * r.amountMinor;
    } else {
      f.fraudMoneyMissed += fraudShare * r.amountMinor;
    }
  });
  f.reviewsPerHour = spanHours > 0 ? f.reviewed / spanHours : 0;
  return f;
}

/** proposed minus current for every figure. */
export function moneyDelta(current: MoneyFigures, proposed: MoneyFigures): MoneyFigures {
  const d = { ...proposed };
  for (const k of Object.keys(d) as Array<keyof MoneyFigures>) d[k] = proposed[k] - current[k];
  return d;
}
