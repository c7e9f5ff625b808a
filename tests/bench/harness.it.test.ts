/**
 * The bench's harness and ceilings on the test broker with a small burst (issue 20): the two-hop pass-through carries
 * outputs of the size asked through two transactional hops, visible latency is never earlier than CreateTime, and
 * the ceiling's consumers and producers are built from the stage runner's settings: the same values as a running
 * stage member's, and from the one object both read (a change to it reaches both).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumerConfig, Kafka, ProducerConfig } from 'kafkajs';
import { Redis } from 'ioredis';
import { TransactionSchema, type Transaction } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { createRedis } from '../../core/redis.ts';
import { ceilingKafka, startPassThrough, type PassThrough } from '../../bench/pipeline/ceiling.ts';
import { GcClock, Harness } from '../../bench/pipeline/harness.ts';
import { RUNNER_KAFKA } from '../../router/runner/kafka-settings.ts';
import { JavaCompatiblePartitioner } from '../../core/partition.ts';
import { startStage } from '../../router/stage-runner.ts';
import type { StageLogic } from '../../router/runner/batch-processor.ts';
import { dropTestKeys, testConfig } from '../helpers/services.ts';
import { testTransactions } from '../helpers/transactions.ts';

interface Recorded {
  consumers: ConsumerConfig[];
  producers: ProducerConfig[];
}

/** A deep copy of a client config; functions (a producer's partitioner) are kept as they are, to compare by identity. */
function snapshot<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(snapshot) as T;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, snapshot(x)])) as T;
}

/** The real client, recording the configs its consumers and producers are built with. */
function recording(real: Kafka): { kafka: Kafka; seen: Recorded } {
  const seen: Recorded = { consumers: [], producers: [] };
  const kafka = new Proxy(real, {
    get(target, prop) {
      if (prop === 'consumer') return (c: ConsumerConfig) => (seen.consumers.push(snapshot(c)), target.consumer(c));
      if (prop === 'producer') return (c: ProducerConfig) => (seen.producers.push(snapshot(c ?? {})), target.producer(c));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { kafka, seen };
}

const withoutIds = ({ groupId: _g, ...rest }: ConsumerConfig) => rest;
const withoutTxId = ({ transactionalId: _t, ...rest }: ProducerConfig) => rest;

function source(prefix: string): (n: number) => Transaction[] {
  let i = 0;
  return (n) => {
    const txs = testTransactions(n, { prefix: `${prefix}-${i}` });
    i += 1;
    return txs;
  };
}

describe('bench harness and ceilings on the test broker', () => {
  let config: Config;
  let stageConfig: Config;
  let kafka: Kafka;
  let redis: Redis;
  let admin: Redis;
  const abort = new AbortController();
  const logs: string[] = [];

  beforeAll(async () => {
    config = await testConfig('bench-harness');
    stageConfig = await testConfig('bench-runner');
    kafka = createKafka(config, '-test');
    redis = createRedis(stageConfig);
    admin = new Redis(stageConfig.redis.url);
  });

  afterAll(async () => {
    await dropTestKeys(admin, stageConfig);
    redis?.disconnect();
    admin?.disconnect();
  });

  it('runs a small burst and paced phase through the two-hop ceiling with the runner\'s own consumer and producer settings', async () => {
    // What a stage member is built with: a running member, fed one message so a partition's producer exists.
    const runner = recording(createKafka(stageConfig, '-runner'));
    const logic: StageLogic<Transaction> = { name: 'detect', schema: TransactionSchema, keyOf: (t) => t.txId, handle: async (inputs) => inputs.map(() => []) };
    const stage = await startStage({ config: stageConfig, kafka: runner.kafka, redis, topic: stageConfig.topics.transactions, groupId: stageConfig.groups.detect, logic });
    const p = createProducer(kafka);
    try {
      await stage.ready;
      await p.connect();
      await p.send({ topic: stageConfig.topics.transactions, messages: [{ key: 'k', value: JSON.stringify(testTransactions(1, { prefix: 'runner' })[0]) }] });
      await expect.poll(() => runner.seen.producers.length, { timeout: 30_000 }).toBeGreaterThan(0);
    } finally {
      await p.disconnect();
      await stage.stop();
    }

    const client = ceilingKafka(config.kafka, 'bench-harness-test');
    const ceiling = recording(client.kafka);
    let pass: PassThrough | undefined;
    const h = new Harness({ kafka, inputTopic: config.topics.transactions, outputTopic: config.topics.decisions, readerGroup: `${config.groups.detect}-reader`, next: source('bench'), log: (l) => logs.push(l), signal: abort.signal, stallSeconds: 60 });
    const gc = new GcClock();
    const sizes: number[] = [];
    try {
      pass = await startPassThrough({
        kafka: ceiling.kafka,
        mode: 'per-partition',
        hops: 2,
        partitions: config.kafka.partitions,
        log: (l) => logs.push(l),
        inputTopic: config.topics.transactions,
        middleTopic: config.topics.escalations,
        outputTopic: config.topics.decisions,
        groupId: config.groups.detect,
        // Outputs five times their inputs: one consumed partition batch (up to 512 KiB in) outgrows the broker's 1 MiB
        // request limit unless sent in chunks, as the runner sends (regression: the first real run crashed here).
        padToBytes: 2_000,
      });
      await h.start();
      await pass.ready;
      const burst = await h.burst('tiny', 3_000, gc);
      expect(burst.eventsPerSec).toBeGreaterThan(0);
      expect(h.observedOutputs).toBe(3_000);
      const paced = await h.paced('tiny', '100/s', 100, 60);
      expect(paced.events).toBe(60);
      expect(paced.visibleLatencyMs.count).toBe(60);
      // Each event is visible to the read_committed reader no earlier than its output's CreateTime.
      for (const k of ['p50', 'p95', 'p99', 'max'] as const) expect(paced.visibleLatencyMs[k]).toBeGreaterThanOrEqual(paced.latencyMs[k]);
      expect(paced.messagesPerSend).toBeGreaterThanOrEqual(1);
      // A pass-through's outputs name no deciding stage.
      expect(paced.visibleByStageMs).toBeUndefined();
      // The reader never commits (kafkajs' autoCommit would hold each of its fetches for a commit per partition).
      const kadmin = kafka.admin();
      await kadmin.connect();
      try {
        const [offsets] = await kadmin.fetchOffsets({ groupId: `${config.groups.detect}-reader`, topics: [config.topics.decisions] });
        expect(offsets!.partitions.map((x) => x.offset)).toEqual(offsets!.partitions.map(() => '-1'));
      } finally {
        await kadmin.disconnect();
      }
      sizes.push(Math.round(h.observedBytes / h.observedOutputs));
    } finally {
      gc.stop();
      await h.stop();
      await pass?.stop();
    }
    // Both hops' outputs padded to a decision's size (the middle topic's too, as the reader saw the second hop's).
    expect(sizes[0]).toBeGreaterThanOrEqual(1_995);
    expect(sizes[0]).toBeLessThanOrEqual(2_005);

    // Two hops: two consumers (two groups), and a transactional producer per partition they served.
    expect(ceiling.seen.consumers.map((c) => c.groupId)).toEqual([config.groups.detect, `${config.groups.detect}-hop2`]);
    expect(ceiling.seen.producers.length).toBeGreaterThanOrEqual(2);
    // The same settings as the running stage member's, ids aside.
    const stageConsumer = withoutIds(runner.seen.consumers[0]!);
    const stageProducer = withoutTxId(runner.seen.producers[0]!);
    for (const c of ceiling.seen.consumers) expect(withoutIds(c)).toEqual(stageConsumer);
    for (const pr of ceiling.seen.producers) {
      expect(withoutTxId(pr)).toEqual(stageProducer);
      expect(pr.transactionalId).toMatch(/^fraudstream\./);
    }
    expect(stageProducer).toMatchObject({ idempotent: true, maxInFlightRequests: 1, transactionTimeout: RUNNER_KAFKA.producer.transactionTimeout });
    // Keys placed by the project's partitioner (kafkajs' own placement, without its per-message Long arithmetic), on both.
    expect(stageProducer.createPartitioner).toBe(JavaCompatiblePartitioner);
  });

  it('takes its settings from the runner\'s one object, not a copy: a change to it reaches the ceiling', async () => {
    const saved = RUNNER_KAFKA.consumer.maxWaitTimeInMs;
    RUNNER_KAFKA.consumer.maxWaitTimeInMs = 321;
    const ceiling = recording(ceilingKafka(config.kafka, 'bench-harness-test-2').kafka);
    let pass: PassThrough | undefined;
    try {
      pass = await startPassThrough({
        kafka: ceiling.kafka,
        mode: 'per-partition',
        hops: 1,
        partitions: config.kafka.partitions,
        log: (l) => logs.push(l),
        inputTopic: config.topics.labels,
        outputTopic: config.topics.cases,
        groupId: `${config.groups.detect}-one-source`,
      });
    } finally {
      RUNNER_KAFKA.consumer.maxWaitTimeInMs = saved;
      await pass?.stop();
    }
    expect(ceiling.seen.consumers[0]?.maxWaitTimeInMs).toBe(321);
  });
});
