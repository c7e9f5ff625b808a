/**
 * Feature state degrades, never corrupts (issue 18 item 3), against the real Kafka and Redis: after the feature keys
 * are lost, `restore features` rebuilds from the topics a state that gives the same vectors as the one lost (labels
 * included), and detect marks its decisions partialHistory from the loss until the restore.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { DecisionSchema, type Transaction } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { UserInputError } from '../../core/errors.ts';
import { RedisFeatureStore } from '../../detectors/features.ts';
import { restoreFeatures } from '../../detectors/restore.ts';
import { startPipeline } from '../../router/pipeline.ts';
import { featureCompleteKey } from '../../state/features.ts';
import { arrivalBatches } from '../helpers/arrival.ts';
import { collect, createKafka, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';
import { delayedStream } from './delayed-stream.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function setup(label: string): Promise<{ config: Config; redis: Redis; producer: Producer; kafka: ReturnType<typeof createKafka> }> {
  const config = await testConfig(label);
  const redis = testRedis(config);
  const kafka = createKafka(config, '-test');
  const producer = createProducer(kafka);
  await producer.connect();
  cleanups.push(async () => {
    await producer.disconnect();
    await dropTestKeys(redis, config);
    redis.disconnect();
  });
  return { config, redis, producer, kafka };
}

/** Deletes every feature key under the prefix, the marker included: what FLUSHALL does to the feature state. */
async function loseFeatureState(redis: Redis, config: Config): Promise<number> {
  const keys = await redis.keys(`${config.redis.keyPrefix}feat:*`);
  if (keys.length) await redis.del(...keys);
  return keys.length;
}

describe('restore features', () => {
  it('rebuilds from the topics a state that gives the vectors the lost one gave, labels included', { timeout: 120_000 }, async () => {
    const { config, redis, producer } = await setup('restore');
    const now = Date.now();
    const stream = delayedStream({ days: 20, customers: 30, terminals: 12, seed: 5, start: now - 21 * DAY });
    // Only labels that have arrived by now are on the topic.
    const labels = stream.labels.filter((l) => l.labeledAt <= now - 2 * HOUR);
    // One transaction far older than the longest feature window (38 days), on the topic only: read, then left out (what
    // the stages built from it is not rebuilt: a card's lifetime statistics come back from the window alone).
    const ancient: Transaction = { ...stream.txs[0]!, txId: 'ancient', cardId: 'ancient-card', ts: now - 60 * DAY };
    const txs = stream.txs;

    // The state as the stages built it online: transactions and labels in arrival order.
    const prefix = config.redis.keyPrefix;
    const online = new RedisFeatureStore(redis, { keyPrefix: prefix });
    for (const step of arrivalBatches(txs, labels, 200)) {
      if (step.kind === 'labels') await online.applyLabels(step.labels);
      else await online.computeAndApply(step.txs);
    }
    await online.applyLabels(labels);
    await producer.send({ topic: config.topics.transactions, messages: [ancient, ...txs].map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
    await producer.send({ topic: config.topics.labels, messages: labels.map((l) => ({ key: l.cardId ?? l.txId, value: JSON.stringify(l) })) });

    // Probes: one new transaction per card, after everything; what the lost state says about them.
    const probes = (round: string): Transaction[] => [...new Set(txs.map((t) => t.cardId))].map((cardId, i) => ({ ...txs.find((t) => t.cardId === cardId)!, txId: `probe-${round}-${i}`, ts: now - HOUR + i }));
    const want = (await online.computeAndApply(probes('a'))).map((v) => Array.from(v));
    const riskCol = online.compiled.names.indexOf('merchant_fraud_count_30d_delayed');
    expect(riskCol).toBeGreaterThanOrEqual(0);
    // The probes see label risk: a restore that forgot the labels would give other vectors.
    expect(want.filter((v) => v[v.length - online.compiled.width + riskCol]! > 0).length).toBeGreaterThan(3);

    expect(await loseFeatureState(redis, config)).toBeGreaterThan(30);
    const phases = new Set<string>();
    const r = await restoreFeatures({ config, redis, idleTimeoutMs: 10_000, onProgress: (stage) => phases.add(stage) });
    expect(r).toMatchObject({ windowDays: 38, complete: true, keysDeleted: 0 });
    expect(r.read.transactions).toBe(txs.length + 1);
    expect(r.replayed).toEqual({ transactions: txs.length, duplicates: 0, olderThanWindow: 1 });
    expect(r.labelsCounted).toBe(labels.filter((l) => l.isFraud).length);
    expect([...phases]).toEqual(expect.arrayContaining(['kafka', 'replay']));
    expect(JSON.parse((await redis.get(featureCompleteKey(prefix))) ?? '{}')).toMatchObject({ by: 'restore', transactions: txs.length });

    // The same probes, renamed (a tx id is applied once), against the restored state.
    const got = (await new RedisFeatureStore(redis, { keyPrefix: prefix }).computeAndApply(probes('a').map((p) => ({ ...p, txId: p.txId.replace('-a-', '-b-') })))).map((v) => Array.from(v));
    expect(got).toEqual(want);

    // A whole state is not replayed over (it would count the window twice) unless --force.
    await expect(restoreFeatures({ config, redis })).rejects.toBeInstanceOf(UserInputError);
  });

  it('detect marks decisions partialHistory from the loss of the feature state until a restore', { timeout: 180_000 }, async () => {
    const { config, redis, producer, kafka } = await setup('partial');
    const pipeline = await startPipeline({ config, stages: ['detect'] });
    cleanups.push(() => pipeline.stop());
    await pipeline.ready;
    const base = delayedStream({ days: 2, customers: 5, terminals: 3, seed: 11, start: Date.now() - 2 * DAY }).txs[0]!;
    let sent = 0;
    const send = async (round: string, n: number) => {
      const txs = Array.from({ length: n }, (_, i) => ({ ...base, txId: `${round}-${i}`, cardId: `card-${i % 4}`, ts: Date.now() }));
      await producer.send({ topic: config.topics.transactions, messages: txs.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
      sent += n;
    };
    const decided = async () => {
      const msgs = await collect(kafka, config.topics.decisions, (m) => m.length >= sent, 60_000);
      return new Map(msgs.map((m) => DecisionSchema.parse(JSON.parse(m.value!.toString()))).map((d) => [d.txId, d.partialHistory === true]));
    };
    const partialOf = (all: Map<string, boolean>, round: string) => [...all].filter(([tx]) => tx.startsWith(`${round}-`)).map(([, p]) => p);

    await send('first', 10);
    expect(partialOf(await decided(), 'first')).toEqual(Array(10).fill(false));
    // A first start of a group that never decided anything writes the marker itself.
    expect(JSON.parse((await redis.get(featureCompleteKey(config.redis.keyPrefix))) ?? '{}')).toMatchObject({ by: 'first-start' });

    await loseFeatureState(redis, config);
    await send('lost', 10);
    expect(partialOf(await decided(), 'lost')).toEqual(Array(10).fill(true));

    const r = await restoreFeatures({ config, redis, idleTimeoutMs: 10_000 });
    // What detect decided after the loss (its partial state) was deleted and replayed with the rest.
    expect(r.replayed.transactions).toBe(20);
    expect(r.keysDeleted).toBeGreaterThan(0);
    await send('restored', 10);
    expect(partialOf(await decided(), 'restored')).toEqual(Array(10).fill(false));
  });
});
