/**
 * Every benchmark command (`fraudstream bench ...`, `ui bench`) in one place: bench/ sits beside the layers, may
 * import any of them, and nothing below cli/ imports it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { numberFlag, parseFlags, type Command } from '../core/command.ts';
import { loadConfig, redactUrl } from '../core/config.ts';
import { UserInputError } from '../core/errors.ts';
import { findOrStartServices, realServicePorts } from '../infra/services.ts';
import { driftKey } from '../state/drift.ts';
import { connectRedisForCommand } from '../detectors/redis-client.ts';
import { recordDrift } from '../detectors/drift.ts';
import { buildDriftReference, DriftAccumulator } from '../detectors/pure/drift.ts';
import { FEATURE_NAMES, MemoryFeatureStore } from '../detectors/features.ts';
import { stderrProgress, table } from '../detectors/progress.ts';
import { choiceFlag } from '../producers/flags.ts';
import { table as producersTable } from '../producers/report.ts';
import { generateStream } from '../producers/world/index.ts';
import { benchDetectors } from './detectors.ts';
import { filePreviewBenchTable, runFilePreviewBench } from './file-preview.ts';
import { printAndSave, runUiBench } from './live-feed.ts';
import { CEILING_MODES, type CeilingMode } from './pipeline/ceiling.ts';
import { assertModelChoice } from './pipeline/model-choice.ts';
import { benchProducers, writeBenchResult } from './producers.ts';
import { runSearchBench, searchBenchTable } from './search.ts';

const benchUsage =
  '[--events N] [--rate EPS] [--samples N] [--repeat N] [--share X] [--warmup N] [--model DIR|latest|none] [--train-events N] [--instances N] [--ceiling per-partition|serial] [--soak N] [--json FILE] [--chart FILE.svg] [--redis-memory [--events N] [--random-cards N] [--maxmemory SIZE] [--merchants N] [--attack-rate TPS]]';

/** `bench`: one run, the pipeline beside its kafkajs pass-through ceilings. */
const benchPipeline: Command = {
  name: 'bench',
  summary:
    'the pipeline (detect + escalate) against one- and two-hop kafkajs pass-through ceilings in one run: produce -> visible latency at a fixed rate (median of --repeat runs) and at half the burst rate, events/s and ratio (median of --repeat bursts), memory, µs per step, bytes per decision',
  usage: benchUsage,
  async run(argv) {
    const { values: v, positionals } = parseFlags(this, argv, {
      events: { type: 'string' },
      rate: { type: 'string' },
      samples: { type: 'string' },
      repeat: { type: 'string' },
      share: { type: 'string' },
      warmup: { type: 'string' },
      model: { type: 'string' },
      'train-events': { type: 'string' },
      instances: { type: 'string' },
      soak: { type: 'string' },
      ceiling: { type: 'string' },
      json: { type: 'string' },
      chart: { type: 'string' },
      'redis-memory': { type: 'boolean' },
      'random-cards': { type: 'string' },
      maxmemory: { type: 'string' },
      merchants: { type: 'string' },
      'attack-rate': { type: 'string' },
    });
    if (v['redis-memory']) {
      // Redis memory per million decisions instead of the throughput run (bench/pipeline/redis-memory.ts).
      const events = numberFlag('events', v.events, 100_000, { min: 1_000, max: 5_000_000, integer: true });
      const { measureRedisMemory, formatRedisMemory } = await import('../bench/pipeline/redis-memory.ts');
      const json = v.json ?? 'bench-results/redis-memory.json';
      // The attack run (bench/pipeline/redis-attack.ts): N distinct random cards on an own redis-server with maxmemory.
      const randomCards = numberFlag('random-cards', v['random-cards'], 100_000, { min: 0, max: 10_000_000, integer: true });
      const maxmemory = v.maxmemory ?? '64mb';
      if (!/^\d+(kb|mb|gb)$/i.test(maxmemory)) throw new UserInputError(`--maxmemory must be a size like 64mb or 1gb, got ${JSON.stringify(maxmemory)}`);
      const merchants = numberFlag('merchants', v.merchants, 10, { min: 1, max: 1_000_000, integer: true });
      const attackRate = numberFlag('attack-rate', v['attack-rate'], 2_000, { min: 1, max: 1_000_000 });
      const config = loadConfig();
      const r = await measureRedisMemory({ config, decisions: events, cards: Math.max(1, Math.round(events / 5)), escalateShare: 0.05, reviewShare: 0.005, json, log: (l) => console.error(l) });
      console.log(formatRedisMemory(r));
      console.log(`\nresults written to ${json}`);
      if (randomCards > 0) {
        const { measureRedisAttack, formatRedisAttack } = await import('../bench/pipeline/redis-attack.ts');
        const attackJson = path.join(path.dirname(json), `${path.basename(json, path.extname(json))}-attack.json`);
        const a = await measureRedisAttack({ decisions: randomCards, maxmemory: maxmemory.toLowerCase(), merchants, rate: attackRate, cap: config.features.newCardCap, json: attackJson, log: (l) => console.error(l) });
        console.log(`\n${formatRedisAttack(a)}`);
        console.log(`\nresults written to ${attackJson}`);
      }
      return;
    }
    if (positionals.length) throw new UserInputError(`bench: unexpected argument ${JSON.stringify(positionals[0])}\nusage: fraudstream bench ${benchUsage}`);
    const events = numberFlag('events', v.events, 20_000, { min: 1_000, max: 5_000_000, integer: true });
    const rate = numberFlag('rate', v.rate, 500, { min: 1, max: 100_000 });
    // 20,000 per run at 500/s: 40 s, 200 samples beyond the p99 in each run; --samples 2000 for a quick look.
    const samples = numberFlag('samples', v.samples, 20_000, { min: 100, max: 1_000_000, integer: true });
    const repeat = numberFlag('repeat', v.repeat, 3, { min: 1, max: 20, integer: true });
    const share = numberFlag('share', v.share, 0.5, { min: 0.01, max: 1 });
    const warmup = numberFlag('warmup', v.warmup, 10_000, { min: 0, max: 1_000_000, integer: true });
    const trainEvents = numberFlag('train-events', v['train-events'], 100_000, { min: 5_000, max: 10_000_000, integer: true });
    const instances = numberFlag('instances', v.instances, 1, { min: 1, max: 16, integer: true });
    const ceilingMode = (v.ceiling ?? 'per-partition') as CeilingMode;
    if (!CEILING_MODES.includes(ceilingMode)) throw new UserInputError(`--ceiling must be ${CEILING_MODES.join(' or ')}, got ${JSON.stringify(v.ceiling)}`);
    const soak = numberFlag('soak', v.soak, 0, { min: 0, max: 100_000_000, integer: true });
    if (soak > 0 && soak < 10_000) throw new UserInputError(`--soak must be 0 (off) or at least 10000 events, got ${soak}`);
    const model = v.model ?? 'latest';
    await assertModelChoice(model);
    const json = v.json ?? 'bench-results/bench.json';
    const chart = v.chart ?? path.join(path.dirname(json), `${path.basename(json, path.extname(json))}.svg`);
    if (!chart.endsWith('.svg')) throw new UserInputError(`--chart must name an .svg file, got ${JSON.stringify(chart)}`);
    const aborter = new AbortController();
    const onSignal = () => aborter.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const base = loadConfig();
    // Kafka and Redis as the demo finds them: configured (and answering within seconds), running on the default
    // ports, or started here and stopped at the end.
    const services = await findOrStartServices(
      { env: { KAFKA_BROKERS: process.env.KAFKA_BROKERS, REDIS_URL: process.env.REDIS_URL }, defaultBrokers: base.kafka.brokers, defaultRedisUrl: base.redis.url, command: 'bench', say: (l) => console.error(l) },
      realServicePorts(base.dataDir, base.kafka.security, base.redis.maxmemory),
    );
    console.error(`Kafka ${services.brokers.join(',')} (${services.kafkaFrom}) · Redis ${redactUrl(services.redisUrl)} (${services.redisFrom})`);
    try {
      const config = loadConfig({ ...process.env, KAFKA_BROKERS: services.brokers.join(','), REDIS_URL: services.redisUrl });
      const { runBench } = await import('../bench/pipeline.ts');
      const r = await runBench({ config, events, rate, samples, repeat, share, warmup, model, trainEvents, instances, ceilingMode, soak, json, chart, log: (l) => console.error(l), signal: aborter.signal });
      console.log(r.text);
      console.log(`\nresults written to ${json}, chart to ${r.chart}`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await services.stop();
    }
  },
};

const benchProducersCommand: Command = {
  name: 'bench producers',
  summary: 'measure generate events/s and replay events/s into the broker (own topics, deleted afterwards); writes bench-results/producers.json',
  usage: '[--events N] [--batch N] [--runs N]',
  async run(argv) {
    const { values: v } = parseFlags(this, argv, { events: { type: 'string' }, batch: { type: 'string' }, runs: { type: 'string' } });
    const events = numberFlag('events', v.events, 300_000, { min: 1000, max: 10_000_000, integer: true });
    const batch = numberFlag('batch', v.batch, 4000, { min: 1, max: 50_000, integer: true });
    const runs = numberFlag('runs', v.runs, 3, { min: 1, max: 20, integer: true });
    const r = await benchProducers(loadConfig(), { events, batch, runs, log: (l) => console.error(`bench: ${l}`) });
    const path = await writeBenchResult(r);
    console.log(
      producersTable(
        ['measure', 'events', 'seconds', 'events/s', 'note'],
        [
          ['generate (in memory)', r.generateInMemory.events, Number(r.generateInMemory.seconds.toFixed(2)), r.generateInMemory.eventsPerSec, 'World.next() only'],
          ['generate (to JSONL file)', r.generateToFile.events, Number(r.generateToFile.seconds.toFixed(2)), r.generateToFile.eventsPerSec, `${(r.generateToFile.bytes / 1e6).toFixed(1)} MB + labels`],
          ['replay --rate max', r.replay.events, Number(r.replay.seconds.toFixed(2)), r.replay.eventsPerSec, `runs ${r.replay.runs.join(' / ')} ev/s; ${r.replay.delivered} on topic; ${r.replay.cpuMicrosPerEvent} µs CPU/event; batch ${r.replay.batch}, ${r.replay.partitions} partitions`],
        ],
      ),
    );
    console.log(`\n${r.machine.cpus} x ${r.machine.model}, node ${r.machine.node}, load average ${r.loadAverage.before.toFixed(1)} -> ${r.loadAverage.after.toFixed(1)}; written to ${path}`);
  },
};

const benchDetectorsCommand: Command = {
  name: 'bench detectors',
  summary: 'measure µs per transaction for features (Redis, batched), isolation forest, XGBoost, heavy, and training time',
  usage: '[--events N] [--batch N] [--heavy auto|on|off] [--out bench-results/detectors.json]',
  async run(argv) {
    const { values: v } = parseFlags(benchDetectorsCommand, argv, {
      events: { type: 'string' },
      batch: { type: 'string' },
      heavy: { type: 'string' },
      out: { type: 'string' },
    });
    const config = loadConfig();
    const result = await benchDetectors({
      config,
      events: numberFlag('events', v.events, 40_000, { min: 5_000, max: 5_000_000, integer: true }),
      batch: numberFlag('batch', v.batch, 500, { min: 1, max: 100_000, integer: true }),
      heavy: choiceFlag('heavy', v.heavy, ['auto', 'on', 'off'] as const, 'auto'),
      out: v.out ?? 'bench-results/detectors.json',
    });
    console.log(result.table);
    console.log(`results written to ${result.out}`);
    return 0;
  },
};

const benchDrift: Command = {
  name: 'bench drift',
  summary: 'cost of drift monitoring in detect: µs per transaction to count (DriftAccumulator) and ms per batch to record in Redis',
  usage: '[--events N] [--batch N] [--out bench-results/drift.json]',
  async run(argv) {
    const { values: v } = parseFlags(benchDrift, argv, { events: { type: 'string' }, batch: { type: 'string' }, out: { type: 'string' } });
    const events = numberFlag('events', v.events, 40_000, { min: 2_000, max: 5_000_000, integer: true });
    const batchSize = numberFlag('batch', v.batch, 500, { min: 1, max: 100_000, integer: true });
    const out = v.out ?? 'bench-results/drift.json';
    const config = loadConfig();
    const progress = stderrProgress();
    const store = new MemoryFeatureStore();
    const txs = Array.from(generateStream({ seed: 1, events, cards: Math.max(10, Math.floor(events / 20)) }), (e) => e.tx);
    const vectors: Float64Array[] = [];
    for (let i = 0; i < txs.length; i += 1_000) vectors.push(...store.computeAndApplySync(txs.slice(i, i + 1_000)));
    progress.update('features', `${vectors.length} vectors`);
    const half = Math.floor(vectors.length / 2);
    // Timing only: a score that varies like a model's, without training one.
    const scoreOf = (x: Float64Array) => ({ isolationForest: 1 / (1 + Math.exp(-(x[0] ?? 0) + 3)), xgboost: 1 / (1 + Math.exp(-(x[15] ?? 0))) });
    const refRows = vectors.slice(0, half);
    const refScores = refRows.map(scoreOf);
    const reference = buildDriftReference(FEATURE_NAMES, refRows, { isolationForest: refScores.map((s) => s.isolationForest), xgboost: refScores.map((s) => s.xgboost), slice: 'train' });
    const live = vectors.slice(half);
    const liveScores = live.map(scoreOf);
    const acc = new DriftAccumulator(reference, FEATURE_NAMES);
    const redis = await connectRedisForCommand(config);
    const benchPrefix = `${config.redis.keyPrefix}bench-drift-${process.pid}:`;
    try {
      let countMs = 0;
      const recordMs: number[] = [];
      let fields = 0;
      for (let i = 0; i < live.length; i += batchSize) {
        const t0 = performance.now();
        acc.observe(live.slice(i, i + batchSize), liveScores.slice(i, i + batchSize));
        const counts = acc.drain();
        const t1 = performance.now();
        countMs += t1 - t0;
        fields += Object.values(counts).reduce((n, c) => n + c.filter((x) => x > 0).length, 0) + 1;
        await recordDrift(redis, benchPrefix, 'bench', counts);
        recordMs.push(performance.now() - t1);
        progress.update('record', `${Math.min(live.length, i + batchSize)}/${live.length} rows`, true);
      }
      progress.done();
      const batches = recordMs.length;
      const sorted = [...recordMs].sort((a, b) => a - b);
      const result = {
        events,
        batch: batchSize,
        liveRows: live.length,
        entries: reference.entries.length,
        countUsPerTx: (countMs * 1000) / live.length,
        recordMsPerBatch: { mean: recordMs.reduce((a, b) => a + b, 0) / batches, p50: sorted[Math.floor(batches / 2)] ?? 0, p95: sorted[Math.floor(batches * 0.95)] ?? 0 },
        recordUsPerTx: (recordMs.reduce((a, b) => a + b, 0) * 1000) / live.length,
        hincrbyPerBatch: fields / batches,
      };
      console.log(
        table(
          ['drift monitoring', 'value'],
          [
            ['rows counted / batch size', `${live.length} / ${batchSize}`],
            ['entries (features + scores)', reference.entries.length],
            ['count (observe + drain), µs/tx', result.countUsPerTx.toFixed(2)],
            ['record in Redis, ms/batch mean / p50 / p95', `${result.recordMsPerBatch.mean.toFixed(2)} / ${result.recordMsPerBatch.p50.toFixed(2)} / ${result.recordMsPerBatch.p95.toFixed(2)}`],
            ['record in Redis, µs/tx', result.recordUsPerTx.toFixed(2)],
            ['HINCRBY per batch', result.hincrbyPerBatch.toFixed(0)],
          ],
        ),
      );
      await mkdir(path.dirname(path.resolve(out)), { recursive: true });
      await writeFile(out, JSON.stringify(result, null, 2) + '\n');
      console.log(`results written to ${out}`);
      return 0;
    } finally {
      await redis.del(driftKey(benchPrefix, 'bench')).catch(() => undefined);
      redis.disconnect();
    }
  },
};

const uiBench: Command = {
  name: 'ui bench',
  summary: 'measure produce -> live-stream (SSE) latency of the live feed (isolated topics; writes bench-results/review-ui.json)',
  usage: '[--decisions N] [--clients N] [--rate PER_SECOND]',
  async run(argv) {
    const { values } = parseFlags(this, argv, { decisions: { type: 'string' }, clients: { type: 'string' }, rate: { type: 'string' } });
    const opts = {
      decisions: numberFlag('decisions', values.decisions, 5000, { min: 1, max: 1_000_000, integer: true }),
      clients: numberFlag('clients', values.clients, 5, { min: 1, max: 200, integer: true }),
      rate: numberFlag('rate', values.rate, 1000, { min: 1, max: 100_000 }),
    };
    await printAndSave(await runUiBench(loadConfig(), opts));
  },
};

const benchFilePreview: Command = {
  name: 'bench file-preview',
  summary: "what the Policy page's preview on a labelled file costs the console: scoring time and the longest event-loop hold (bench-results/file-preview.json)",
  usage: '[--rows N] [--json FILE]   (N default 200000; scored by the newest version under MODEL_DIR, or rules only)',
  async run(argv) {
    const { values } = parseFlags(this, argv, { rows: { type: 'string' }, json: { type: 'string' } });
    const rows = numberFlag('rows', values.rows, 200_000, { min: 100, max: 5_000_000, integer: true });
    const result = await runFilePreviewBench(rows, (l) => console.error(l));
    console.log(filePreviewBenchTable(result));
    const out = values.json ?? 'bench-results/file-preview.json';
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2) + '\n');
    console.log(`wrote ${out}`);
  },
};

const benchSearch: Command = {
  name: 'bench search',
  summary: "what the console's search index costs: write rate, Redis bytes per row (and at the cap), time per kind of search (bench-results/search.json)",
  usage: '[--rows N] [--json FILE]   (N default 100000; a throwaway key prefix in REDIS_URL, deleted after)',
  async run(argv) {
    const { values } = parseFlags(this, argv, { rows: { type: 'string' }, json: { type: 'string' } });
    const rows = numberFlag('rows', values.rows, 100_000, { min: 1_000, max: 1_000_000, integer: true });
    const result = await runSearchBench(rows, (l) => console.error(l));
    console.log(searchBenchTable(result));
    const out = values.json ?? 'bench-results/search.json';
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2) + '\n');
    console.log(`wrote ${out}`);
  },
};

const benchScaleOut: Command = {
  name: 'bench scale-out',
  summary:
    'detect members as separate processes on a broker cluster of its own, joining one at a time then leaving, under steady traffic: per member events/s (its /metrics), partitions, rebalance time and the pause a decisions reader sees (bench-results/scale-out.json)',
  usage: '[--instances N] [--brokers N] [--partitions N] [--rate EPS] [--step-seconds S] [--settle-seconds S] [--model DIR|latest|none] [--kafka-port P] [--redis-port P] [--metrics-port P] [--json FILE]',
  async run(argv) {
    const { values: v } = parseFlags(this, argv, {
      instances: { type: 'string' },
      brokers: { type: 'string' },
      partitions: { type: 'string' },
      rate: { type: 'string' },
      'step-seconds': { type: 'string' },
      'settle-seconds': { type: 'string' },
      model: { type: 'string' },
      'kafka-port': { type: 'string' },
      'redis-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      json: { type: 'string' },
    });
    const stepSeconds = numberFlag('step-seconds', v['step-seconds'], 30, { min: 5, max: 3_600, integer: true });
    const settleSeconds = numberFlag('settle-seconds', v['settle-seconds'], 5, { min: 0, max: 600, integer: true });
    if (settleSeconds >= stepSeconds) throw new UserInputError(`--settle-seconds (${settleSeconds}) must be below --step-seconds (${stepSeconds}): the steady part of each phase comes after it`);
    const { runScaleOut } = await import('./scale-out/run.ts');
    const { text } = await runScaleOut({
      instances: numberFlag('instances', v.instances, 3, { min: 1, max: 16, integer: true }),
      brokers: numberFlag('brokers', v.brokers, 3, { min: 1, max: 5, integer: true }),
      partitions: numberFlag('partitions', v.partitions, 6, { min: 1, max: 1_000, integer: true }),
      rate: numberFlag('rate', v.rate, 500, { min: 1, max: 100_000 }),
      stepSeconds,
      settleSeconds,
      model: v.model ?? 'none',
      kafkaPort: numberFlag('kafka-port', v['kafka-port'], 48_092, { min: 1_024, max: 65_000, integer: true }),
      redisPort: numberFlag('redis-port', v['redis-port'], 48_379, { min: 1_024, max: 65_535, integer: true }),
      metricsPort: numberFlag('metrics-port', v['metrics-port'], 48_500, { min: 1_024, max: 65_000, integer: true }),
      json: v.json ?? 'bench-results/scale-out.json',
      log: (l) => console.error(`[scale-out] ${l}`),
    });
    console.log(text);
    console.log(`\nresults written to ${v.json ?? 'bench-results/scale-out.json'}`);
  },
};

/** CLI subcommands owned by bench/; cli/commands.ts lists them. */
export const commands: Command[] = [benchPipeline, benchScaleOut, benchProducersCommand, benchDetectorsCommand, benchDrift, uiBench, benchFilePreview, benchSearch];
