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
  /** Output's Kafka timestamp minus the moment its input was handed to the producer. */
  latencyMs: Percentiles;
  /** When the reader (read_committed) saw the output minus the send moment: includes commit and fetch. */
  visibleLatencyMs: Percentiles;
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
}

export interface SideResult {
  burst: BurstResult;
  paced: PacedResult[];
  rssMbMax: number;
}

export interface Summary {
  ceilingEventsPerSec: number;
  pipelineEventsPerSec: number;
  ratio: number | null;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  ceilingP50Ms: number;
  ceilingP95Ms: number;
  ceilingP99Ms: number;
  p99Ratio: number | null;
  rssMbMax: number;
}

/** The top-level fields: pipeline against ceiling, latency taken at the first paced phase (the fixed rate). */
export function summary(ceiling: SideResult, pipeline: SideResult): Summary {
  const c = ceiling.paced[0]?.latencyMs;
  const p = pipeline.paced[0]?.latencyMs;
  const r = ratio(pipeline.burst.eventsPerSec, ceiling.burst.eventsPerSec);
  const lr = ratio(p?.p99, c?.p99);
  return {
    ceilingEventsPerSec: Math.round(ceiling.burst.eventsPerSec),
    pipelineEventsPerSec: Math.round(pipeline.burst.eventsPerSec),
    ratio: r === null ? null : round(r, 3),
    p50Ms: p?.p50 ?? NaN,
    p95Ms: p?.p95 ?? NaN,
    p99Ms: p?.p99 ?? NaN,
    ceilingP50Ms: c?.p50 ?? NaN,
    ceilingP95Ms: c?.p95 ?? NaN,
    ceilingP99Ms: c?.p99 ?? NaN,
    p99Ratio: lr === null ? null : round(lr, 2),
    rssMbMax: Math.round(Math.max(ceiling.rssMbMax, pipeline.rssMbMax)),
  };
}
