/**
 * Drift: how far live traffic has moved from what a model version was trained on, per feature and per model
 * score, measured by the population stability index over quantile bins fixed at training time.
 *
 * Bins: `edges` are ascending cut points; bin i holds x with edges[i-1] < x <= edges[i] (bin 0: x <= edges[0],
 * the last bin: x > the last edge), so k edges make k + 1 bins. Upper-inclusive because many features are
 * counts or flags with a mass at 0: the cut "0" then separates zeros from everything else.
 */

import { FIRST_LINE_MODELS, type FirstLineModelId } from '../../core/model-registry.ts';

export const DRIFT_REFERENCE_FORMAT = 1;
/**
 * One score entry per first-line model (core/model-registry.ts), named like this so it cannot collide with a
 * feature (feature names are snake_case).
 */
export const SCORE_ENTRIES = Object.fromEntries(FIRST_LINE_MODELS.map((m) => [m.id, `score.${m.id}`])) as Record<FirstLineModelId, `score.${FirstLineModelId}`>;
export const DEFAULT_DRIFT_BINS = 10;
/** Floor for an empty bin's share on either side: PSI stays finite, and an empty-vs-tiny bin adds little. */
export const PSI_EPSILON = 1e-4;
/** The usual reading of PSI: below 0.1 stable, 0.1 to 0.2 moderate, above 0.2 shifted. */
export const PSI_THRESHOLDS = { moderate: 0.1, shifted: 0.2 } as const;

export interface DriftEntry {
  name: string;
  kind: 'feature' | 'score';
  /** Which slice of the training data the reference shares come from. */
  slice: 'train' | 'validation';
  rows: number;
  edges: number[];
  /** Share of reference rows per bin (edges.length + 1 values, summing to 1). */
  shares: number[];
}

export interface DriftReference {
  format: typeof DRIFT_REFERENCE_FORMAT;
  bins: number;
  entries: DriftEntry[];
  /** Days of stream behind the reference rows (from the first transaction replayed): windows longer than this were still filling. */
  historyDays?: number;
}

/** Days until chargebacks of a day have mostly arrived (the trainer's default label maturity). */
const LABEL_MATURITY_DAYS = 30;

/**
 * History a feature needs before its distribution settles: its window (`merchant_count_30d`); for label risk
 * (`merchant_fraud_rate_7d_delayed`) also the delay and the time chargebacks of the window take to arrive.
 */
function windowDays(name: string, delayDays: number): number | undefined {
  const m = /_(\d+)d(_|$)/.exec(name);
  if (!m) return undefined;
  return Number(m[1]) + (name.endsWith('_delayed') ? delayDays + LABEL_MATURITY_DAYS : 0);
}

/** Why a feature moves without a change in behaviour, or undefined. */
export function expectedMove(name: string, reference: Pick<DriftReference, 'historyDays'>, delayDays = 7): string | undefined {
  if (EXPECTED_TO_MOVE[name]) return EXPECTED_TO_MOVE[name];
  const w = windowDays(name, delayDays);
  if (w !== undefined && reference.historyDays !== undefined && w > reference.historyDays) {
    return `it needs ${w} days of history and the reference had ${reference.historyDays.toFixed(1)}: still filling`;
  }
  return undefined;
}

/** The bin of x for these edges (binary search). NaN falls in bin 0. */
export function binIndex(edges: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = edges.length;
  // First edge >= x; everything before it is < x.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((edges[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return Number.isNaN(x) ? 0 : lo;
}

/**
 * Up to `bins - 1` distinct cut points at the 1/bins, 2/bins, ... quantiles of the values (fewer when values
 * repeat: a flag gets one cut, at 0). Non-finite values are ignored.
 */
export function quantileEdges(values: ArrayLike<number>, bins = DEFAULT_DRIFT_BINS): number[] {
  const sorted = Float64Array.from(values).filter((v) => Number.isFinite(v)).sort();
  const n = sorted.length;
  if (n === 0) return [];
  const edges: number[] = [];
  for (let j = 1; j < bins; j++) {
    const v = sorted[Math.min(n - 1, Math.max(0, Math.ceil((j * n) / bins) - 1))] as number;
    if (edges.length === 0 || v > (edges[edges.length - 1] as number)) edges.push(v);
  }
  // A cut at the maximum leaves an always-empty last bin; it carries no information.
  while (edges.length && (edges[edges.length - 1] as number) >= (sorted[n - 1] as number)) edges.pop();
  return edges;
}

/** Integer counts per bin. */
export function binCounts(edges: ArrayLike<number>, values: ArrayLike<number>): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) counts[binIndex(edges, values[i] as number)]! += 1;
  return counts;
}

/**
 * Population stability index: sum over bins of (live - ref) * ln(live / ref), shares floored at `epsilon`.
 * NaN when there are no live rows (nothing to compare yet).
 */
export function psi(referenceShares: ArrayLike<number>, liveCounts: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  if (referenceShares.length !== liveCounts.length) throw new Error(`psi: ${referenceShares.length} reference bins but ${liveCounts.length} live bins`);
  let total = 0;
  for (let i = 0; i < liveCounts.length; i++) total += liveCounts[i] as number;
  if (total <= 0) return NaN;
  let sum = 0;
  for (let i = 0; i < liveCounts.length; i++) {
    const r = Math.max(epsilon, referenceShares[i] as number);
    const l = Math.max(epsilon, (liveCounts[i] as number) / total);
    sum += (l - r) * Math.log(l / r);
  }
  return sum;
}

function entry(name: string, kind: DriftEntry['kind'], slice: DriftEntry['slice'], values: ArrayLike<number>, bins: number): DriftEntry {
  const edges = quantileEdges(values, bins);
  const counts = binCounts(edges, values);
  const rows = values.length;
  return { name, kind, slice, rows, edges, shares: counts.map((c) => (rows ? c / rows : 0)) };
}

/**
 * The reference a version stores: bins per feature from the feature rows, per score from the score rows.
 * The trainer passes training-slice vectors and validation-slice scores (XGBoost's scores on its own training
 * rows are more confident than on any unseen traffic, so a training-slice score reference would show drift on day one).
 */
export function buildDriftReference(
  featureNames: readonly string[],
  rows: readonly Float64Array[],
  scores: Record<FirstLineModelId, ArrayLike<number>> & { slice: DriftEntry['slice'] },
  opts: { bins?: number; featureSlice?: DriftEntry['slice']; historyDays?: number } = {},
): DriftReference {
  const bins = opts.bins ?? DEFAULT_DRIFT_BINS;
  const column = new Float64Array(rows.length);
  const entries: DriftEntry[] = featureNames.map((name, j) => {
    for (let i = 0; i < rows.length; i++) column[i] = (rows[i] as Float64Array)[j] as number;
    return entry(name, 'feature', opts.featureSlice ?? 'train', column, bins);
  });
  for (const m of FIRST_LINE_MODELS) entries.push(entry(SCORE_ENTRIES[m.id], 'score', scores.slice, scores[m.id], bins));
  return { format: DRIFT_REFERENCE_FORMAT, bins, entries, ...(opts.historyDays !== undefined ? { historyDays: opts.historyDays } : {}) };
}

/** Checks a parsed drift-reference.json; throws saying what is wrong. */
export function parseDriftReference(raw: unknown): DriftReference {
  const r = raw as Partial<DriftReference> | null;
  if (!r || typeof r !== 'object' || r.format !== DRIFT_REFERENCE_FORMAT || !Array.isArray(r.entries)) {
    throw new Error(`not a drift reference of format ${DRIFT_REFERENCE_FORMAT}`);
  }
  for (const e of r.entries) {
    const ok =
      e && typeof e.name === 'string' && Array.isArray(e.edges) && Array.isArray(e.shares) && e.shares.length === e.edges.length + 1 &&
      e.edges.every((x, i) => Number.isFinite(x) && (i === 0 || x > (e.edges[i - 1] as number))) && e.shares.every((x) => Number.isFinite(x) && x >= 0);
    if (!ok) throw new Error(`drift reference entry ${JSON.stringify((e as { name?: unknown })?.name)}: edges must ascend and shares have one more value`);
  }
  return r as DriftReference;
}

export type ObservedScores = Record<FirstLineModelId, number>;

/**
 * Counts live rows per entry and bin, in memory; `drain()` hands over the counts since the last drain (for one
 * Redis write per batch) and starts again from zero.
 */
export class DriftAccumulator {
  private readonly featureEntries: Array<{ name: string; edges: number[]; index: number }>;
  private readonly scoreEntries: Array<{ name: string; edges: number[]; key: keyof ObservedScores }>;
  private counts = new Map<string, number[]>();
  private observed = 0;

  /** featureNames: the order of the vectors observed (the model's). Features the reference lacks are skipped. */
  constructor(
    readonly reference: DriftReference,
    featureNames: readonly string[],
  ) {
    const byName = new Map(reference.entries.map((e) => [e.name, e]));
    this.featureEntries = featureNames.flatMap((name, index) => {
      const e = byName.get(name);
      return e && e.kind === 'feature' ? [{ name, edges: e.edges, index }] : [];
    });
    this.scoreEntries = (Object.keys(SCORE_ENTRIES) as Array<keyof ObservedScores>).flatMap((key) => {
      const e = byName.get(SCORE_ENTRIES[key]);
      return e ? [{ name: e.name, edges: e.edges, key }] : [];
    });
    this.reset();
  }

  /** Rows observed since the last drain. */
  get rows(): number {
    return this.observed;
  }

  /** vectors[i] and scores[i] belong to the same transaction; a missing vector or score is skipped. */
  observe(vectors: ReadonlyArray<Float64Array | undefined>, scores: ReadonlyArray<ObservedScores | undefined>): void {
    for (let i = 0; i < vectors.length; i++) {
      const v = vectors[i];
      if (!v) continue;
      this.observed++;
      for (const f of this.featureEntries) (this.counts.get(f.name) as number[])[binIndex(f.edges, v[f.index] as number)]! += 1;
      const s = scores[i];
      if (!s) continue;
      for (const e of this.scoreEntries) (this.counts.get(e.name) as number[])[binIndex(e.edges, s[e.key])]! += 1;
    }
  }

  /** Counts since the last drain (entry name -> count per bin), then zero. Empty when nothing was observed. */
  drain(): Record<string, number[]> {
    if (this.observed === 0) return {};
    const out = Object.fromEntries(this.counts);
    this.reset();
    return out;
  }

  private reset(): void {
    this.observed = 0;
    this.counts = new Map([...this.featureEntries, ...this.scoreEntries].map((e) => [e.name, new Array<number>(e.edges.length + 1).fill(0)]));
  }
}

/** Field names of the live-count hash: `<entry>:<bin>`, plus the row counter. */
export const DRIFT_TOTAL_FIELD = '_rows';
export const driftField = (name: string, bin: number) => `${name}:${bin}`;

/** The hash's fields back into counts per entry (the entry name may itself hold ':' in a CSV model). */
export function parseDriftHash(hash: Record<string, string>): { rows: number; counts: Record<string, number[]> } {
  const counts: Record<string, number[]> = {};
  let rows = 0;
  for (const [field, raw] of Object.entries(hash)) {
    const n = Number(raw);
    if (!Number.isFinite(n)) continue;
    if (field === DRIFT_TOTAL_FIELD) {
      rows = n;
      continue;
    }
    const cut = field.lastIndexOf(':');
    const bin = Number(field.slice(cut + 1));
    if (cut <= 0 || !Number.isInteger(bin) || bin < 0 || bin > 10_000) continue;
    const name = field.slice(0, cut);
    const c = (counts[name] ??= []);
    while (c.length <= bin) c.push(0);
    c[bin] = n;
  }
  return { rows, counts };
}

export type DriftStatus = 'stable' | 'moderate' | 'shifted' | 'no data';

/**
 * Features whose distribution moves without any change in behaviour: a card's age and count only grow, and a
 * day-of-week histogram needs a full week of live traffic to match. Their PSI is shown with this note and left
 * out of the shifted/moderate counts, or they would alarm forever.
 */
export const EXPECTED_TO_MOVE: Readonly<Record<string, string>> = {
  card_age_days: 'grows with time by construction',
  card_tx_count_log: 'grows with time by construction',
  day_of_week: 'cyclical: comparable only over whole weeks of live traffic',
};

export interface DriftRow {
  name: string;
  kind: DriftEntry['kind'];
  psi: number | null;
  status: DriftStatus;
  liveRows: number;
  edges: number[];
  referenceShares: number[];
  liveShares: number[];
  /** Set when the entry moves without a change in behaviour (EXPECTED_TO_MOVE); not counted as drift. */
  note?: string;
}

export function driftStatus(p: number | null): DriftStatus {
  if (p === null || !Number.isFinite(p)) return 'no data';
  return p > PSI_THRESHOLDS.shifted ? 'shifted' : p >= PSI_THRESHOLDS.moderate ? 'moderate' : 'stable';
}

/** Rows that count as drift: shifted or moderate and not expected to move. */
export function driftCounts(rows: readonly DriftRow[]): { shifted: number; moderate: number; expected: number } {
  const counted = rows.filter((r) => !r.note);
  return {
    shifted: counted.filter((r) => r.status === 'shifted').length,
    moderate: counted.filter((r) => r.status === 'moderate').length,
    expected: rows.length - counted.length,
  };
}

/** PSI per reference entry against live counts, highest first (entries without live rows last). */
export function driftReport(reference: DriftReference, live: Record<string, ArrayLike<number>>): DriftRow[] {
  const rows = reference.entries.map((e): DriftRow => {
    const note = e.kind === 'feature' ? expectedMove(e.name, reference) : undefined;
    const bins = e.edges.length + 1;
    const raw = live[e.name];
    const counts = Array.from({ length: bins }, (_, i) => (raw && i < raw.length ? Number(raw[i]) || 0 : 0));
    const total = counts.reduce((a, b) => a + b, 0);
    const p = total > 0 ? psi(e.shares, counts) : null;
    return {
      name: e.name,
      kind: e.kind,
      psi: p,
      status: driftStatus(p),
      liveRows: total,
      edges: e.edges,
      referenceShares: e.shares,
      liveShares: counts.map((c) => (total ? c / total : 0)),
      ...(note ? { note } : {}),
    };
  });
  return rows.sort((a, b) => (b.psi ?? -1) - (a.psi ?? -1) || a.name.localeCompare(b.name));
}
