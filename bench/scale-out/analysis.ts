/**
 * The scale-out bench's arithmetic, free of I/O so it is unit-tested: what a reader of the decisions topic saw in
 * each phase (members joining or leaving a detect group), per member what its /metrics counted.
 */
import { summarize } from '../pipeline/stats.ts';

/** One transaction as the bench saw it: when it was sent, and when its first decision became visible. */
export interface Seen {
  sentAt: number;
  /** undefined: never decided (yet). */
  visibleAt?: number;
}

/** A phase: the group changed at `changeAt` (a member joined or left) and ran with `members` until `endAt`. */
export interface PhaseWindow {
  members: number;
  change: 'start' | 'join' | 'leave';
  changeAt: number;
  /** The group was stable again (every member assigned) at this time. */
  stableAt: number;
  endAt: number;
}

export interface PhaseResult {
  members: number;
  change: PhaseWindow['change'];
  /** From the change until the group was stable again (the coordinator's rebalance), seconds. */
  rebalanceSeconds: number;
  /**
   * The longest time in [changeAt, endAt] in which no new decision became visible to the reader, seconds: what a
   * consumer of decisions experiences as the rebalance pause. Beside it, the same measure in the steady part of
   * the phase (after the backlog the pause built was decided) is the normal gap at this rate.
   */
  longestPauseSeconds: number;
  steadyLongestGapSeconds: number;
  /** Transactions sent in the phase's steady part (after the group was stable again + settle), and their visible latency. */
  steadySent: number;
  steadyDecided: number;
  visibleP50Ms: number;
  visibleP99Ms: number;
  /**
   * Transactions sent from the change until the group was stable + settle: their latency carries the pause. The
   * group-wide gap above stays short while the partitions that did not move keep flowing; a moved partition's
   * transactions wait until their new owner has its transactional producers, which this max shows.
   */
  transitionVisibleP99Ms: number;
  transitionVisibleMaxMs: number;
  decisionsPerSec: number;
}

/** Longest gap between consecutive times (sorted ascending) in [from, to], counting the edges. */
export function longestGap(sortedTimes: readonly number[], from: number, to: number): number {
  if (to <= from) return 0;
  let prev = from;
  let longest = 0;
  for (const t of sortedTimes) {
    if (t < from) continue;
    if (t > to) break;
    longest = Math.max(longest, t - prev);
    prev = t;
  }
  return Math.max(longest, to - prev);
}

const round = (x: number, digits = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : NaN);

/**
 * Per phase: the pause a reader saw after the change, and latency and rate in the steady part. `settleMs` after
 * the group is stable again counts as transition (the backlog of the pause is decided then).
 */
export function analysePhases(seen: Iterable<Seen>, phases: readonly PhaseWindow[], settleMs: number): PhaseResult[] {
  const all = [...seen];
  const visible = all.flatMap((s) => (s.visibleAt === undefined ? [] : [s.visibleAt])).sort((a, b) => a - b);
  return phases.map((p) => {
    const steadyFrom = Math.min(p.endAt, p.stableAt + settleMs);
    const steady = all.filter((s) => s.sentAt >= steadyFrom && s.sentAt < p.endAt);
    const decided = steady.filter((s) => s.visibleAt !== undefined);
    const latency = summarize(decided.map((s) => s.visibleAt! - s.sentAt));
    const transition = all.filter((s) => s.sentAt >= p.changeAt && s.sentAt < steadyFrom && s.visibleAt !== undefined);
    const changing = summarize(transition.map((s) => s.visibleAt! - s.sentAt));
    const visibleInSteady = visible.filter((t) => t >= steadyFrom && t < p.endAt).length;
    return {
      members: p.members,
      change: p.change,
      rebalanceSeconds: round((p.stableAt - p.changeAt) / 1000),
      longestPauseSeconds: round(longestGap(visible, p.changeAt, steadyFrom) / 1000, 2),
      steadyLongestGapSeconds: round(longestGap(visible, steadyFrom, p.endAt) / 1000, 2),
      steadySent: steady.length,
      steadyDecided: decided.length,
      visibleP50Ms: round(latency.p50, 0),
      visibleP99Ms: round(latency.p99, 0),
      transitionVisibleP99Ms: round(changing.p99, 0),
      transitionVisibleMaxMs: round(changing.max, 0),
      decisionsPerSec: p.endAt > steadyFrom ? round((visibleInSteady * 1000) / (p.endAt - steadyFrom)) : 0,
    };
  });
}

/** `fraudstream_events_total{stage="<stage>"}` from a Prometheus text page (0 when the stage has not counted yet). */
export function eventsCounted(metricsText: string, stage: string): number {
  const re = new RegExp(`^fraudstream_events_total\\{[^}]*stage="${stage}"[^}]*\\}\\s+([0-9.eE+-]+)\\s*$`, 'm');
  const m = re.exec(metricsText);
  return m ? Number(m[1]) : 0;
}

/** Per member: events it counted between two scrapes, as a rate. Members missing from `before` started at 0. */
export function perMemberRates(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, seconds: number): Array<{ member: string; events: number; eventsPerSec: number }> {
  return [...after].map(([member, n]) => {
    const events = n - (before.get(member) ?? 0);
    return { member, events, eventsPerSec: seconds > 0 ? round(events / seconds) : 0 };
  });
}
