/**
 * Guard rails and evidence: a change that suddenly blocks far more than before is rolled back, and every rule
 * and list is judged by what it caught.
 */

export interface GuardRail {
  /** Roll back when the new block rate exceeds this multiple of the previous one. */
  maxBlockRateFactor: number;
  /** Watch this long after a change. */
  windowMinutes: number;
  /** Decide only after this many decisions under the change (a handful of blocks proves nothing). */
  minDecisions: number;
  /** A previous block rate below this is taken as this, so a change from 0 blocks can still be judged. */
  floorRate: number;
}

export const DEFAULT_GUARD_RAIL: GuardRail = { maxBlockRateFactor: 3, windowMinutes: 10, minDecisions: 200, floorRate: 0.005 };

export interface GuardVerdict {
  rollback: boolean;
  /** Still watching: inside the window and not enough decisions yet to judge. */
  watching: boolean;
  previousRate: number;
  currentRate: number;
  reason: string;
}

export function checkBlockRate(
  g: GuardRail,
  previous: { blocks: number; decisions: number },
  current: { blocks: number; decisions: number },
  minutesSinceChange: number,
  /**
   * The block rate the change is expected to have: when it brings in a model version, the rate its card measured on
   * its test slice. A first model after rules-only blocks by design; judged against that, not against the 0 before.
   */
  expectedRate = 0,
): GuardVerdict {
  const previousRate = previous.decisions === 0 ? 0 : previous.blocks / previous.decisions;
  const currentRate = current.decisions === 0 ? 0 : current.blocks / current.decisions;
  const baseline = Math.max(previousRate, g.floorRate, expectedRate);
  const limit = g.maxBlockRateFactor * baseline;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  if (minutesSinceChange > g.windowMinutes) {
    return { rollback: false, watching: false, previousRate, currentRate, reason: `outside the ${g.windowMinutes}-minute window` };
  }
  if (current.decisions < g.minDecisions) {
    return { rollback: false, watching: true, previousRate, currentRate, reason: `${current.decisions} of ${g.minDecisions} decisions seen` };
  }
  if (currentRate > limit) {
    return {
      rollback: true,
      watching: false,
      previousRate,
      currentRate,
      reason: `block rate ${pct(currentRate)} over ${current.decisions} decisions is more than ${g.maxBlockRateFactor}x ${expectedRate > Math.max(previousRate, g.floorRate) ? `the ${pct(expectedRate)} its model's card expects (previous ${pct(previousRate)})` : `the previous ${pct(previousRate)}`}`,
    };
  }
  return { rollback: false, watching: true, previousRate, currentRate, reason: `block rate ${pct(currentRate)} within ${g.maxBlockRateFactor}x of ${pct(previousRate)}` };
}

export interface RuleEvidenceRow {
  rulesFired: readonly string[];
  amountMinor: number;
  /** Ground truth from a closed case or a label; undefined while unknown. */
  isFraud?: boolean;
}

export interface RuleStats {
  rule: string;
  hits: number;
  labelled: number;
  fraud: number;
  /** fraud / labelled; null until something it hit is labelled. */
  precision: number | null;
  moneyCaught: number;
  /** Only false positives among at least `minLabelled` labelled hits. */
  onlyFalsePositives: boolean;
}

export function ruleStats(rows: readonly RuleEvidenceRow[], minLabelled = 5): RuleStats[] {
  const by = new Map<string, RuleStats>();
  for (const r of rows) {
    for (const rule of new Set(r.rulesFired)) {
      const s = by.get(rule) ?? { rule, hits: 0, labelled: 0, fraud: 0, precision: null, moneyCaught: 0, onlyFalsePositives: false };
      s.hits += 1;
      if (r.isFraud !== undefined) {
        s.labelled += 1;
        if (r.isFraud) {
          s.fraud += 1;
          s.moneyCaught += r.amountMinor;
        }
      }
      by.set(rule, s);
    }
  }
  const out = [...by.values()];
  for (const s of out) {
    s.precision = s.labelled === 0 ? null : s.fraud / s.labelled;
    s.onlyFalsePositives = s.labelled >= minLabelled && s.fraud === 0;
  }
  return out.sort((a, b) => b.hits - a.hits || a.rule.localeCompare(b.rule));
}

/** A rule's or list's counters as the ops service keeps them (state/rule-evidence.ts). */
export interface RuleCountsRow {
  rule: string;
  hits: number;
  labelled: number;
  fraud: number;
  moneyCaught: number;
  currencies: Record<string, number>;
}

export interface RuleStatsView extends RuleStats {
  /** `list` for block/allow list hits (ids `list.*`), `rule` for the rest. */
  kind: 'rule' | 'list';
  /** Currency of the money caught: the commonest among its labelled-fraud hits (amounts are minor units). */
  currency: string | null;
}

/** The console's view of the counters: precision, "only false positives", most hits first. */
export function ruleStatsFromCounts(rows: readonly RuleCountsRow[], minLabelled = 5): RuleStatsView[] {
  return rows
    .map((r) => ({
      rule: r.rule,
      hits: r.hits,
      labelled: r.labelled,
      fraud: r.fraud,
      precision: r.labelled === 0 ? null : r.fraud / r.labelled,
      moneyCaught: r.moneyCaught,
      onlyFalsePositives: r.labelled >= minLabelled && r.fraud === 0,
      kind: r.rule.startsWith('list.') ? ('list' as const) : ('rule' as const),
      currency: Object.entries(r.currencies).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? null,
    }))
    .sort((a, b) => b.hits - a.hits || a.rule.localeCompare(b.rule));
}
