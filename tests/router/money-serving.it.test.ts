/**
 * Issue 13 served, on real Kafka and Redis: a version trained with an isotonic calibrator decides a stream and every
 * model decision on the decisions topic carries its expected loss with p(fraud) = the calibrator applied to the
 * XGBoost score; and escalate, with review capacity for 3 cases an hour, decides low-stake ambiguous cases by their
 * cheaper action instead of queueing them while high-stake ones still reach the queue.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecisionSchema, type Decision, type Escalation, type Transaction } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { datasetFromEvents, trainModels } from '../../detectors/trainer.ts';
import { loadModelVersion, type LoadedModel } from '../../detectors/model-version.ts';
import { calibrate, type Calibrator } from '../../detectors/pure/calibration.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { redisFeatureStore } from '../../router/serving-models.ts';
import { RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { readReviewCutoff } from '../../state/review-cutoff.ts';
import { tinyStream } from '../detectors/tiny-stream.ts';
import { collect, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';

const TRAIN = 6_000;
const STREAM = 400;

let modelDir: string;
let models: LoadedModel;
let calibrator: Calibrator;
let stream: Transaction[];
const pipelines: Pipeline[] = [];
const configs: Config[] = [];

const parse = (msgs: Array<{ value: Buffer | null }>): Decision[] => msgs.map((m) => DecisionSchema.parse(JSON.parse(m.value!.toString())));

beforeAll(async () => {
  modelDir = await mkdtemp(path.join(tmpdir(), 'fs-money-'));
  // The quick version drift.test.ts trains: the tiny stream, no heavy model, few trees and rounds.
  const items = tinyStream(TRAIN + STREAM, 2);
  const ds = datasetFromEvents(items.slice(0, TRAIN), { novelScenarios: new Set() });
  const trained = await trainModels(ds, { modelDir, heavy: { enabled: false }, xgboost: { iterations: 20 }, forest: { trees: 20 } });
  models = await loadModelVersion(trained.dir);
  const cal = models.card.calibration;
  if (!cal) throw new Error('the trained card has no calibration: the test cannot prove anything');
  calibrator = cal.calibrator;
  stream = items.slice(TRAIN).map((i) => i.tx);
}, 240_000);

afterAll(async () => {
  for (const p of pipelines) await p.stop();
  const redis = configs.length ? testRedis(configs[0]!) : undefined;
  for (const c of configs) if (redis) await dropTestKeys(redis, c);
  redis?.disconnect();
  models?.dispose();
  await rm(modelDir, { recursive: true, force: true });
});

describe('a served version with a calibrator', () => {
  it('serves p(fraud) = its isotonic calibrator of the XGBoost score', () => {
    expect(models.probability.calibrated).toBe(true);
    expect(models.probability.source).toMatch(/isotonic/);
    for (const s of [0, 0.01, 0.2, 0.5, 0.9, 1]) expect(models.probability.fromBandScore(s)).toBe(calibrate(calibrator, s));
  });

  it('every model decision on the decisions topic carries expectedLoss whose pFraud is the calibrated score', async () => {
    const config = await testConfig('money');
    configs.push(config);
    const redis = testRedis(config);
    const store = redisFeatureStore(config)(redis);
    await store.computeAndApply(tinyStream(TRAIN + STREAM, 2).slice(0, TRAIN).map((i) => i.tx));
    const policies = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(models.thresholds, models.version));
    const policy = await policies.current();
    redis.disconnect();
    pipelines.push(await startPipeline({ config, stages: ['detect', 'escalate'], models, featureStore: redisFeatureStore(config) }));
    const kafka = createKafka(config, '-test');
    const producer = createProducer(kafka);
    await producer.connect();
    await producer.send({ topic: config.topics.transactions, messages: stream.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
    await producer.disconnect();
    const want = new Set(stream.map((t) => t.txId));
    const decisions = parse(await collect(kafka, config.topics.decisions, (seen) => new Set(parse(seen).map((d) => d.txId)).size >= want.size, 120_000));

    expect(new Set(decisions.map((d) => d.txId))).toEqual(want);
    let differsFromRaw = 0;
    for (const d of decisions) {
      const xgb = d.scores.xgboost;
      expect(xgb).toBeTypeOf('number');
      expect(d.expectedLoss, d.decisionId).toBeDefined();
      const l = d.expectedLoss!;
      expect(l.calibrated).toBe(true);
      // The decision's scores are rounded to 5 decimals (router/pure/decision.ts), p(fraud) is not: it is the calibrated
      // value of a score within half a unit of the last decimal (the calibrator is monotone).
      // The score is rounded to 5 decimals, p(fraud) to 6 significant digits (router/pure/money.ts decisionLoss).
      expect(l.pFraud).toBeGreaterThanOrEqual(calibrate(calibrator, xgb! - 5e-6) * (1 - 5e-6) - 1e-12);
      expect(l.pFraud).toBeLessThanOrEqual(calibrate(calibrator, xgb! + 5e-6) * (1 + 5e-6) + 1e-12);
      const fee = policy.money.chargebackFeeMinor;
      expect(l.ifAllowedMinor).toBe(Math.round(l.pFraud * (d.tx.amountMinor + fee)));
      expect(l.ifBlockedMinor).toBe(Math.round((1 - l.pFraud) * policy.money.falseBlockCostMinor));
      expect(l.stakeMinor).toBe(Math.min(l.ifAllowedMinor, l.ifBlockedMinor));
      if (Math.abs(l.pFraud - xgb!) > 0.01) differsFromRaw += 1;
    }
    // The calibrator is not the identity on this traffic, so serving the raw score would have failed above.
    expect(differsFromRaw).toBeGreaterThan(0);
    expect(decisions.some((d) => d.stage === 'detect')).toBe(true);
  }, 180_000);
});

describe('escalate: the review cutoff follows from capacity', () => {
  it('with capacity for 3 cases an hour, low stakes are decided by their cheaper action and high stakes are queued', async () => {
    // One partition, so the escalations are decided in the order sent.
    const config = await testConfig('cutoff', { KAFKA_PARTITIONS: '1' });
    configs.push(config);
    const redis = testRedis(config);
    const policies = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(models.thresholds, models.version));
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = await policies.current();
    // Every heavy (here: first-line) score is ambiguous; a false block costs a fortune, so the cheaper action is ALLOW.
    await policies.update(
      {
        ...input,
        thresholds: { ...input.thresholds, escalate: { allowBelow: 0, blockAbove: 1 } },
        review: { ...input.review, capacity: 1_000, analysts: 1, casesPerAnalystHour: 3 },
        money: { chargebackFeeMinor: 0, falseBlockCostMinor: 1_000_000_000 },
      },
      'test',
    );
    pipelines.push(await startPipeline({ config, stages: ['escalate'], models, featureStore: redisFeatureStore(config) }));
    // A score the calibrator maps strictly between 0 and 1, so both losses are positive.
    const mids = calibrator.x.slice(1).map((x, i) => (x + calibrator.x[i]!) / 2);
    const score = [...calibrator.x, ...mids].find((x) => calibrate(calibrator, x) > 0.02 && calibrate(calibrator, x) < 0.98);
    if (score === undefined) throw new Error(`no score with 0 < p < 1 in the calibrator: ${JSON.stringify(calibrator)}`);
    const p = calibrate(calibrator, score);
    const amounts = [1_000_000, 1_100_000, 1_200_000, 100, 200, 300, 400, 500, 5_000_000];
    const base = stream[0]!;
    const escalations: Escalation[] = amounts.map((amountMinor, i) => ({
      txId: `esc-${i}`,
      cardId: `card-esc-${i}`,
      tx: { ...base, txId: `esc-${i}`, cardId: `card-esc-${i}`, amountMinor },
      features: {},
      scores: { xgboost: score, isolationForest: 0.5 },
      rulesFired: [],
      topFeatures: [],
      versions: { model: models.version, policy: 1 },
      timings: { detect: 1 },
      escalatedAt: Date.now(),
    }));
    const kafka = createKafka(config, '-test');
    const producer = createProducer(kafka);
    await producer.connect();
    await producer.send({ topic: config.topics.escalations, messages: escalations.map((e) => ({ key: e.cardId, value: JSON.stringify(e) })) });
    await producer.disconnect();
    const decisions = parse(await collect(kafka, config.topics.decisions, (seen) => seen.length >= escalations.length, 60_000, 1_000));
    const byTx = new Map(decisions.map((d) => [d.txId, d]));
    const action = (i: number) => byTx.get(`esc-${i}`)?.action;

    expect([0, 1, 2, 8].map(action)).toEqual(['REVIEW', 'REVIEW', 'REVIEW', 'REVIEW']);
    expect([3, 4, 5, 6, 7].map(action)).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW']);
    const cutoff = Math.round(p * 1_000_000);
    for (const i of [3, 4, 5, 6, 7]) {
      const d = byTx.get(`esc-${i}`)!;
      expect(d.final).toBe(true);
      const hit = d.rulesFired.find((r) => r.id === 'review.capacity_cutoff');
      expect(hit?.description).toBe(`review capacity: stake ${d.expectedLoss!.stakeMinor} below cutoff ${cutoff}`);
      expect(d.expectedLoss!.stakeMinor).toBe(Math.round(p * amounts[i]!));
    }
    const queue = new RedisReviewQueue(redis, config.redis.keyPrefix);
    const open = await queue.listOpen(50);
    expect(open.map((c) => c.txId).sort()).toEqual(['esc-0', 'esc-1', 'esc-2', 'esc-8']);
    expect(open[0]!.txId).toBe('esc-8');
    expect(open[0]!.loss?.pFraud).toBeCloseTo(p, 12);
    // What the Live page reads: the cutoff as of the last ambiguous case (the 3rd largest stake of the window).
    const status = await readReviewCutoff(redis, config.redis.keyPrefix);
    expect(status).toMatchObject({ cutoffMinor: Math.round(p * 1_100_000), ambiguous: 9, capacityPerHour: 3, reviewsPerHour: 3 });
    redis.disconnect();
  }, 120_000);
});
