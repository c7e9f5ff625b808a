/**
 * A slow escalation does not hold back first-line decisions in the same process (issue 20): escalate's heavy model
 * scores on its worker thread, so a detect batch that arrives while it scores (and waits on its feature store, as on
 * Redis) is decided before the escalation batch answers. With HEAVY_THREAD=main the same heavy call holds the event
 * loop and detect's batch finishes after it: the ordering, not a time, is what the test checks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Escalation } from '../../core/contracts.ts';
import { loadConfig } from '../../core/config.ts';
import { RAW_BAND_P } from '../../detectors/calibrated.ts';
import { MemoryFeatureStore } from '../../detectors/features.ts';
import { trainHeavy } from '../../detectors/heavy/model.ts';
import { generateSynthetic, synthFeatureNames } from '../../detectors/heavy/synthetic.ts';
import { loadHeavyScoring, type HeavyScoring, type HeavyThreadMode } from '../../detectors/heavy/threaded.ts';
import type { FeatureStore, ModelBundle } from '../../detectors/types.ts';
import { detectLogic } from '../../router/detect-stage.ts';
import { escalateLogic } from '../../router/escalate-stage.ts';
import type { PolicySource } from '../../router/policy-source.ts';
import { defaultPolicy } from '../../state/policy.ts';
import type { ReviewQueue } from '../../state/types.ts';
import { testTransactions } from '../helpers/transactions.ts';

const K = 8;
const names = synthFeatureNames(2);
const ESCALATED = 3_000;
let dir: string;
const loaded: HeavyScoring[] = [];

beforeAll(async () => {
  const rows = generateSynthetic({ n: 600, maxHistory: K + 2, noiseFeatures: 2, fraudRate: 0.1, seed: 31 });
  const model = await trainHeavy({ sequences: rows.map((r) => r.history), currents: rows.map((r) => r.current), labels: rows.map((r) => r.label), featureNames: names, k: K, epochs: 1 });
  dir = await mkdtemp(path.join(os.tmpdir(), 'heavy-stage-'));
  await model.save(dir);
  model.dispose();
}, 120_000);

afterAll(async () => {
  for (const h of loaded) h.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Detect's and escalate's batches started together in one process: which answered first. */
async function race(mode: HeavyThreadMode): Promise<string[]> {
  const heavy = await loadHeavyScoring(dir, mode);
  loaded.push(heavy);
  expect(heavy.thread).toBe(mode);
  const config = loadConfig({});
  const policy = defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } });
  const source: PolicySource = { current: () => policy, refresh: async () => policy, onChange: () => undefined, close: async () => undefined };
  const redis = {} as Redis;
  let entered!: () => void;
  const heavyCalled = new Promise<void>((resolve) => (entered = resolve));
  const scoreHeavy = (rows: Parameters<ModelBundle['scoreHeavy']>[0]) => {
    entered();
    return heavy.predict(rows);
  };
  const bundle = { version: 'v-heavy', hasHeavy: true, featureNames: names, probability: RAW_BAND_P, scoreHeavy } as unknown as ModelBundle;
  const queue: ReviewQueue = { enqueue: async () => undefined, listOpen: async () => [], openCount: async () => 0, get: async () => undefined, close: async () => undefined };
  const escalate = escalateLogic({ config, policy: source, redis, queue, features: new MemoryFeatureStore(), models: () => bundle, historyLength: K });
  // Detect's feature store answers after a round trip, as Redis does: its answer needs a free event loop.
  const memory = new MemoryFeatureStore();
  const features: FeatureStore = Object.assign(Object.create(memory) as FeatureStore, {
    computeAndApply: (txs: Parameters<FeatureStore['computeAndApply']>[0]) => new Promise<Awaited<ReturnType<FeatureStore['computeAndApply']>>>((resolve) => setTimeout(() => resolve(memory.computeAndApply(txs)), 5)),
  });
  const detect = detectLogic({ config, policy: source, redis, features, models: () => undefined });

  const txs = testTransactions(ESCALATED + 50, { prefix: `race-${mode}` });
  const escalations: Escalation[] = txs.slice(0, ESCALATED).map((tx, i) => ({
    txId: tx.txId, cardId: tx.cardId, tx, features: Object.fromEntries(names.map((n, j) => [n, ((i + j) % 7) / 7])),
    scores: { xgboost: 0.5, isolationForest: 0.5 }, rulesFired: [], topFeatures: [], versions: { model: 'v-heavy', policy: policy.version }, timings: { detect: 1 }, escalatedAt: tx.ts,
  }));
  const order: string[] = [];
  const slow = escalate.handle(escalations.map((value) => ({ value, receivedAt: Date.now() }))).then((out) => {
    expect(out).toHaveLength(ESCALATED);
    order.push('escalate');
  });
  // Detect's batch arrives once the heavy call is under way.
  await heavyCalled;
  const fast = detect.handle(txs.slice(ESCALATED).map((value) => ({ value, receivedAt: Date.now() }))).then((out) => {
    expect(out).toHaveLength(50);
    order.push('detect');
  });
  await Promise.all([slow, fast]);
  return order;
}

describe('detect and escalate in one process', () => {
  it('with the heavy model on its worker thread, detect decides while escalate waits for the heavy scores', async () => {
    expect(await race('worker')).toEqual(['detect', 'escalate']);
  }, 60_000);

  it('with HEAVY_THREAD=main, the heavy call holds detect back until escalate is done', async () => {
    expect(await race('main')).toEqual(['escalate', 'detect']);
  }, 60_000);
});
