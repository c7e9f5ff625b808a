/**
 * Policy in money and people. A threshold means little to whoever pays for fraud and for analysts; these
 * functions turn calibrated scores into expected loss, a review cutoff into analyst hours, and a policy into
 * money caught and money wrongly blocked. Amounts are minor units of one currency.
 */
import type { DecisionExpectedLoss } from '../../core/contracts.ts';

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

/**
 * A decision's expected loss as it travels on the decisions topic: p(fraud) to 6 significant digits (a double prints
 * up to 17; issue 20: bytes per decision), the losses computed from that p and rounded to whole minor units, so a
 * reader recomputes them exactly from what the decision carries.
 */
export function decisionLoss(pFraud: number, calibrated: boolean, amountMinor: number, costs: Costs): DecisionExpectedLoss {
  const p = Number(Math.min(1, Math.max(0, pFraud)).toPrecision(6));
  const e = expectedLoss(p, amountMinor, costs);
  return { pFraud: p, calibrated, ifAllowedMinor: Math.round(e.ifAllowed), ifBlockedMinor: Math.round(e.ifBlocked), stakeMinor: Math.round(e.stake) };
}

/** What turns the band model's first-line score into p(fraud): the served version's calibrator (detectors/types.ts FraudProbability). */
export interface BandProbability {
  readonly calibrated: boolean;
  fromBandScore(score: number): number;
}

/**
 * An escalated case's expected loss, as escalate decides it and a shadow challenger replays it: p(fraud) is the
 * version's calibrated band-model score (XGBoost; router/pure/band-score.ts; the heavy score is not calibrated),
 * the raw heavy score when only that exists, none in rules-only mode.
 */
export function caseLoss(probability: BandProbability | undefined, band: number | undefined, heavy: number | undefined, amountMinor: number, costs: Costs): DecisionExpectedLoss | undefined {
  if (probability && band !== undefined) return decisionLoss(probability.fromBandScore(band), probability.calibrated, amountMinor, costs);
  return heavy === undefined ? undefined : decisionLoss(heavy, false, amountMinor, costs);
}

/** What decideEscalation's review cutoff needs about a case with this loss (router/pure/policy.ts CaseMoney). */
export function cutoffInput(loss: DecisionExpectedLoss, stakes: StakeWindow, now: number, id: string): { stake: number; cheaper: 'ALLOW' | 'BLOCK'; stakes: StakeWindow; now: number; id: string } {
  return { stake: loss.stakeMinor, cheaper: loss.ifAllowedMinor < loss.ifBlockedMinor ? 'ALLOW' : 'BLOCK', stakes, now, id };
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

/** How long escalate remembers the stakes of ambiguous cases, and at most how many it keeps. */
export const STAKE_WINDOW_MS = 3_600_000;
export const STAKE_WINDOW_MAX = 5_000;

export interface CutoffStatus {
  /** Stakes below this are decided by their cheaper action instead of queued; 0 = all fit, Infinity = no capacity. */
  cutoff: number;
  /** Ambiguous cases in the window, and the hours it spans. */
  ambiguous: number;
  spanHours: number;
  ambiguousPerHour: number;
  /** Cases per hour at or above the cutoff (what reaches analysts), against what they can take. */
  reviewsPerHour: number;
  capacityPerHour: number;
}

/**
 * The stakes of the ambiguous cases of the last hour (bounded), from which the review cutoff follows. The window
 * is taken as a full hour even just after a start (the hour before counts as empty), so a fresh stage queues
 * generously rather than starving analysts; once the bound drops cases younger than an hour, the span is what it
 * still holds. In memory per escalate process: each process cuts its own share of the traffic.
 */
export class StakeWindow {
  // Arrival order (a queue with a moving head) for expiry, and the same stakes sorted ascending for the cutoff:
  // each case costs a binary search and one native splice, never a sort of the window.
  private at: number[] = [];
  private stakes: number[] = [];
  private ids: Array<string | undefined> = [];
  /** Ids in the window: a case handled again (a retried or replayed batch) is not counted twice. */
  private readonly seen = new Set<string>();
  private head = 0;
  private readonly sorted: number[] = [];
  private capped = false;

  constructor(
    readonly windowMs = STAKE_WINDOW_MS,
    readonly maxSize = STAKE_WINDOW_MAX,
  ) {}

  add(at: number, stake: number, id?: string): void {
    if (id !== undefined) {
      if (this.seen.has(id)) return this.prune(at);
      this.seen.add(id);
    }
    this.at.push(at);
    this.stakes.push(stake);
    this.ids.push(id);
    this.sorted.splice(lowerBound(this.sorted, stake), 0, stake);
    this.prune(at);
  }

  get size(): number {
    return this.sorted.length;
  }

  private dropOldest(): void {
    const stake = this.stakes[this.head]!;
    this.sorted.splice(lowerBound(this.sorted, stake), 1);
    const id = this.ids[this.head];
    if (id !== undefined) this.seen.delete(id);
    this.head += 1;
  }

  private prune(now: number): void {
    while (this.head < this.at.length && this.at[this.head]! < now - this.windowMs) this.dropOldest();
    while (this.at.length - this.head > this.maxSize) {
      this.dropOldest();
      this.capped = true;
    }
    if (this.head > 1_024 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head);
      this.stakes = this.stakes.slice(this.head);
      this.ids = this.ids.slice(this.head);
      this.head = 0;
    }
  }

  status(now: number, capacity: ReviewCapacity): CutoffStatus {
    this.prune(now);
    const oldest = this.at[this.head];
    const spanMs = this.capped && oldest !== undefined ? Math.min(this.windowMs, Math.max(60_000, now - oldest)) : this.windowMs;
    const spanHours = spanMs / 3_600_000;
    const n = this.sorted.length;
    const perHour = casesPerHour(capacity);
    const fits = Math.floor(perHour * spanHours);
    // The same cut as reviewCutoff (the fits-th largest stake), read off the sorted window.
    const cutoff = perHour <= 0 || (fits === 0 && n > 0) ? Number.POSITIVE_INFINITY : n <= fits ? 0 : this.sorted[n - fits]!;
    const above = n - lowerBound(this.sorted, cutoff);
    return { cutoff, ambiguous: n, spanHours, ambiguousPerHour: n / spanHours, reviewsPerHour: above / spanHours, capacityPerHour: perHour };
  }
}

/** The first index whose value is >= x in an ascending array. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface SlaStatus {
  ageMinutes: number;
  slaMinutes: number;
  breached: boolean;
}

/** Age of the oldest open case against the SLA: what the Live page shows. */
export function slaStatus(oldestOpenCaseAt: number | undefined, now: number, c: ReviewCapacity): SlaStatus {
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
