/**
 * The bench's arithmetic, kept free of I/O so it is unit-tested: percentiles, per-event costs, ratios and the
 * top-level summary of the JSON.
 */

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (NaN when empty): the smallest value with p% at or below it. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function summarize(values: readonly number[]): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const arr = Array.from(sorted);
  const sum = arr.reduce((s, v) => s + v, 0);
  return {
    count: arr.length,
    p50: percentile(arr, 50),
    p95: percentile(arr, 95),
    p99: percentile(arr, 99),
    max: arr.length ? arr[arr.length - 1]! : NaN,
    mean: arr.length ? sum / arr.length : NaN,
  };
}

/** a / b, or null when either is missing or b is not positive (a ratio against nothing is not a number to print). */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return a / b;
}

/** Events per second of a phase that started at startMs and whose last output carries lastOutputMs. */
export function eventsPerSecond(events: number, startMs: number, lastOutputMs: number): number {
  const seconds = (lastOutputMs - startMs) / 1000;
  if (events <= 0 || !(seconds > 0)) return NaN;
  return events / seconds;
}

/** CPU microseconds (user + system) per event from two process.cpuUsage readings. */
export function cpuMicrosPerEvent(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage, events: number): number {
  if (events <= 0) return NaN;
  return (after.user - before.user + (after.system - before.system)) / events;
}

/** The rate of the second paced phase: a share of the side's own burst rate, at least 1/s. */
export function shareOfBurst(burstPerSec: number, share: number): number {
  if (!Number.isFinite(burstPerSec) || burstPerSec <= 0) return 1;
  return Math.max(1, Math.round(burstPerSec * share));
}

/**
 * Even pacing: message i of a run at `rate`/s is due `i * 1000 / rate` ms after its start. Returns how many of
 * `total` are due `elapsedMs` in, and at least one more than the `sent` so far (the loop wakes for the next one).
 */
export function dueBy(elapsedMs: number, rate: number, sent: number, total: number): number {
  return Math.min(total, Math.max(sent + 1, Math.floor((elapsedMs * rate) / 1000) + 1));
}

export const round = (n: number, digits = 1): number => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : NaN);

/**
 * Growth of a memory series after its warm-up (the first warmupShare of its events): the mean of the last third
 * of the remaining samples minus the mean of their first third, so one GC sawtooth does not read as growth. Null with fewer than three samples after the warm-up.
 */
export function growthAfterWarmup(series: ReadonlyArray<{ events: number; rssMb: number }>, warmupShare = 0.2): number | null {
  const last = series[series.length - 1];
  if (!last) return null;
  const after = series.filter((s) => s.events >= last.events * warmupShare);
  if (after.length < 3) return null;
  const third = Math.floor(after.length / 3);
  const mean = (xs: ReadonlyArray<{ rssMb: number }>) => xs.reduce((sum, x) => sum + x.rssMb, 0) / xs.length;
  return mean(after.slice(after.length - third)) - mean(after.slice(0, third));
}

export interface PacedResult {
  label: string;
  targetRate: number;
  /** What the sender achieved (events over the sending time): below target means the harness fell behind. */
  sentRate: number;
  events: number;
  /** Inputs per producer send (1 when the sender kept up with the schedule; more when sends took longer than the gap). */
  messagesPerSend?: number;
  /** Output's Kafka timestamp minus the moment its input was handed to the producer. */
  latencyMs: Percentiles;
  /** When the reader (read_committed) saw the output minus the send moment: includes commit and fetch. */
  visibleLatencyMs: Percentiles;
  /**
   * Visible latency by the stage that decided (the pipeline: detect's first line, escalate's second hop); absent for
   * the ceilings. The escalated share takes two hops, so the overall p99 falls among them when they are above 1%.
   */
  visibleByStageMs?: Record<string, Percentiles>;
}

export interface BurstResult {
  events: number;
  produceSeconds: number;
  seconds: number;
  eventsPerSec: number;
  /** Process CPU (every thread: the stages, the bench's producer and reader) per input event. */
  cpuMicrosPerEvent: number;
  /** CPU seconds the process used per wall second of the burst: on a shared machine, how much it was given. */
  cpuCores: number;
  /** The machine's 1-minute load average when the burst ended. */
  loadAvg1m: number;
  /** Main-thread event-loop utilisation over the burst (1 = never idle). */
  eventLoopUtilization: number;
  gcMicrosPerEvent: number;
  /** With repeated bursts: every run's events/s, in order; this result is the median run's. */
  eventsPerSecRuns?: number[];
}

/**
 * Of repeated bursts, the median run by events/s (the lower middle one of an even count), whole, with every run's
 * events/s: one burst's rate moved by a third from run to run on a shared machine (the ceiling's most).
 */
export function medianBurst(runs: readonly BurstResult[]): BurstResult {
  if (runs.length === 0) throw new Error('medianBurst: no runs');
  const sorted = [...runs].sort((a, b) => a.eventsPerSec - b.eventsPerSec);
  return { ...sorted[(sorted.length - 1) >> 1]!, eventsPerSecRuns: runs.map((r) => r.eventsPerSec) };
}

/** A value measured once per repeat: the median and the range across repeats. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** Median (mean of the middle two for an even count) and range; NaN fields when empty. */
export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n === 0 ? NaN : n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return { median, min: n ? sorted[0]! : NaN, max: n ? sorted[n - 1]! : NaN, runs: [...values] };
}

type Pct = 'p50' | 'p95' | 'p99';
const PCTS: readonly Pct[] = ['p50', 'p95', 'p99'];

/** The fixed-rate phase run N times: each percentile's median and spread across the runs. */
export interface RepeatedPaced {
  label: string;
  targetRate: number;
  repeats: number;
  samplesPerRun: number;
  /** Produce -> visible to a read_committed reader of the output topic: the headline. */
  visibleMs: Record<Pct, Spread>;
  /** Output's Kafka CreateTime (stamped by the side's producer before its transaction commits) - send. */
  createTimeMs: Record<Pct, Spread>;
  runs: PacedResult[];
}

export function repeated(runs: PacedResult[]): RepeatedPaced {
  if (runs.length === 0) throw new Error('repeated: no runs');
  const of = (k: 'visibleLatencyMs' | 'latencyMs') => Object.fromEntries(PCTS.map((p) => [p, spread(runs.map((r) => r[k][p]))])) as Record<Pct, Spread>;
  return { label: runs[0]!.label, targetRate: runs[0]!.targetRate, repeats: runs.length, samplesPerRun: runs[0]!.events, visibleMs: of('visibleLatencyMs'), createTimeMs: of('latencyMs'), runs };
}

/** One paced result standing for the repeats: each percentile (and max, mean) the median across them. */
export function medianRun(runs: PacedResult[]): PacedResult {
  const r = repeated(runs);
  const med = (k: 'visibleLatencyMs' | 'latencyMs'): Percentiles => ({
    count: runs.reduce((n, x) => n + x[k].count, 0),
    p50: r[k === 'latencyMs' ? 'createTimeMs' : 'visibleMs'].p50.median,
    p95: r[k === 'latencyMs' ? 'createTimeMs' : 'visibleMs'].p95.median,
    p99: r[k === 'latencyMs' ? 'createTimeMs' : 'visibleMs'].p99.median,
    max: spread(runs.map((x) => x[k].max)).median,
    mean: spread(runs.map((x) => x[k].mean)).median,
  });
  return {
    label: runs.length > 1 ? `${r.label} (median of ${runs.length})` : r.label,
    targetRate: r.targetRate,
    sentRate: spread(runs.map((x) => x.sentRate)).median,
    events: runs.reduce((n, x) => n + x.events, 0),
    latencyMs: med('latencyMs'),
    visibleLatencyMs: med('visibleLatencyMs'),
    ...(runs.every((x) => x.visibleByStageMs) ? { visibleByStageMs: medianByStage(runs.map((x) => x.visibleByStageMs!)) } : {}),
  };
}

/** Per stage, each percentile the median across the runs that have the stage. */
function medianByStage(runs: Record<string, Percentiles>[]): Record<string, Percentiles> {
  const stages = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(
    stages.map((stage) => {
      const of = runs.map((r) => r[stage]).filter((x): x is Percentiles => x !== undefined);
      const m = (k: keyof Percentiles) => spread(of.map((x) => x[k])).median;
      return [stage, { count: of.reduce((n, x) => n + x.count, 0), p50: m('p50'), p95: m('p95'), p99: m('p99'), max: m('max'), mean: m('mean') }];
    }),
  );
}

export interface SideResult {
  burst: BurstResult;
  /** [the fixed rate (medians over the repeats), the share of the side's own burst rate] */
  paced: PacedResult[];
  /** The fixed-rate phase's repeats, when it was repeated. */
  fixedRate?: RepeatedPaced;
  rssMbMax: number;
}

export interface Summary {
  /** Produce -> visible to a read_committed decisions reader at the fixed rate, median of the repeats: the headline. */
  visibleP50Ms: number;
  visibleP95Ms: number;
  visibleP99Ms: number;
  visibleP99SpreadMs: { min: number; max: number } | null;
  ceilingVisibleP99Ms: number;
  twoHopCeilingVisibleP99Ms: number;
  twoHopCeilingEventsPerSec: number;
  /** Pipeline visible p99 / two-hop ceiling visible p99 (aim <= 2). */
  visibleP99RatioTwoHop: number | null;
  ceilingEventsPerSec: number;
  pipelineEventsPerSec: number;
  ratio: number | null;
  /** Pipeline burst events/s / two-hop ceiling burst events/s. */
  ratioTwoHop: number | null;
  /** Secondary: output CreateTime - send (earlier than any read_committed reader can see it). */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  ceilingP50Ms: number;
  ceilingP95Ms: number;
  ceilingP99Ms: number;
  p99Ratio: number | null;
  rssMbMax: number;
}

/** The top-level fields: pipeline against the ceilings, latency taken at the first paced phase (the fixed rate). */
export function summary(ceiling: SideResult, pipeline: SideResult, twoHop?: SideResult): Summary {
  const c = ceiling.paced[0];
  const p = pipeline.paced[0];
  const t = twoHop?.paced[0];
  const r = ratio(pipeline.burst.eventsPerSec, ceiling.burst.eventsPerSec);
  const r2 = twoHop ? ratio(pipeline.burst.eventsPerSec, twoHop.burst.eventsPerSec) : null;
  const lr = ratio(p?.latencyMs.p99, c?.latencyMs.p99);
  const vr = ratio(p?.visibleLatencyMs.p99, t?.visibleLatencyMs.p99);
  const sp = pipeline.fixedRate?.visibleMs.p99;
  return {
    visibleP50Ms: p?.visibleLatencyMs.p50 ?? NaN,
    visibleP95Ms: p?.visibleLatencyMs.p95 ?? NaN,
    visibleP99Ms: p?.visibleLatencyMs.p99 ?? NaN,
    visibleP99SpreadMs: sp ? { min: sp.min, max: sp.max } : null,
    ceilingVisibleP99Ms: c?.visibleLatencyMs.p99 ?? NaN,
    twoHopCeilingVisibleP99Ms: t?.visibleLatencyMs.p99 ?? NaN,
    twoHopCeilingEventsPerSec: twoHop ? Math.round(twoHop.burst.eventsPerSec) : NaN,
    visibleP99RatioTwoHop: vr === null ? null : round(vr, 2),
    ceilingEventsPerSec: Math.round(ceiling.burst.eventsPerSec),
    pipelineEventsPerSec: Math.round(pipeline.burst.eventsPerSec),
    ratio: r === null ? null : round(r, 3),
    ratioTwoHop: r2 === null ? null : round(r2, 3),
    p50Ms: p?.latencyMs.p50 ?? NaN,
    p95Ms: p?.latencyMs.p95 ?? NaN,
    p99Ms: p?.latencyMs.p99 ?? NaN,
    ceilingP50Ms: c?.latencyMs.p50 ?? NaN,
    ceilingP95Ms: c?.latencyMs.p95 ?? NaN,
    ceilingP99Ms: c?.latencyMs.p99 ?? NaN,
    p99Ratio: lr === null ? null : round(lr, 2),
    rssMbMax: Math.round(Math.max(ceiling.rssMbMax, pipeline.rssMbMax, twoHop?.rssMbMax ?? 0)),
  };
}
