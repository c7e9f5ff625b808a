/** Live drift counts in real Redis: what the detect stage writes per batch and what the CLI and UI read back. */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { DRIFT_REFERENCE_FILE, DriftRecorder, driftKey, driftSnapshot, readDrift, recordDrift, resetDrift } from '../../detectors/drift.ts';
import type { ModelBundle } from '../../detectors/types.ts';
import { buildDriftReference, DriftAccumulator, SCORE_ENTRIES } from '../../detectors/pure/drift.ts';
import { COLD_START_THRESHOLDS } from '../../state/policy.ts';
import { configEnv, testConfig, testRedis, dropTestKeys } from '../helpers/services.ts';

let config: Config;
let redis: Redis;
let modelDir: string;
const run = promisify(execFile);

const names = ['amount', 'flag'];
const trainRows = Array.from({ length: 2_000 }, (_, i) => Float64Array.of(i % 100, i % 4 === 0 ? 1 : 0));
const scores = trainRows.map((_, i) => ({ isolationForest: (i % 50) / 50, xgboost: (i % 10) / 100 }));
const reference = buildDriftReference(names, trainRows, { isolationForest: scores.map((s) => s.isolationForest), xgboost: scores.map((s) => s.xgboost), slice: 'validation' });

beforeAll(async () => {
  config = await testConfig('drift');
  redis = testRedis(config);
  modelDir = mkdtempSync(path.join(tmpdir(), 'fraudstream-drift-models-'));
  mkdirSync(path.join(modelDir, 'm-drift'));
  writeFileSync(path.join(modelDir, 'm-drift', 'model-card.json'), JSON.stringify({ version: 'm-drift', createdAt: '2026-01-01T00:00:00Z', thresholds: COLD_START_THRESHOLDS }));
  writeFileSync(path.join(modelDir, 'm-drift', DRIFT_REFERENCE_FILE), JSON.stringify(reference));
  mkdirSync(path.join(modelDir, 'm-old'));
  writeFileSync(path.join(modelDir, 'm-old', 'model-card.json'), JSON.stringify({ version: 'm-old', createdAt: '2026-01-01T00:00:00Z', thresholds: COLD_START_THRESHOLDS }));
});

afterAll(async () => {
  if (redis) {
    await dropTestKeys(redis, config);
    redis.disconnect();
  }
  if (modelDir) rmSync(modelDir, { recursive: true, force: true });
});

describe('recordDrift / readDrift', () => {
  it('adds batch counts with HINCRBY so batches (and stage members) sum, per model version', async () => {
    const prefix = config.redis.keyPrefix;
    const acc = new DriftAccumulator(reference, names);
    acc.observe(trainRows.slice(0, 700), scores.slice(0, 700));
    const a = acc.drain();
    acc.observe(trainRows.slice(700), scores.slice(700));
    const b = acc.drain();
    expect(await recordDrift(redis, prefix, 'm-drift', a)).toBe(700);
    // Two writers at once (two detect members): nothing is lost.
    await Promise.all([recordDrift(redis, prefix, 'm-drift', b), recordDrift(redis, prefix, 'other-version', a)]);
    expect(await recordDrift(redis, prefix, 'm-drift', {})).toBe(0);

    const live = await readDrift(redis, prefix, 'm-drift');
    expect(live.rows).toBe(2_000);
    for (const e of reference.entries) {
      const expected = e.shares.map((s) => Math.round(s * e.rows));
      const got = Array.from({ length: expected.length }, (_, i) => live.counts[e.name]?.[i] ?? 0);
      expect(got, e.name).toEqual(expected);
    }
    expect((await readDrift(redis, prefix, 'other-version')).rows).toBe(700);
    expect(await redis.exists(driftKey(prefix, 'm-drift'))).toBe(1);

    // The same distribution as the reference: PSI ~0 everywhere.
    const snap = await driftSnapshot(redis, prefix, path.join(modelDir, 'm-drift'));
    expect(snap).toMatchObject({ version: 'm-drift', hasReference: true, liveRows: 2_000 });
    for (const r of snap.rows) expect(r.psi).toBeLessThan(1e-9);
  });

  it('sends a batch\'s counts as one command, however many bins, and keeps the hash\'s TTL', async () => {
    const prefix = config.redis.keyPrefix;
    const acc = new DriftAccumulator(reference, names);
    acc.observe(trainRows, scores);
    const counts = acc.drain();
    const bins = Object.values(counts).reduce((n, c) => n + Array.from(c).filter((x) => x > 0).length, 0);
    expect(bins).toBeGreaterThan(5);
    const sent: string[] = [];
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((command: Parameters<typeof redis.sendCommand>[0], ...rest: unknown[]) => {
      sent.push(command.name);
      return (send as (...a: unknown[]) => unknown)(command, ...rest);
    }) as typeof redis.sendCommand;
    try {
      expect(await recordDrift(redis, prefix, 'm-one-command', counts)).toBe(trainRows.length);
    } finally {
      redis.sendCommand = send;
    }
    // EVALSHA, plus an EVAL only the first time the script is not cached in Redis.
    expect(sent.filter((n) => n !== 'eval')).toEqual(['evalsha']);
    expect((await readDrift(redis, prefix, 'm-one-command')).rows).toBe(trainRows.length);
    expect(await redis.ttl(driftKey(prefix, 'm-one-command'))).toBeGreaterThan(0);
  });

  it('a shifted batch shows up as shifted; reset starts over; a version without a reference says so', async () => {
    const prefix = config.redis.keyPrefix;
    await resetDrift(redis, prefix, 'm-drift');
    expect((await readDrift(redis, prefix, 'm-drift')).rows).toBe(0);
    const acc = new DriftAccumulator(reference, names);
    acc.observe(trainRows.map((v) => Float64Array.of(v[0]! + 60, 1)), scores.map(() => ({ isolationForest: 0.99, xgboost: 0.5 })));
    await recordDrift(redis, prefix, 'm-drift', acc.drain());
    const snap = await driftSnapshot(redis, prefix, path.join(modelDir, 'm-drift'));
    const byName = Object.fromEntries(snap.rows.map((r) => [r.name, r]));
    for (const n of [...names, SCORE_ENTRIES.isolationForest, SCORE_ENTRIES.xgboost]) expect(byName[n]?.status, n).toBe('shifted');
    const old = await driftSnapshot(redis, prefix, path.join(modelDir, 'm-old'));
    expect(old).toMatchObject({ hasReference: false, rows: [] });
  });
});

describe('DriftRecorder (what the detect stage calls)', () => {
  const bundle = (version: string, withReference: boolean) =>
    ({ version, featureNames: names, ...(withReference ? { driftReference: reference } : {}) }) as unknown as ModelBundle;

  it('counts a batch in memory, records it once, follows a model swap, and ignores versions without a reference', async () => {
    const prefix = config.redis.keyPrefix;
    const rec = new DriftRecorder(redis, prefix);
    const a = rec.count(bundle('rec-a', true), trainRows.slice(0, 300), scores.slice(0, 300));
    expect(a?.modelVersion).toBe('rec-a');
    // Not in Redis until recorded (after the batch's commit).
    expect((await readDrift(redis, prefix, 'rec-a')).rows).toBe(0);
    expect(await rec.record(a)).toBe(300);
    const b = rec.count(bundle('rec-b', true), trainRows.slice(300, 400), undefined);
    await rec.record(b);
    expect(rec.count(bundle('rec-c', false), trainRows, scores)).toBeUndefined();
    expect(rec.count(undefined, trainRows, scores)).toBeUndefined();
    expect(await rec.record(undefined)).toBe(0);
    const liveA = await readDrift(redis, prefix, 'rec-a');
    const liveB = await readDrift(redis, prefix, 'rec-b');
    expect(liveA.rows).toBe(300);
    expect(liveB.rows).toBe(100);
    expect(liveB.counts[SCORE_ENTRIES.xgboost]).toBeUndefined();
    expect(liveA.counts.flag).toEqual([225, 75]);
    expect(await redis.exists(driftKey(prefix, 'rec-c'))).toBe(0);
  });
});

describe('fraudstream drift', () => {
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'drift', ...args], { env: { ...process.env, ...configEnv({ ...config, modelDir }) } }).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
    );

  it('prints PSI per feature and score, sorted, flags shifted, and writes --json', async () => {
    const json = path.join(modelDir, 'drift.json');
    const r = await cli(['--model', 'm-drift', '--json', json]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/model m-drift \(--model\): 2000 live rows; 4 shifted/);
    const lines = r.out.split('\n').filter((l) => /shifted/.test(l) && !/live rows/.test(l));
    expect(lines).toHaveLength(4);
    const written = JSON.parse(readFileSync(json, 'utf8')) as { version: string; liveRows: number; rows: Array<{ name: string; psi: number }> };
    expect(written.version).toBe('m-drift');
    expect(written.rows.map((x) => x.psi)).toEqual([...written.rows.map((x) => x.psi)].sort((a, b) => b - a));
  });

  it('--reset deletes the version\'s live counts', async () => {
    await recordDrift(redis, config.redis.keyPrefix, 'm-old', { amount: [1, 2] });
    const r = await cli(['--model', 'm-old', '--reset']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/live drift counts of m-old \(--model\) deleted: 3 rows/);
    expect((await readDrift(redis, config.redis.keyPrefix, 'm-old')).rows).toBe(0);
    expect((await readDrift(redis, config.redis.keyPrefix, 'm-drift')).rows).toBe(2_000);
  });

  it('bad --model, an unknown version and a version without a reference are explained', async () => {
    const bad = await cli(['--model', '../etc']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--model must be a model version folder name/);
    const missing = await cli(['--model', 'nope']);
    expect(missing.err).toMatch(/nope: no such model version under MODEL_DIR/);
    const old = await cli(['--model', 'm-old']);
    expect(old.err).toMatch(/m-old has no drift-reference.json/);
    // A folder that is not a version (a stray card: neither named by the trainer nor a valid card) is refused by the one rule.
    mkdirSync(path.join(modelDir, 'stray'));
    writeFileSync(path.join(modelDir, 'stray', 'model-card.json'), JSON.stringify({ version: 'stray' }));
    const stray = await cli(['--model', 'stray']);
    expect(stray.code).toBe(2);
    expect(stray.err).toMatch(/--model stray is not named by the trainer and its model-card.json has no createdAt date/);
  });
});
