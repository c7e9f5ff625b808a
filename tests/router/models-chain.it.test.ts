/**
 * The chain with real models: a small version is trained on generated history (isolation forest, XGBoost,
 * heavy model), then a later slice of the same world streams through detect and escalate on Kafka and Redis.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecisionSchema, type Decision, type Transaction } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { datasetFromEvents, trainModels } from '../../detectors/trainer.ts';
import { loadModelVersion } from '../../detectors/model-version.ts';
import { readDrift } from '../../detectors/drift.ts';
import type { ModelBundle } from '../../detectors/types.ts';
import { SCENARIOS, generateStream } from '../../producers/world/index.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { redisFeatureStore } from '../../router/serving-models.ts';
import { collect, testConfig, testRedis } from '../helpers/services.ts';

const WORLD = { seed: 11, cards: 1_500, merchants: 300, fraudRate: 0.03 };
const TRAIN_EVENTS = 30_000;
const STREAM_EVENTS = 1_500;

describe('detect + escalate with a trained model version', () => {
  let modelDir: string;
  let models: ModelBundle;
  let config: Config;
  let pipeline: Pipeline;
  let stream: Transaction[];
  let decisions: Decision[];

  beforeAll(async () => {
    modelDir = await mkdtemp(path.join(tmpdir(), 'fs-models-'));
    const all = [...generateStream({ ...WORLD, events: TRAIN_EVENTS + STREAM_EVENTS })];
    const novel = new Set(SCENARIOS.filter((s) => s.novel).map((s) => s.name));
    const ds = datasetFromEvents(all.slice(0, TRAIN_EVENTS), { novelScenarios: novel });
    const trained = await trainModels(ds, { modelDir, heavy: { enabled: true, epochs: 1, maxRows: 4_000, serve: 'always' }, forest: { trees: 50 }, xgboost: { iterations: 60 } });
    models = await loadModelVersion(trained.dir);
    stream = all.slice(TRAIN_EVENTS).map((e) => e.tx);

    config = await testConfig('models');
    // Replay the training history into the feature store first, so cards arrive with their past (as in production).
    const redis = testRedis(config);
    const store = redisFeatureStore(config)(redis);
    for (let i = 0; i < TRAIN_EVENTS; i += 2_000) await store.computeAndApply(all.slice(i, Math.min(TRAIN_EVENTS, i + 2_000)).map((e) => e.tx));
    // A wide ambiguous band for the heavy model makes sure some transactions reach human review.
    const policies = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(models.thresholds, models.version));
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = await policies.current();
    await policies.update({ ...input, thresholds: { ...input.thresholds, escalate: { allowBelow: 0.02, blockAbove: 0.995 } } }, 'test');
    redis.disconnect();

    pipeline = await startPipeline({ config, stages: ['detect', 'escalate'], models, featureStore: redisFeatureStore(config) });
    const kafka = createKafka(config, '-test');
    const producer = createProducer(kafka);
    await producer.connect();
    await producer.send({ topic: config.topics.transactions, messages: stream.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
    await producer.disconnect();
    const want = new Set(stream.map((t) => t.txId));
    const msgs = await collect(kafka, config.topics.decisions, (seen) => seen.length >= want.size, 150_000, 2_500);
    decisions = msgs.map((m) => DecisionSchema.parse(JSON.parse(m.value!.toString())));
  }, 400_000);

  afterAll(async () => {
    await pipeline?.stop();
    await rm(modelDir, { recursive: true, force: true });
  });

  it('counts every scored transaction for drift monitoring under the served version', async () => {
    const redis = testRedis(config);
    try {
      const live = await readDrift(redis, config.redis.keyPrefix, models.version);
      expect(live.rows).toBe(stream.length);
      expect(Object.keys(live.counts).length).toBeGreaterThan(models.featureNames.length / 2);
    } finally {
      redis.disconnect();
    }
  });

  it('gives exactly one decision per transaction', () => {
    expect(decisions).toHaveLength(stream.length);
    expect(new Set(decisions.map((d) => d.txId))).toEqual(new Set(stream.map((t) => t.txId)));
  });

  it('scores every transaction with both first-line models and names the model and policy versions', () => {
    for (const d of decisions) {
      expect(d.scores.isolationForest).toBeTypeOf('number');
      expect(d.scores.xgboost).toBeTypeOf('number');
      expect(d.versions.model).toBe(models.version);
      expect(d.versions.policy).toBe(2);
      expect(d.timings.detect).toBeGreaterThanOrEqual(0);
    }
  });

  it('sends the ambiguous through the heavy model, some to review, and explains what it did not allow', () => {
    const escalated = decisions.filter((d) => d.stage === 'escalate');
    expect(escalated.length).toBeGreaterThan(0);
    expect(escalated.length).toBeLessThan(decisions.length / 2);
    for (const d of escalated) {
      expect(d.scores.heavy).toBeTypeOf('number');
      expect(d.timings.escalate).toBeGreaterThanOrEqual(0);
      expect(d.topFeatures.length).toBeGreaterThan(0);
    }
    expect(decisions.some((d) => d.action === 'REVIEW' && !d.final)).toBe(true);
    for (const d of decisions.filter((x) => x.action === 'BLOCK')) {
      expect(d.rulesFired.length).toBeGreaterThan(0);
      if (d.stage === 'detect' && d.rulesFired.some((r) => r.id.startsWith('model.'))) expect(d.topFeatures.length).toBeGreaterThan(0);
    }
    expect(decisions.filter((d) => d.stage === 'detect' && d.action === 'ALLOW').length).toBeGreaterThan(decisions.length / 2);
  });
});
