/**
 * `bench`: the pipeline measured against its ceiling in one run, on the same broker, partitions and harness.
 * 1. ceiling: a plain kafkajs pass-through (bench/ceiling.ts) on its own topics and group;
 * 2. pipeline: detect + escalate (startPipeline) with a trained model version (one is trained if none exists).
 * Each side: a warm-up, a burst (events/s end to end, CPU, event-loop use, GC), then paced sends at --rate and
 * at --share of the side's own burst rate (produce-to-output latency). Optionally a soak with an RSS series.
 * Topics and Redis keys are unique to the run and removed afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isolatedConfig, type Config } from '../core/config.ts';
import { PIPELINE_STAGES, type Transaction } from '../core/contracts.ts';

/**
 * The stages the bench runs: every registered one but the ops service (guard rail, outbox, rule statistics), which
 * reads the decisions off the measured path; the numbers in the README were measured without it.
 */
const BENCH_STAGES = PIPELINE_STAGES.filter((s) => s !== 'ops');
import { createKafka, ensureTopics } from '../core/kafka.ts';
import { createRedis } from '../core/redis.ts';
import { listVersionEntries } from '../detectors/version-names.ts';
import { WORLD_GENERATOR } from '../producers/world/history.ts';
import { assertModelChoice } from './pipeline/model-choice.ts';
import { table } from '../detectors/progress.ts';
import { generateStream } from '../producers/world/index.ts';
import { ceilingKafka, startPassThrough, type CeilingMode } from './pipeline/ceiling.ts';
import { renderChart } from './pipeline/chart.ts';
import { flatObjectField, GcClock, Harness, MemorySampler, stringField } from './pipeline/harness.ts';
import { growthAfterWarmup, medianBurst, medianRun, ratio, repeated, round, shareOfBurst, summarize, summary, type BurstResult, type PacedResult, type RepeatedPaced, type SideResult, type Spread, type Summary } from './pipeline/stats.ts';
import { registry } from '../router/metrics.ts';
import { startPipeline } from '../router/pipeline.ts';
import { loadNamedVersion, loadServingModels } from '../router/serving-models.ts';
import { startShadow, stopShadow } from '../router/shadow/control.ts';
import { ShadowStore } from '../state/shadow.ts';
import type { ShadowWorker } from '../router/shadow/worker.ts';

export interface BenchOptions {
  config: Config;
  /** Burst size per side. */
  events: number;
  /** The fixed paced rate (tx/s) both sides are measured at. */
  rate: number;
  /** Events per paced run (sent evenly at the run's rate). */
  samples: number;
  /** How many times the fixed-rate phase runs (median and spread of each percentile are reported). */
  repeat: number;
  /** The second paced phase runs at this share of the side's own burst rate. */
  share: number;
  warmup: number;
  model: string;
  trainEvents: number;
  instances: number;
  ceilingMode: CeilingMode;
  /** Events pushed through the pipeline after the measured phases, RSS recorded along the way (0: none). */
  soak: number;
  json: string;
  chart: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

const SEED = 5;
const CARDS = 10_000;
const SOAK_WINDOW = 20_000;
const BIN = fileURLToPath(new URL('../bin/fraudstream.js', import.meta.url));

function transactionSource(): (n: number) => Transaction[] {
  const stream = generateStream({ seed: SEED, events: Number.MAX_SAFE_INTEGER, cards: CARDS });
  return (n) => {
    const out: Transaction[] = [];
    for (let i = 0; i < n; i++) out.push(stream.next().value!.tx);
    return out;
  };
}

/** Fails before anything runs when the model choice cannot be served; trains one when "latest" finds none. */
/**
 * The version the bench serves: a folder given, none, or with `latest` the newest version trained on the generated
 * world (the bench's stream), trained first if there is none. A version trained on a user's own file is skipped:
 * its features and thresholds fit their stream, not this one (it escalated 91% of the bench's stream in a run).
 */
async function prepareModel(o: BenchOptions): Promise<{ trained?: string; model: string }> {
  if (o.model === 'none') return { model: 'none' };
  if (o.model !== 'latest') {
    await assertModelChoice(o.model);
    return { model: o.model };
  }
  const generated = (await listVersionEntries(o.config.modelDir, { readCards: true })).filter((v) => isGeneratedWorld(v.card));
  if (generated.length > 0) return { model: generated[generated.length - 1]!.dir };
  o.log(`no model version under ${path.resolve(o.config.modelDir)} trained on the generated world: training one on ${o.trainEvents.toLocaleString()} generated events first (in a child process, so its memory is not counted)`);
  // The same small model `npm run demo` trains; the child's stdout (its summary) goes to stderr with its progress.
  const args = [BIN, 'train', '--events', String(o.trainEvents), '--seed', '7', '--heavy-epochs', '3', '--heavy-rows', '20000'];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 2, 2], env: { ...process.env, MODEL_DIR: o.config.modelDir } });
    const onAbort = () => child.kill('SIGINT');
    o.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', reject);
    child.on('exit', (c, sig) => {
      o.signal.removeEventListener('abort', onAbort);
      resolve(c ?? (sig ? 128 : 1));
    });
  });
  if (code !== 0) throw new Error(`training a model version failed (exit ${code}); run npm run train to see why`);
  const versions = await listVersionEntries(o.config.modelDir, { readCards: false });
  const newest = versions[versions.length - 1]!;
  return { trained: newest.name, model: newest.dir };
}

/** A model card whose training data came from producers/world (the bench's own stream), not a user's file. */
export function isGeneratedWorld(card: Record<string, unknown> | null): boolean {
  const source = card?.source as { generator?: unknown } | undefined;
  return source?.generator === WORLD_GENERATOR;
}

/** Sum and count of a stage-labelled prom-client metric, per stage (empty if the metric is gone). */
async function stageTotals(name: string): Promise<Record<string, { sum: number; count: number }>> {
  const metric = registry.getSingleMetric(name);
  const out: Record<string, { sum: number; count: number }> = {};
  if (!metric) return out;
  const data = await metric.get();
  for (const v of data.values) {
    const stage = String(v.labels.stage ?? '');
    const entry = (out[stage] ??= { sum: 0, count: 0 });
    const metricName = (v as { metricName?: string }).metricName ?? name;
    if (metricName.endsWith('_sum') || metricName === name) entry.sum += v.value;
    else if (metricName.endsWith('_count')) entry.count += v.value;
  }
  return out;
}

/** Seconds per stage and runner phase (claim, decide, send, offsets, commit) of the phase counter. */
async function phaseTotals(): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('fraudstream_batch_phase_seconds_total');
  const out: Record<string, number> = {};
  if (!metric) return out;
  for (const v of (await metric.get()).values) out[`${String(v.labels.stage)}.${String(v.labels.phase)}`] = (out[`${String(v.labels.stage)}.${String(v.labels.phase)}`] ?? 0) + v.value;
  return out;
}

async function runnerSnapshot() {
  return { batch: await stageTotals('fraudstream_batch_seconds'), events: await stageTotals('fraudstream_events_total'), phases: await phaseTotals() };
}

async function dropKeys(config: Config, log: (l: string) => void): Promise<number> {
  const redis = createRedis(config, 'redis-bench');
  let cursor = '0';
  let n = 0;
  let lastLog = Date.now();
  try {
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.redis.keyPrefix}*`, 'COUNT', 2000);
      if (keys.length) n += await redis.unlink(...keys);
      cursor = next;
      if (Date.now() - lastLog > 3_000) {
        lastLog = Date.now();
        log(`  cleanup: ${n.toLocaleString()} Redis keys removed`);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return n;
}

async function joined(what: string, ready: Promise<void>, seconds = 60): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not join its consumer group within ${seconds} s; is the broker answering?`)), seconds * 1000);
  });
  try {
    await Promise.race([ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const fmtInt = (n: number | null | undefined) => (n == null || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const fmt1 = (n: number | null | undefined) => (n == null || !Number.isFinite(n) ? 'n/a' : (Math.round(n * 10) / 10).toLocaleString('en-US'));
const fmtRatio = (n: number | null) => (n === null ? 'n/a' : n.toFixed(2));

export interface StepCosts {
  method: string;
  escalatedShare: number;
  detect: { events: number; logicMicrosPerEvent: number; logicP50Micros: number; logicP99Micros: number; batchMicrosPerEvent: number | null; runnerMicrosPerEvent: number | null };
  escalate: { events: number; logicMicrosPerEvent: number; logicP50Micros: number; logicP99Micros: number; batchMicrosPerEvent: number | null; runnerMicrosPerEvent: number | null };
  processCpuMicrosPerEvent: number;
  /** Runner wall time per event of its stage, per phase (stage.phase: claim, decide, send, offsets, commit), over the burst; partitions overlap, so these sum above the CPU. */
  phaseMicrosPerEvent?: Record<string, number>;
  /** Mean size of a decision on the decisions topic over the burst (the value, bytes). */
  bytesPerDecision?: number;
}

/** detect with and without a shadow challenger: back-to-back bursts of the same size (issue 13). */
export interface ShadowCost {
  method: string;
  challenger: string;
  events: number;
  without: { detectLogicMicrosPerEvent: number; detectBatchMicrosPerEvent: number | null; processCpuMicrosPerEvent: number; eventsPerSec: number };
  /** The two bursts without a challenger, before and after the one with it (`without` is their mean). */
  withoutRuns?: Array<ShadowCost['without']>;
  with: { detectLogicMicrosPerEvent: number; detectBatchMicrosPerEvent: number | null; processCpuMicrosPerEvent: number; eventsPerSec: number };
  /** The shadow worker's own wall time per shadowed transaction (after commit; includes its Redis round trips). */
  workerMicrosPerEvent: number | null;
  shadowedEvents: number;
  skippedEvents: number;
}

export interface BenchResult extends Summary {
  at: string;
  machine: Record<string, unknown>;
  method: Record<string, unknown>;
  ceiling: SideResult & { concurrentTransactionRetries?: Record<string, number> };
  /** Two transactional hops (input -> middle -> output), outputs padded to the pipeline's mean decision size. */
  twoHopCeiling?: SideResult & { concurrentTransactionRetries?: Record<string, number>; outputBytes: number };
  pipeline: SideResult & { model: string; burstDecisions: Record<string, number>; steps: StepCosts; shadow?: ShadowCost | { skipped: string } };
  soak?: { events: number; seconds: number; eventsPerSec: number; series: Array<{ events: number; rssMb: number; heapMb: number; seconds: number }>; rssGrowthMbAfterWarmup: number | null };
}

const fmtSpread = (sp: Spread | undefined) =>
  sp === undefined ? 'n/a' : sp.runs.length > 1 ? `${fmtInt(sp.median)} (${fmtInt(sp.min)}-${fmtInt(sp.max)})` : fmtInt(sp.median);

export function renderTables(r: BenchResult): string {
  const c = r.ceiling;
  const t = r.twoHopCeiling;
  const p = r.pipeline;
  const lat = (side: SideResult | undefined, i: number, k: 'p50' | 'p95' | 'p99' | 'max', which: 'latencyMs' | 'visibleLatencyMs' = 'latencyMs') => side?.paced[i]?.[which][k];
  const fixed = p.fixedRate;
  const head: Array<Array<string | number>> = [];
  for (const k of ['p50', 'p95', 'p99'] as const) {
    head.push([
      `visible ${k} ms`,
      fmtSpread(fixed?.visibleMs[k] ?? (lat(p, 0, k, 'visibleLatencyMs') === undefined ? undefined : { median: lat(p, 0, k, 'visibleLatencyMs')!, min: NaN, max: NaN, runs: [] })),
      fmtSpread(t?.fixedRate?.visibleMs[k]),
      fmtSpread(c.fixedRate?.visibleMs[k]),
      fmtRatio(ratio(lat(p, 0, k, 'visibleLatencyMs'), lat(t, 0, k, 'visibleLatencyMs'))),
    ]);
  }
  head.push([
    'CreateTime p99 ms (secondary: before the commit)',
    fmtSpread(fixed?.createTimeMs.p99),
    fmtSpread(t?.fixedRate?.createTimeMs.p99),
    fmtSpread(c.fixedRate?.createTimeMs.p99),
    fmtRatio(ratio(lat(p, 0, 'p99'), lat(t, 0, 'p99'))),
  ]);
  head.push(['burst events/s (end to end)', fmtInt(p.burst.eventsPerSec), fmtInt(t?.burst.eventsPerSec), fmtInt(c.burst.eventsPerSec), fmtRatio(r.ratioTwoHop ?? null)]);
  const rows: Array<Array<string | number>> = [
    ['burst events/s (end to end)', fmtInt(c.burst.eventsPerSec), fmtInt(t?.burst.eventsPerSec), fmtInt(p.burst.eventsPerSec), fmtRatio(r.ratio)],
    ...(c.burst.eventsPerSecRuns && c.burst.eventsPerSecRuns.length > 1
      ? [['burst events/s, each run (the median above)', runsText(c.burst), t ? runsText(t.burst) : 'n/a', runsText(p.burst), '']]
      : []),
    ['burst: process CPU µs per event', fmtInt(c.burst.cpuMicrosPerEvent), fmtInt(t?.burst.cpuMicrosPerEvent), fmtInt(p.burst.cpuMicrosPerEvent), fmtRatio(ratio(p.burst.cpuMicrosPerEvent, c.burst.cpuMicrosPerEvent))],
    [
      'burst: CPU cores the process got (load avg)',
      `${c.burst.cpuCores.toFixed(2)} (${c.burst.loadAvg1m.toFixed(1)})`,
      t ? `${t.burst.cpuCores.toFixed(2)} (${t.burst.loadAvg1m.toFixed(1)})` : 'n/a',
      `${p.burst.cpuCores.toFixed(2)} (${p.burst.loadAvg1m.toFixed(1)})`,
      '',
    ],
    ['burst: event-loop utilisation', c.burst.eventLoopUtilization.toFixed(2), t ? t.burst.eventLoopUtilization.toFixed(2) : 'n/a', p.burst.eventLoopUtilization.toFixed(2), ''],
    ['burst: GC µs per event', fmt1(c.burst.gcMicrosPerEvent), fmt1(t?.burst.gcMicrosPerEvent), fmt1(p.burst.gcMicrosPerEvent), ''],
  ];
  for (const i of [0, 1]) {
    const name = c.paced[i]?.label ?? p.paced[i]?.label;
    if (!name) continue;
    const rate = (side: SideResult | undefined) => (side?.paced[i] ? `${fmtInt(side.paced[i].sentRate)} (${fmtInt(side.paced[i].targetRate)})` : 'n/a');
    rows.push([`${name}: rate sent/s (target)`, rate(c), rate(t), rate(p), '']);
    for (const k of ['p50', 'p95', 'p99', 'max'] as const) {
      rows.push([`${name}: visible ${k} ms`, fmtInt(lat(c, i, k, 'visibleLatencyMs')), fmtInt(lat(t, i, k, 'visibleLatencyMs')), fmtInt(lat(p, i, k, 'visibleLatencyMs')), fmtRatio(ratio(lat(p, i, k, 'visibleLatencyMs'), lat(c, i, k, 'visibleLatencyMs')))]);
    }
    // Which hop the pipeline's latency comes from: decided by detect (one hop) or by escalate (two).
    for (const [stage, v] of Object.entries(p.paced[i]?.visibleByStageMs ?? {})) {
      rows.push([`${name}: visible p50 / p99 ms, decided by ${stage} (${fmtInt(v.count)})`, '', '', `${fmtInt(v.p50)} / ${fmtInt(v.p99)}`, '']);
    }
    for (const k of ['p50', 'p99'] as const) {
      rows.push([`${name}: CreateTime latency ${k} ms`, fmtInt(lat(c, i, k)), fmtInt(lat(t, i, k)), fmtInt(lat(p, i, k)), fmtRatio(ratio(lat(p, i, k), lat(c, i, k)))]);
    }
  }
  rows.push(['RSS max MB (while the side ran)', fmtInt(c.rssMbMax), fmtInt(t?.rssMbMax), fmtInt(p.rssMbMax), '']);
  if (c.concurrentTransactionRetries) {
    rows.push(['CONCURRENT_TRANSACTIONS retries (burst / paced)', Object.values(c.concurrentTransactionRetries).join(' / '), t?.concurrentTransactionRetries ? Object.values(t.concurrentTransactionRetries).join(' / ') : 'n/a', 'not counted', '']);
  }
  const s = p.steps;
  const stepRows: Array<Array<string | number>> = [
    ['detect: logic (features, IF, XGBoost, policy)', fmt1(s.detect.logicMicrosPerEvent), fmt1(s.detect.logicP50Micros), fmt1(s.detect.logicP99Micros), fmtInt(s.detect.events)],
    ['detect: runner (parse, dedupe, Kafka transaction)', fmt1(s.detect.runnerMicrosPerEvent), '', '', ''],
    ['escalate: logic (history, heavy model), per escalated', fmt1(s.escalate.logicMicrosPerEvent), fmt1(s.escalate.logicP50Micros), fmt1(s.escalate.logicP99Micros), fmtInt(s.escalate.events)],
    ['escalate: runner, per escalated', fmt1(s.escalate.runnerMicrosPerEvent), '', '', ''],
    ['process CPU, per input event', fmt1(s.processCpuMicrosPerEvent), '', '', ''],
    ...Object.entries(s.phaseMicrosPerEvent ?? {}).map(([k, v]) => [`runner phase ${k} (wall, per event of its stage)`, fmt1(v), '', '', '']),
  ];
  const runs = fixed ? `median of ${fixed.repeats} runs of ${fmtInt(fixed.samplesPerRun)} events (min-max)` : 'one run';
  const out = [
    `what a decisions consumer sees: produce -> visible to a read_committed reader at ${fmtInt(c.paced[0]?.targetRate ?? p.paced[0]?.targetRate)}/s, ${runs}`,
    table(['measure', 'pipeline', 'two-hop ceiling', 'one-hop ceiling', 'pipeline/two-hop'], head),
    '',
    `ceilings vs pipeline (${String(r.method.partitions)} partitions, model ${p.model}; ${String(r.machine.cpus)} cores, load ${String(r.machine.loadAvgStart)} at start${typeof r.machine.brokerTopicsAtStart === 'number' ? `, ${fmtInt(r.machine.brokerTopicsAtStart)} topics on the broker at start` : ''}; two-hop outputs ${t ? `${fmtInt(t.outputBytes)} bytes` : 'n/a'})`,
    table(['measure', 'one-hop ceiling', 'two-hop ceiling', 'pipeline', 'pipeline/one-hop'], rows),
    '',
    `pipeline µs per event per step, burst (escalated ${(s.escalatedShare * 100).toFixed(1)}%; runner = batch wall time minus logic); ${fmtInt(s.bytesPerDecision)} bytes per decision`,
    table(['step', 'mean µs', 'p50 µs', 'p99 µs', 'events'], stepRows),
  ];
  const sh = p.shadow;
  if (sh && 'without' in sh) {
    const d = (a: number | null, b: number | null) => (a === null || b === null ? 'n/a' : `${b - a >= 0 ? '+' : ''}${fmt1(b - a)}`);
    out.push(
      '',
      `detect with a shadow challenger (${sh.challenger}), bursts of ${fmtInt(sh.events)} events (without = mean of the bursts before and after); the challenger runs after commit`,
      table(
        ['measure', 'without', 'with challenger', 'change'],
        [
          ['detect: logic µs per event (decision path)', fmt1(sh.without.detectLogicMicrosPerEvent), fmt1(sh.with.detectLogicMicrosPerEvent), d(sh.without.detectLogicMicrosPerEvent, sh.with.detectLogicMicrosPerEvent)],
          ['detect: batch µs per event (runner + logic)', fmt1(sh.without.detectBatchMicrosPerEvent), fmt1(sh.with.detectBatchMicrosPerEvent), d(sh.without.detectBatchMicrosPerEvent, sh.with.detectBatchMicrosPerEvent)],
          ['process CPU µs per event', fmt1(sh.without.processCpuMicrosPerEvent), fmt1(sh.with.processCpuMicrosPerEvent), d(sh.without.processCpuMicrosPerEvent, sh.with.processCpuMicrosPerEvent)],
          ['burst events/s', fmtInt(sh.without.eventsPerSec), fmtInt(sh.with.eventsPerSec), d(sh.without.eventsPerSec, sh.with.eventsPerSec)],
          ['shadow worker wall µs per shadowed event', '', fmt1(sh.workerMicrosPerEvent), ''],
          ['shadowed / skipped events', '', `${fmtInt(sh.shadowedEvents)} / ${fmtInt(sh.skippedEvents)}`, ''],
        ],
      ),
    );
  } else if (sh) out.push('', `shadow cost: not measured (${sh.skipped})`);
  if (r.soak) {
    out.push(
      '',
      `soak: ${fmtInt(r.soak.events)} events at ${fmtInt(r.soak.eventsPerSec)}/s; RSS ${fmt1(r.soak.series[0]?.rssMb)} -> ${fmt1(r.soak.series.at(-1)?.rssMb)} MB, growth after warm-up ${fmt1(r.soak.rssGrowthMbAfterWarmup)} MB`,
    );
  }
  out.push(
    '',
    `headline at ${fmtInt(c.paced[0]?.targetRate)}/s: visible p99 ${fmtInt(r.visibleP99Ms)} ms${r.visibleP99SpreadMs ? ` (runs ${fmtInt(r.visibleP99SpreadMs.min)}-${fmtInt(r.visibleP99SpreadMs.max)})` : ''}, ${fmtRatio(r.visibleP99RatioTwoHop)}x the two-hop ceiling's ${fmtInt(r.twoHopCeilingVisibleP99Ms)} ms (one-hop ${fmtInt(r.ceilingVisibleP99Ms)} ms); ` +
      `throughput ratio ${fmtRatio(r.ratio)} of the one-hop ceiling (${fmtInt(r.pipelineEventsPerSec)} / ${fmtInt(r.ceilingEventsPerSec)}/s), ${fmtRatio(r.ratioTwoHop)} of the two-hop (${fmtInt(r.twoHopCeilingEventsPerSec)}/s); CreateTime p99 ${fmtInt(r.p99Ms)} ms`,
  );
  return out.join('\n');
}

/**
 * Three back-to-back bursts of the same size, without, with and again without a shadow challenger: what shadowing costs detect. The
 * decision path's µs come from the timings decisions carry; the worker's own time runs after commit, off that path,
 * but on the same cores (process CPU shows it).
 */
async function measureShadowCost(a: {
  o: BenchOptions;
  pipelineConfig: Config;
  model: string | undefined;
  worker: ShadowWorker | undefined;
  ph: Harness;
  gc: GcClock;
  timings: { detect: number[]; escalate: number[] };
}): Promise<ShadowCost | { skipped: string }> {
  const { o, worker, ph, gc, timings } = a;
  if (!a.model || !worker) return { skipped: 'rules-only: no model version to shadow' };
  const events = Math.min(o.events, 10_000);
  const burst = async (label: string) => {
    timings.detect.length = 0;
    const before = await runnerSnapshot();
    const b = await ph.burst(label, events, gc);
    const after = await runnerSnapshot();
    const n = (after.events.detect?.sum ?? 0) - (before.events.detect?.sum ?? 0);
    const secs = (after.batch.detect?.sum ?? 0) - (before.batch.detect?.sum ?? 0);
    return {
      detectLogicMicrosPerEvent: round(summarize(timings.detect).mean),
      detectBatchMicrosPerEvent: n > 0 ? round((secs * 1e6) / n) : null,
      processCpuMicrosPerEvent: round(b.cpuMicrosPerEvent),
      eventsPerSec: Math.round(b.eventsPerSec),
    };
  };
  const before = await burst('pipeline, no challenger');
  const redis = createRedis(a.pipelineConfig, 'bench-shadow');
  try {
    // The challenger is looked up by name (MODEL_DIR) only to check the folder; the pipeline's loader hands the served bundle.
    await startShadow(redis, a.pipelineConfig.redis.keyPrefix, a.pipelineConfig.modelDir, { model: a.model, by: 'bench' }).catch(async (err: unknown) => {
      o.log(`  shadow: ${String(err)}; starting it without the folder check`);
      await new ShadowStore(redis, a.pipelineConfig.redis.keyPrefix).start({ model: a.model!, startedAt: Date.now(), by: 'bench', thresholds: 'policy', matureAt: 0.8 });
    });
    await worker.refresh();
    const c0 = worker.cost();
    const withShadow = await burst(`pipeline, challenger ${a.model}`);
    await worker.drain();
    const c1 = worker.cost();
    await stopShadow(redis, a.pipelineConfig.redis.keyPrefix, 'bench');
    await worker.refresh();
    // Without on both sides of with, so warm-up and a drifting machine load do not land on one side only.
    const afterRun = await burst('pipeline, no challenger again');
    const mean = (x: number | null, y: number | null) => (x === null || y === null ? null : round((x + y) / 2));
    const without = {
      detectLogicMicrosPerEvent: round((before.detectLogicMicrosPerEvent + afterRun.detectLogicMicrosPerEvent) / 2),
      detectBatchMicrosPerEvent: mean(before.detectBatchMicrosPerEvent, afterRun.detectBatchMicrosPerEvent),
      processCpuMicrosPerEvent: round((before.processCpuMicrosPerEvent + afterRun.processCpuMicrosPerEvent) / 2),
      eventsPerSec: Math.round((before.eventsPerSec + afterRun.eventsPerSec) / 2),
    };
    const shadowed = c1.events - c0.events;
    o.log(`shadow: detect logic ${fmt1(without.detectLogicMicrosPerEvent)} -> ${fmt1(withShadow.detectLogicMicrosPerEvent)} µs/event; worker ${fmt1(shadowed ? (c1.micros - c0.micros) / shadowed : null)} µs per shadowed event`);
    return {
      method: 'three bursts of the same size back to back on the warm pipeline: without, with, without a shadow challenger (without = the mean of both); detect logic = the timings its decisions carry; batch = runner metrics; the worker\'s wall time is measured around each shadow batch (it runs after commit)',
      challenger: a.model,
      events,
      without,
      withoutRuns: [before, afterRun],
      with: withShadow,
      workerMicrosPerEvent: shadowed ? round((c1.micros - c0.micros) / shadowed) : null,
      shadowedEvents: shadowed,
      skippedEvents: c1.skippedEvents - c0.skippedEvents,
    };
  } finally {
    await stopShadow(redis, a.pipelineConfig.redis.keyPrefix, 'bench').catch(() => undefined);
    redis.disconnect();
  }
}

const runsText = (b: BurstResult): string => (b.eventsPerSecRuns ?? [b.eventsPerSec]).map((x) => fmtInt(x)).join(' / ');

/** `repeat` bursts back to back: the median run, with every run's rate. */
async function bursts(h: Harness, label: string, o: BenchOptions, gc: GcClock): Promise<BurstResult> {
  const runs: BurstResult[] = [];
  for (let k = 1; k <= o.repeat; k++) runs.push(await h.burst(o.repeat > 1 ? `${label} (${k}/${o.repeat})` : label, o.events, gc));
  return medianBurst(runs);
}

/** The fixed rate `repeat` times, then the share of the side's own burst rate once. */
async function pacedPhases(h: Harness, label: string, o: BenchOptions, burstPerSec: number): Promise<{ paced: PacedResult[]; fixedRate: RepeatedPaced }> {
  const runs: PacedResult[] = [];
  for (let k = 1; k <= o.repeat; k++) {
    const r = await h.paced(`${label} (${k}/${o.repeat})`, `${o.rate}/s`, o.rate, o.samples);
    o.log(`  ${label} ${o.rate}/s run ${k}: visible p50/p95/p99 ${fmtInt(r.visibleLatencyMs.p50)} / ${fmtInt(r.visibleLatencyMs.p95)} / ${fmtInt(r.visibleLatencyMs.p99)} ms (CreateTime p99 ${fmtInt(r.latencyMs.p99)} ms)`);
    runs.push(r);
  }
  const half = `${Math.round(o.share * 100)}% of burst`;
  const shareRun = await h.paced(label, half, shareOfBurst(burstPerSec, o.share), o.samples);
  return { paced: [medianRun(runs), shareRun], fixedRate: repeated(runs) };
}

type CeilingSide = SideResult & { concurrentTransactionRetries: Record<string, number> };

/** A pass-through ceiling on its own topics and groups, measured through the same harness as the pipeline. */
async function measureCeiling(a: {
  o: BenchOptions;
  config: Config;
  hops: 1 | 2;
  padToBytes: number;
  kafka: ReturnType<typeof createKafka>;
  memory: MemorySampler;
  gc: GcClock;
  cleanups: Array<() => Promise<unknown>>;
  stopAll: () => Promise<void>;
}): Promise<{ side: CeilingSide; method: Record<string, unknown> }> {
  const { o, config, hops } = a;
  const name = hops === 2 ? 'two-hop ceiling' : 'ceiling';
  o.log(`${name}: kafkajs pass-through (${o.ceilingMode}, ${hops} hop${hops === 2 ? 's' : ''}${a.padToBytes ? `, outputs padded to ${a.padToBytes} bytes` : ''}) on ${config.topics.transactions}`);
  await ensureTopics(config);
  const client = ceilingKafka(o.config.kafka, `${o.config.kafka.clientId}-${hops === 2 ? 'ceiling2' : 'ceiling'}`);
  const pass = await startPassThrough({
    kafka: client.kafka,
    mode: o.ceilingMode,
    hops,
    partitions: o.config.kafka.partitions,
    log: o.log,
    inputTopic: config.topics.transactions,
    middleTopic: config.topics.escalations,
    outputTopic: config.topics.decisions,
    groupId: config.groups.detect,
    padToBytes: a.padToBytes,
  });
  a.cleanups.push(() => pass.stop());
  const h = new Harness({ kafka: a.kafka, inputTopic: config.topics.transactions, outputTopic: config.topics.decisions, readerGroup: `${config.groups.detect}-reader`, next: transactionSource(), log: o.log, signal: o.signal });
  await h.start();
  a.cleanups.push(() => h.stop());
  await joined(`the ${name}`, pass.ready);
  a.memory.mark();
  await h.warmup(o.warmup);
  const retries: Record<string, number> = {};
  const counted = async <T>(phase: string, run: () => Promise<T>): Promise<T> => {
    const before = client.concurrentTransactions();
    const r = await run();
    retries[phase] = (retries[phase] ?? 0) + client.concurrentTransactions() - before;
    return r;
  };
  const burst = await counted('burst', () => bursts(h, name, o, a.gc));
  o.log(`${name}: ${fmtInt(burst.eventsPerSec)} events/s`);
  const { paced, fixedRate } = await counted('paced', () => pacedPhases(h, name, o, burst.eventsPerSec));
  const side: CeilingSide = { burst, paced, fixedRate, rssMbMax: round(a.memory.windowMax(), 1), concurrentTransactionRetries: retries };
  await a.stopAll();
  return { side, method: pass.method };
}

/**
 * Above this many topics on the broker the bench warns. Tests and interrupted runs leave their topics behind, and a
 * broker with hundreds of partitions answers every side slower: a probe of the pipeline at 500/s measured visible p50
 * 58 to 79 ms with 244 topics on the broker and 29 to 43 ms right after deleting 231 of them (README "Numbers").
 */
export const CROWDED_BROKER_TOPICS = 50;

/** The broker's topics besides its internal ones (`__consumer_offsets`, `__transaction_state`). */
async function countBrokerTopics(kafka: ReturnType<typeof createKafka>): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => !t.startsWith('__')).length;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export function crowdedBrokerWarning(topics: number): string {
  return `warning: the broker holds ${topics.toLocaleString('en-US')} topics (tests and interrupted runs leave theirs); a crowded broker answers every side slower, so latencies read high. For figures to compare, start a fresh local broker first: npm run -s kafka:stop -- --wipe && npm run -s kafka:local`;
}

export async function runBench(o: BenchOptions): Promise<{ result: BenchResult; text: string; chart: string }> {
  const startedAt = new Date();
  const loadAvgStart = os.loadavg()[0]!.toFixed(2);
  const { trained, model: modelChoice } = await prepareModel(o);
  // Progress lines on stderr are the point of a long run: kafkajs' retried-request warnings would bury them.
  process.env.LOG_LEVEL ??= 'error';
  const runId = `bench-${Date.now()}`;
  const ceilingConfig = isolatedConfig(o.config, `${runId}-ceiling`);
  const twoHopConfig = isolatedConfig(o.config, `${runId}-ceiling2`);
  const pipelineConfig = isolatedConfig(o.config, `${runId}-pipeline`);
  const kafka = createKafka(o.config, '-bench');
  const brokerTopicsAtStart = await countBrokerTopics(kafka);
  if (brokerTopicsAtStart > CROWDED_BROKER_TOPICS) o.log(crowdedBrokerWarning(brokerTopicsAtStart));
  const memory = new MemorySampler();
  const gc = new GcClock();
  const cleanups: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    while (cleanups.length) await cleanups.pop()!().catch((err: unknown) => o.log(`  cleanup: ${String(err)}`));
  };
  try {
    // ---- one-hop ceiling
    const one = await measureCeiling({ o, config: ceilingConfig, hops: 1, padToBytes: 0, kafka, memory, gc, cleanups, stopAll });
    const ceiling = one.side;
    const cBurst = ceiling.burst;

    // ---- pipeline
    const serving = await loadServingModels(pipelineConfig, modelChoice);
    const model = serving.models?.version ?? 'rules-only';
    o.log(`pipeline: detect + escalate, model ${model}, ${o.instances} member(s) each`);
    // The shadow phase's challenger is the served version itself (the same bundle): a second scoring of one model.
    const loadVersion = (name: string) => (serving.models && name === serving.models.version ? Promise.resolve(serving.models) : loadNamedVersion(pipelineConfig, name, serving.spec));
    const pipeline = await startPipeline({ config: pipelineConfig, stages: BENCH_STAGES, instances: o.instances, models: serving.models, featureStore: serving.featureStore, loadVersion });
    cleanups.push(() => pipeline.stop());
    const timings = { detect: [] as number[], escalate: [] as number[] };
    const decisions: Record<string, number> = {};
    const ph = new Harness({
      kafka,
      inputTopic: pipelineConfig.topics.transactions,
      outputTopic: pipelineConfig.topics.decisions,
      readerGroup: `${pipelineConfig.groups.detect}-reader`,
      next: transactionSource(),
      log: o.log,
      signal: o.signal,
      onOutput: (text) => {
        const t = flatObjectField(text, 'timings');
        if (typeof t?.detect === 'number') timings.detect.push(t.detect * 1000);
        if (typeof t?.escalate === 'number') timings.escalate.push(t.escalate * 1000);
        const k = `${stringField(text, 'stage') ?? '?'}:${stringField(text, 'action') ?? '?'}`;
        decisions[k] = (decisions[k] ?? 0) + 1;
      },
    });
    await ph.start();
    cleanups.push(() => ph.stop());
    await joined('the pipeline', pipeline.ready);
    memory.mark();
    await ph.warmup(o.warmup);
    const before = await runnerSnapshot();
    ph.observedBytes = 0;
    ph.observedOutputs = 0;
    const pBurst = await bursts(ph, 'pipeline', o, gc);
    const after = await runnerSnapshot();
    const bytesPerDecision = ph.observedOutputs ? Math.round(ph.observedBytes / ph.observedOutputs) : 0;
    o.log(`pipeline: ${fmtInt(pBurst.eventsPerSec)} events/s (ratio ${fmtRatio(ratio(pBurst.eventsPerSec, cBurst.eventsPerSec))}); ${fmtInt(bytesPerDecision)} bytes per decision`);
    const pPhases = await pacedPhases(ph, 'pipeline', o, pBurst.eventsPerSec);
    const pipelineRss = round(memory.windowMax(), 1);

    const perEvent = (stage: string) => {
      const b = after.batch[stage];
      const e = after.events[stage];
      const events = (e?.sum ?? 0) - (before.events[stage]?.sum ?? 0);
      const seconds = (b?.sum ?? 0) - (before.batch[stage]?.sum ?? 0);
      return events > 0 ? (seconds * 1e6) / events : null;
    };
    const phaseMicrosPerEvent: Record<string, number> = {};
    for (const [key, secs] of Object.entries(after.phases)) {
      const stage = key.split('.')[0]!;
      const events = (after.events[stage]?.sum ?? 0) - (before.events[stage]?.sum ?? 0);
      if (events > 0) phaseMicrosPerEvent[key] = round(((secs - (before.phases[key] ?? 0)) * 1e6) / events);
    }
    const detectLogic = summarize(timings.detect);
    const escalateLogic = summarize(timings.escalate);
    const detectBatch = perEvent('detect');
    const escalateBatch = perEvent('escalate');
    const steps: StepCosts = {
      method:
        'logic: the timings each decision carries (stage logic time of its batch / batch size); batch: the runner\'s fraudstream_batch_seconds sum / fraudstream_events_total over the burst (sums concurrent batches); runner = batch - logic; phases: fraudstream_batch_phase_seconds_total per stage and phase / that stage\'s events over the burst',
      escalatedShare: timings.detect.length ? timings.escalate.length / timings.detect.length : 0,
      detect: {
        events: detectLogic.count,
        logicMicrosPerEvent: round(detectLogic.mean),
        logicP50Micros: round(detectLogic.p50),
        logicP99Micros: round(detectLogic.p99),
        batchMicrosPerEvent: detectBatch === null ? null : round(detectBatch),
        runnerMicrosPerEvent: detectBatch === null ? null : round(detectBatch - detectLogic.mean),
      },
      escalate: {
        events: escalateLogic.count,
        logicMicrosPerEvent: round(escalateLogic.mean),
        logicP50Micros: round(escalateLogic.p50),
        logicP99Micros: round(escalateLogic.p99),
        batchMicrosPerEvent: escalateBatch === null ? null : round(escalateBatch),
        runnerMicrosPerEvent: escalateBatch === null || escalateLogic.count === 0 ? null : round(escalateBatch - escalateLogic.mean),
      },
      processCpuMicrosPerEvent: round(pBurst.cpuMicrosPerEvent),
      phaseMicrosPerEvent,
      bytesPerDecision,
    };

    const shadowCost = await measureShadowCost({ o, pipelineConfig, model: serving.models?.version, worker: pipeline.shadow, ph, gc, timings });

    let soak: BenchResult['soak'];
    if (o.soak > 0) {
      const step = Math.min(50_000, Math.max(1_000, Math.round(o.soak / 10)));
      o.log(`soak: ${o.soak.toLocaleString()} events through the pipeline, RSS every ${step.toLocaleString()}`);
      const series: NonNullable<BenchResult['soak']>['series'] = [];
      const t0 = Date.now();
      let nextAt = 0;
      const record = (events: number) => {
        const m = memory.sample();
        series.push({ events, rssMb: round(m.rssMb), heapMb: round(m.heapMb), seconds: round((Date.now() - t0) / 1000) });
      };
      record(0);
      nextAt = step;
      let lastLog = Date.now();
      await ph.soak(o.soak, SOAK_WINDOW, (n) => {
        while (n >= nextAt) {
          record(nextAt);
          nextAt += step;
        }
        if (Date.now() - lastLog > 5_000) {
          lastLog = Date.now();
          o.log(`  soak: ${n.toLocaleString()} / ${o.soak.toLocaleString()} out, RSS ${fmt1(series.at(-1)?.rssMb)} MB`);
        }
      });
      if (series.at(-1)!.events !== o.soak) record(o.soak);
      const seconds = (Date.now() - t0) / 1000;
      const growth = growthAfterWarmup(series);
      soak = { events: o.soak, seconds: round(seconds), eventsPerSec: Math.round(o.soak / seconds), series, rssGrowthMbAfterWarmup: growth === null ? null : round(growth) };
    }
    await stopAll();

    // ---- two-hop ceiling: what the escalated events' path costs at the least, with outputs of a decision's size
    const two = await measureCeiling({ o, config: twoHopConfig, hops: 2, padToBytes: bytesPerDecision, kafka, memory, gc, cleanups, stopAll });
    const twoHopCeiling = { ...two.side, outputBytes: bytesPerDecision };

    const pipelineSide: SideResult = { burst: pBurst, paced: pPhases.paced, fixedRate: pPhases.fixedRate, rssMbMax: Math.max(pipelineRss, ...(soak?.series.map((s) => s.rssMb) ?? [])) };
    const result: BenchResult = {
      ...summary(ceiling, pipelineSide, twoHopCeiling),
      at: startedAt.toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryMb: Math.round(os.totalmem() / 2 ** 20), node: process.version, loadAvgStart, brokerTopicsAtStart, loadAvgEnd: os.loadavg()[0]!.toFixed(2) },
      method: {
        process: 'one process runs the side under test, the input producer and the output reader',
        order: 'one-hop ceiling, pipeline, two-hop ceiling (its outputs padded to the pipeline\'s mean decision size)',
        input: `seeded synthetic transactions (producers/world, seed ${SEED}, ${CARDS.toLocaleString()} cards), keyed by cardId, idempotent producer, 2,000 per send in the burst; paced: each message due at start + i / rate, sent when due (what fell due during the previous send goes with the next)`,
        output: 'a read_committed reader of the side\'s output topic (the pipeline: decisions), first output per tx id (found by text search, not a full JSON parse, to keep the reader cheap)',
        throughput: 'burst events / (last output\'s Kafka timestamp - first send)',
        latency:
          'visible (the headline): when the read_committed reader received the output - the moment the input was handed to the producer; CreateTime (secondary): the output\'s Kafka timestamp (stamped by the side\'s producer before its transaction commits) - that moment',
        repeats: `the burst and the fixed-rate phase ${o.repeat} times each (bursts of ${o.events.toLocaleString()}, paced runs of ${o.samples.toLocaleString()} events); events/s and the ratios are the median bursts' (every run in burst.eventsPerSecRuns), top-level latencies the medians of the runs' percentiles, spreads in each side's fixedRate`,
        partitions: o.config.kafka.partitions,
        warmupEvents: o.warmup,
        burstEvents: o.events,
        samplesPerPacedRun: o.samples,
        repeat: o.repeat,
        share: o.share,
        ceiling: one.method,
        twoHopCeiling: two.method,
        pipeline: { stages: BENCH_STAGES, instances: o.instances, model, trainedForThisRun: trained ?? null },
      },
      ceiling,
      twoHopCeiling,
      pipeline: { ...pipelineSide, model, burstDecisions: decisions, steps, shadow: shadowCost },
      ...(soak ? { soak } : {}),
    };
    const chart = renderChart({
      title: `fraudstream bench: pipeline ${fmtInt(result.pipelineEventsPerSec)}/s vs ceiling ${fmtInt(result.ceilingEventsPerSec)}/s (ratio ${fmtRatio(result.ratio)})`,
      subtitle: `${startedAt.toISOString()}, ${String(result.machine.cpus)} cores, ${o.config.kafka.partitions} partitions, model ${model}, burst ${o.events.toLocaleString()} events, paced ${o.samples.toLocaleString()} events per run, ${o.repeat} runs at ${o.rate}/s`,
      ceiling,
      pipeline: pipelineSide,
      ratio: result.ratio,
      soak,
    });
    await mkdir(path.dirname(path.resolve(o.json)), { recursive: true });
    await writeFile(o.json, JSON.stringify(result, null, 2) + '\n');
    await mkdir(path.dirname(path.resolve(o.chart)), { recursive: true });
    await writeFile(o.chart, chart);
    return { result, text: renderTables(result), chart: o.chart };
  } finally {
    await stopAll();
    gc.stop();
    memory.stop();
    o.log('cleanup: deleting the run\'s topics and Redis keys');
    const admin = kafka.admin();
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const topics = [...Object.values(ceilingConfig.topics), ...Object.values(twoHopConfig.topics), ...Object.values(pipelineConfig.topics)].filter((t) => existing.has(t));
      if (topics.length) await admin.deleteTopics({ topics });
      const groups = [ceilingConfig.groups.detect, `${ceilingConfig.groups.detect}-reader`, twoHopConfig.groups.detect, `${twoHopConfig.groups.detect}-hop2`, `${twoHopConfig.groups.detect}-reader`, pipelineConfig.groups.detect, pipelineConfig.groups.escalate, `${pipelineConfig.groups.detect}-reader`];
      await admin.deleteGroups(groups).catch(() => undefined);
    } catch (err) {
      o.log(`  cleanup: could not delete topics: ${String(err)}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await dropKeys(pipelineConfig, o.log).catch((err: unknown) => o.log(`  cleanup: could not delete Redis keys: ${String(err)}`));
  }
}
