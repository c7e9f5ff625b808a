/**
 * The stage runner against the real broker and Redis: poison pills, conflicting duplicates, a lost claim reply,
 * fencing of a member whose partition was taken over, and health read from the broker.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka, Producer } from 'kafkajs';
import { Redis } from 'ioredis';
import { DeadLetterSchema, TransactionSchema, type Transaction } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { createRedis } from '../../core/redis.ts';
import { metrics } from '../../router/metrics.ts';
import { encodeMarker, outcomeExpiryIndexKey, outcomeKeyPrefix } from '../../state/outcomes.ts';
import { contentHash } from '../../router/runner/batch.ts';
import { transactionalId } from '../../router/runner/kafka-settings.ts';
import { startStage, type RunningStage } from '../../router/stage-runner.ts';
import type { StageLogic } from '../../router/runner/batch-processor.ts';
import { collect, dropTestKeys, testConfig } from '../helpers/services.ts';
import { testTransactions } from '../helpers/transactions.ts';

/** A stage whose logic echoes each transaction as an output, and counts how often it was asked to decide each key. */
function echoLogic(config: Config, calls: Map<string, number>): StageLogic<Transaction> {
  return {
    name: 'detect',
    schema: TransactionSchema,
    keyOf: (tx) => tx.txId,
    async handle(inputs) {
      return inputs.map(({ value }) => {
        calls.set(value.txId, (calls.get(value.txId) ?? 0) + 1);
        return [{ topic: config.topics.decisions, key: value.cardId, value: JSON.stringify({ txId: value.txId, decidedBy: 'logic' }), action: 'ALLOW' }];
      });
    },
  };
}

const send = (producer: Producer, topic: string, txs: Transaction[], partition?: number) =>
  producer.send({ topic, messages: txs.map((t) => ({ key: t.cardId, value: JSON.stringify(t), ...(partition === undefined ? {} : { partition }) })) });

const txIdsOf = (messages: Array<{ value: Buffer | null }>) => messages.map((m) => (JSON.parse(m.value!.toString()) as { txId: string }).txId);

describe('stage runner on Kafka and Redis', () => {
  let config: Config;
  let kafka: Kafka;
  let producer: Producer;
  let redis: Redis;
  let admin: Redis;
  const stages: RunningStage[] = [];

  beforeAll(async () => {
    config = await testConfig('runner', { KAFKA_PARTITIONS: '2', STAGE_STALL_SECONDS: '5' });
    kafka = createKafka(config, '-test');
    producer = createProducer(kafka);
    await producer.connect();
    redis = createRedis(config);
    admin = new Redis(config.redis.url);
  });

  afterEach(async () => {
    while (stages.length) await stages.pop()!.stop();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await dropTestKeys(admin, config);
    redis?.disconnect();
    admin?.disconnect();
  });

  it('a message that makes the logic throw goes to the DLQ after bounded attempts; the rest of its batch is decided', async () => {
    const calls = new Map<string, number>();
    const stage = await startStage({ config, kafka, redis, topic: config.topics.transactions, groupId: `${config.groups.detect}-throw`, logic: echoLogic(config, calls), faults: { throwOnKey: 'poison' } });
    stages.push(stage);
    await stage.ready;
    const txs = testTransactions(40, { prefix: 'ok' });
    const poison = { ...testTransactions(1, { prefix: 'poison' })[0]!, cardId: 'card-1' };
    await send(producer, config.topics.transactions, [...txs.slice(0, 20), poison, ...txs.slice(20)], 0);
    const decided = await collect(kafka, config.topics.decisions, (seen) => seen.length >= 40, 60_000, 1_500);
    expect(new Set(txIdsOf(decided))).toEqual(new Set(txs.map((t) => t.txId)));
    expect(decided).toHaveLength(40);
    const dlq = await collect(kafka, config.topics.dlq, (seen) => seen.some((m) => DeadLetterSchema.parse(JSON.parse(m.value!.toString())).reason.includes('poison')));
    const letter = dlq.map((m) => DeadLetterSchema.parse(JSON.parse(m.value!.toString()))).find((l) => l.reason.includes('poison'))!;
    expect(letter.reason).toMatch(/^stage logic failed 3 times: injected fault/);
    expect(JSON.parse(Buffer.from(letter.rawBase64, 'base64').toString()).txId).toBe(poison.txId);
  });

  it('a conflicting duplicate (same tx id, other content) is dead-lettered; an identical one is only counted', async () => {
    const calls = new Map<string, number>();
    const groupId = `${config.groups.detect}-dup`;
    const stage = await startStage({ config: { ...config, topics: { ...config.topics } }, kafka, redis, topic: config.topics.transactions, groupId, logic: echoLogic(config, calls) });
    stages.push(stage);
    await stage.ready;
    const [tx] = testTransactions(1, { prefix: 'dup' });
    const before = (await metrics.duplicates.get()).values.find((v) => v.labels.stage === 'detect')?.value ?? 0;
    await send(producer, config.topics.transactions, [tx!]);
    await collect(kafka, config.topics.decisions, (seen) => txIdsOf(seen).includes(tx!.txId));
    // Regression (chaos fuzz): a conflicting copy ahead of an identical one in the same batch dead-lettered both.
    await send(producer, config.topics.transactions, [{ ...tx!, amountMinor: tx!.amountMinor + 1 }, tx!]);
    const dlq = await collect(kafka, config.topics.dlq, (seen) => seen.some((m) => m.value!.toString().includes('conflicting duplicate')));
    const letters = dlq.map((m) => DeadLetterSchema.parse(JSON.parse(m.value!.toString()))).filter((l) => l.reason.startsWith('conflicting duplicate'));
    expect(letters).toHaveLength(1);
    expect(JSON.parse(Buffer.from(letters[0]!.rawBase64, 'base64').toString()).amountMinor).toBe(tx!.amountMinor + 1);
    const decided = await collect(kafka, config.topics.decisions, (seen) => txIdsOf(seen).includes(tx!.txId), 20_000, 2_000);
    expect(txIdsOf(decided).filter((id) => id === tx!.txId)).toHaveLength(1);
    expect(calls.get(tx!.txId)).toBe(1);
    const after = (await metrics.duplicates.get()).values.find((v) => v.labels.stage === 'detect')?.value ?? 0;
    expect(after - before).toBeGreaterThanOrEqual(1);
  });

  it('regression: a key claimed by this very message but never committed (a lost claim reply, a crash) is decided and published, not counted as a duplicate', async () => {
    const cfg = await testConfig('runner-lost', { KAFKA_PARTITIONS: '1' });
    const calls = new Map<string, number>();
    const [tx] = testTransactions(1, { prefix: 'lost' });
    // As if an earlier attempt claimed offset 0 of partition 0 and its reply was lost, or it died before committing.
    await admin.set(`${cfg.redis.keyPrefix}outcome:detect:${tx!.txId}`, encodeMarker({ source: '0:0', hash: contentHash(Buffer.from(JSON.stringify(tx))) }), 'EX', 600);
    const again = async () => (await metrics.republished.get()).values.find((v) => v.labels.stage === 'detect')?.value ?? 0;
    const before = await again();
    const stage = await startStage({ config: cfg, kafka, redis, topic: cfg.topics.transactions, groupId: cfg.groups.detect, logic: echoLogic(cfg, calls) });
    stages.push(stage);
    await stage.ready;
    await send(producer, cfg.topics.transactions, [tx!], 0);
    const decided = await collect(kafka, cfg.topics.decisions, (seen) => seen.length >= 1, 30_000, 1_500);
    expect(decided.map((m) => JSON.parse(m.value!.toString()))).toEqual([{ txId: tx!.txId, decidedBy: 'logic' }]);
    expect(calls.get(tx!.txId)).toBe(1);
    expect((await again()) - before).toBe(1);
    await dropTestKeys(admin, cfg);
  });

  it('the runner sweeps its claims once their window is over (a 2 s window, a sweep every 300 ms)', async () => {
    const cfg = await testConfig('runner-sweep', { KAFKA_PARTITIONS: '1' });
    const calls = new Map<string, number>();
    const txs = testTransactions(5, { prefix: 'sweep' });
    const stage = await startStage({ config: cfg, kafka, redis, topic: cfg.topics.transactions, groupId: cfg.groups.detect, logic: echoLogic(cfg, calls), outcomeTtlSeconds: 2, sweepIntervalMs: 300 });
    stages.push(stage);
    await stage.ready;
    await send(producer, cfg.topics.transactions, txs, 0);
    await collect(kafka, cfg.topics.decisions, (seen) => seen.length >= 5, 30_000, 0);
    const keys = txs.map((t) => `${outcomeKeyPrefix(cfg.redis.keyPrefix, 'detect')}${t.txId}`);
    let left = keys.length;
    for (let i = 0; i < 100 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      left = await admin.exists(...keys);
    }
    expect(left).toBe(0);
    expect(await admin.smembers(outcomeExpiryIndexKey(cfg.redis.keyPrefix, 'detect'))).toEqual([]);
    expect(calls.size).toBe(5);
    await dropTestKeys(admin, cfg);
  });

  it('a member whose partition producer is fenced by a new owner rejoins and goes on; nothing is decided twice', async () => {
    const cfg = await testConfig('runner-fence', { KAFKA_PARTITIONS: '1', STAGE_STALL_SECONDS: '5' });
    const calls = new Map<string, number>();
    const stage = await startStage({ config: cfg, kafka, redis, topic: cfg.topics.transactions, groupId: cfg.groups.detect, logic: echoLogic(cfg, calls), watchIntervalMs: 1_000 });
    stages.push(stage);
    await stage.ready;
    const first = testTransactions(20, { prefix: 'f1' });
    await send(producer, cfg.topics.transactions, first);
    await collect(kafka, cfg.topics.decisions, (seen) => seen.length >= 20);
    // Another process initialises the partition's transactional id, as a new owner would: the old producer is fenced.
    const usurper = kafka.producer({ transactionalId: transactionalId(cfg.groups.detect, cfg.topics.transactions, 0), idempotent: true, maxInFlightRequests: 1 });
    await usurper.connect();
    const t = await usurper.transaction();
    await t.abort();
    await usurper.disconnect();
    const rebuildsBefore = stage.health().rebuilds;
    const second = testTransactions(20, { prefix: 'f2' });
    await send(producer, cfg.topics.transactions, second);
    const all = await collect(kafka, cfg.topics.decisions, (seen) => seen.length >= 40, 90_000, 2_000);
    const ids = txIdsOf(all);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    expect(stage.health().rebuilds).toBeGreaterThan(rebuildsBefore);
    await dropTestKeys(admin, cfg);
  });

  it('health comes from the broker: lag with no progress is "stalled", and catching up makes it "up" again', async () => {
    const cfg = await testConfig('runner-health', { KAFKA_PARTITIONS: '1', STAGE_STALL_SECONDS: '2' });
    const calls = new Map<string, number>();
    let release: () => void = () => undefined;
    let gate: Promise<void> | undefined = new Promise<void>((r) => (release = r));
    const base = echoLogic(cfg, calls);
    // Redis going away is another status ("down"); a logic that hangs is what makes lag without progress here.
    const logic: StageLogic<Transaction> = { ...base, handle: async (inputs) => (gate ? gate.then(() => base.handle(inputs)) : base.handle(inputs)) };
    const stage = await startStage({ config: cfg, kafka, redis, topic: cfg.topics.transactions, groupId: cfg.groups.detect, logic, watchIntervalMs: 500 });
    stages.push(stage);
    await stage.ready;
    await send(producer, cfg.topics.transactions, testTransactions(5, { prefix: 'h' }));
    const deadline = Date.now() + 30_000;
    while (stage.health().status !== 'stalled' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(stage.health()).toMatchObject({ status: 'stalled', groupLag: 5 });
    gate = undefined;
    release();
    const decided = await collect(kafka, cfg.topics.decisions, (seen) => seen.length >= 5, 60_000, 1_000);
    expect(new Set(txIdsOf(decided)).size).toBe(5);
    const upBy = Date.now() + 30_000;
    while (stage.health().status !== 'up' && Date.now() < upBy) await new Promise((r) => setTimeout(r, 250));
    expect(stage.health()).toMatchObject({ status: 'up', lag: 0, groupLag: 0 });
    await dropTestKeys(admin, cfg);
  });
});
