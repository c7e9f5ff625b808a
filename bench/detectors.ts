/** `bench detectors`: µs per transaction for each detector step, measured on generated traffic. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { redactUrl, type Config } from '../core/config.ts';
import type { Transaction } from '../core/contracts.ts';
import { generateStream, SCENARIOS } from '../producers/world/index.ts';
import { RedisFeatureStore } from '../detectors/features.ts';
import { loadModelVersion } from '../detectors/model-version.ts';
import type { FlatForest } from '../detectors/pure/isolation-forest.ts';
import { stderrProgress, table } from '../detectors/progress.ts';
import { datasetFromEvents, trainModels } from '../detectors/trainer.ts';

export interface BenchOptions {
  config: Config;
  events: number;
  batch: number;
  heavy: 'auto' | 'on' | 'off';
  out: string;
}

interface Row {
  step: string;
  usPerTx: number | null;
  note: string;
}

/** Runs `fn(i)` over units until at least `minMs` passed; returns µs per unit. */
async function measure(units: number, fn: (i: number) => unknown, minMs = 400): Promise<number> {
  let done = 0;
  const started = performance.now();
  do {
    for (let i = 0; i < units; i++) await fn(i);
    done += units;
  } while (performance.now() - started < minMs);
  return ((performance.now() - started) * 1000) / done;
}

export async function benchDetectors(o: BenchOptions): Promise<{ table: string; out: string; json: unknown }> {
  const progress = stderrProgress();
  const novel = new Set(SCENARIOS.filter((s) => s.novel).map((s) => s.name));
  progress.update('generate', `${o.events} events`);
  const events = [...generateStream({ seed: 7, events: o.events })];
  const rows: Row[] = [];

  let t0 = performance.now();
  const ds = datasetFromEvents(events, { novelScenarios: novel, onProgress: progress.update });
  rows.push({ step: 'features, in-memory store', usPerTx: ((performance.now() - t0) * 1000) / events.length, note: 'trainer replay, batches of 1000' });

  const modelDir = await mkdtemp(path.join(tmpdir(), 'fraudstream-bench-'));
  const training: Record<string, number> = {};
  try {
    t0 = performance.now();
    const trained = await trainModels(ds, {
      modelDir,
      heavy: { enabled: o.heavy !== 'off', epochs: 3, maxRows: 10_000 },
      onProgress: (s, m) => progress.update(`train ${s}`, m),
    });
    training.totalSeconds = (performance.now() - t0) / 1000;
    for (const [k, v] of Object.entries(trained.card.timings)) training[`${k}Seconds`] = v;
    const model = await loadModelVersion(trained.dir);
    try {
      const testRows = ds.rows.slice(Math.floor(ds.rows.length * 0.8));
      const batches: Float64Array[][] = [];
      for (let i = 0; i < testRows.length; i += o.batch) batches.push(testRows.slice(i, i + o.batch));

      progress.update('score', 'isolation forest, XGBoost, explain');
      const forest = model.fitted<FlatForest>('isolationForest');
      const xgboost = model.fitted('xgboost');
      const iforest = await measure(testRows.length, (i) => forest.score(testRows[i]));
      const xgbOne = await measure(testRows.length, (i) => model.scoreFirstLine([testRows[i]]));
      const xgbOnly = await measure(testRows.length, (i) => xgboost.score(testRows[i]));
      const firstLine = (await measure(batches.length, (b) => model.scoreFirstLine(batches[b]))) / (testRows.length / batches.length);
      const explain = await measure(Math.min(2_000, testRows.length), (i) => model.explain(testRows[i], 5));
      rows.push({ step: 'isolation forest', usPerTx: iforest, note: `${forest.model.trees} trees, flat arrays` });
      rows.push({ step: 'xgboost', usPerTx: xgbOnly, note: 'one predict call per row (wasm)' });
      rows.push({ step: 'first line (IF + XGBoost), one row', usPerTx: xgbOne, note: 'scoreFirstLine([row])' });
      rows.push({ step: 'first line (IF + XGBoost), batched', usPerTx: firstLine, note: `scoreFirstLine(batch of ${o.batch})` });
      rows.push({ step: 'explain (occlusion, top 5)', usPerTx: explain, note: 'per explained row (non-ALLOW only)' });

      let heavyNote = model.hasHeavy ? '' : (model.heavyMissing ?? 'no heavy model');
      if (model.hasHeavy) {
        progress.update('score', 'heavy model');
        const items = testRows.map((current, i) => ({ history: testRows.slice(Math.max(0, i - 16), i), current }));
        const one = await measure(Math.min(100, items.length), (i) => model.scoreHeavy([items[i]]), 1_000);
        const size = Math.min(256, items.length);
        const batched = (await measure(4, (b) => model.scoreHeavy(items.slice(b * size, (b + 1) * size)), 1_000)) / size;
        rows.push({ step: 'heavy, one item', usPerTx: one, note: 'scoreHeavy([item]), k=16' });
        rows.push({ step: 'heavy, batched', usPerTx: batched, note: `scoreHeavy(batch of ${size})` });
        heavyNote = '';
      } else rows.push({ step: 'heavy', usPerTx: null, note: heavyNote });

      const [featuresRedis, steady] = await benchRedisFeatures(o, events.map((e) => e.tx), (m) => progress.update('redis features', m));
      rows.splice(1, 0, ...(steady ? [featuresRedis, steady] : [featuresRedis]));
      const total = featuresRedis.usPerTx !== null ? featuresRedis.usPerTx + firstLine : null;
      rows.push({ step: 'features (Redis) + IF + XGBoost, batched', usPerTx: total, note: 'aim < 20 µs' });
      if (steady?.usPerTx != null) rows.push({ step: '  same, steady state (passes 2-3)', usPerTx: steady.usPerTx + firstLine, note: 'long-running process' });
      progress.done();

      const json = {
        measuredAt: new Date().toISOString(),
        machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
        events: o.events,
        batch: o.batch,
        usPerTx: Object.fromEntries(rows.map((r) => [r.step, r.usPerTx])),
        notes: Object.fromEntries(rows.map((r) => [r.step, r.note])),
        training,
        aims: { featuresIfXgbBatchedUs: 20, isolationForestUs: 5 },
        meetsAims: {
          featuresIfXgbBatched: total !== null ? total < 20 : null,
          featuresIfXgbBatchedSteadyState: steady?.usPerTx != null ? steady.usPerTx + firstLine < 20 : null,
          isolationForest: iforest < 5,
        },
      };
      await mkdir(path.dirname(path.resolve(o.out)), { recursive: true });
      await writeFile(o.out, JSON.stringify(json, null, 2) + '\n');
      const text = [
        table(
          ['step', 'µs/tx', 'how'],
          rows.map((r) => [r.step, r.usPerTx === null ? 'n/a' : r.usPerTx.toFixed(2), r.note]),
        ),
        '',
        table(['training', 'seconds'], Object.entries(training).map(([k, v]) => [k, v.toFixed(1)])),
      ].join('\n');
      return { table: text, out: o.out, json };
    } finally {
      model.dispose();
    }
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

async function benchRedisFeatures(o: BenchOptions, txs: Transaction[], say: (m: string) => void): Promise<Row[]> {
  const note = `RedisFeatureStore.computeAndApply, batches of ${o.batch}`;
  const redis = new Redis(o.config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3_000, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    return [{ step: 'features, Redis store', usPerTx: null, note: `Redis at ${redactUrl(o.config.redis.url)} unavailable: ${(err as Error).message}` }];
  }
  const base = `${o.config.redis.keyPrefix}bench-${randomUUID().slice(0, 8)}`;
  // The first pass is what the aim is judged on; two more on fresh prefixes show a long-running process (JIT warm).
  const passes = 3;
  const results: number[] = [];
  try {
    for (let p = 0; p < passes; p++) {
      const store = new RedisFeatureStore(redis, { keyPrefix: `${base}-${p}:`, ttlSeconds: 600 });
      // The first slice warms the JIT and the cards; the timed slice then reads and writes existing card state.
      const warm = Math.min(5_000, Math.floor(txs.length / 4));
      for (let i = 0; i < warm; i += o.batch) await store.computeAndApply(txs.slice(i, Math.min(warm, i + o.batch)));
      const end = Math.min(txs.length, warm + 20_000);
      const started = performance.now();
      for (let i = warm; i < end; i += o.batch) {
        await store.computeAndApply(txs.slice(i, Math.min(end, i + o.batch)));
        if (((i - warm) / o.batch) % 10 === 0) say(`pass ${p + 1}/${passes}: ${i - warm}/${end - warm}`);
      }
      results.push(((performance.now() - started) * 1000) / (end - warm));
    }
    const later = results.slice(1);
    return [
      { step: 'features, Redis store', usPerTx: results[0], note },
      { step: 'features, Redis store, passes 2-3', usPerTx: later.reduce((a, b) => a + b, 0) / later.length, note: 'same pass repeated on fresh keys (steady state)' },
    ];
  } finally {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${base}-*`, 'COUNT', 1_000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();
  }
}
