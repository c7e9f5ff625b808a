/**
 * Redis round trips on a detect batch's critical path (issue 20), counted on real Redis: the batch processor with the
 * real outcome store (claims) and the real feature store, a Kafka transaction faked, every command the batch sends
 * counted as a round trip when nothing else was in flight (commands sent while another awaits its answer share it).
 * Counted from the batch's start to its commit: claims + entity state in one round trip, the feature write, the
 * claims' view check before commit.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import type { KafkaMessage } from 'kafkajs';
import { isolatedConfig, loadConfig } from '../../core/config.ts';
import { RedisFeatureStore } from '../../detectors/feature-store/redis.ts';
import { detectLogic } from '../../router/detect-stage.ts';
import type { PolicySource } from '../../router/policy-source.ts';
import { BatchProcessor, type PartitionTxnProducer, type TransactionPort } from '../../router/runner/batch-processor.ts';
import { OutcomeStore } from '../../state/outcomes.ts';
import { defaultPolicy } from '../../state/policy.ts';
import { testTransactions } from '../helpers/transactions.ts';
import { dropTestKeys } from '../helpers/services.ts';

const config = isolatedConfig(loadConfig({ REDIS_URL: inject('redisUrl') }), `trips-${process.pid}-${Date.now()}`);
const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 3 });

afterAll(async () => {
  await dropTestKeys(redis, config);
  redis.disconnect();
});

/** Counts round trips: a command sent while none is in flight starts one. */
function tripCounter(r: Redis): { trips: number } {
  const c = { trips: 0 };
  let inFlight = 0;
  const send = r.sendCommand.bind(r);
  r.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], ...rest: unknown[]) => {
    if (inFlight === 0) c.trips++;
    inFlight++;
    const settle = () => void (inFlight -= 1);
    command.promise.then(settle, settle);
    return (send as (...a: unknown[]) => unknown)(command, ...rest);
  }) as Redis['sendCommand'];
  return c;
}

describe('Redis round trips per detect batch', () => {
  it('claims and entity state share one; then the feature write and the view check: three before commit', async () => {
    const policy = defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } });
    const source: PolicySource = { current: () => policy, refresh: async () => policy, onChange: () => undefined, close: async () => undefined };
    const features = new RedisFeatureStore(redis, { keyPrefix: config.redis.keyPrefix, newCardCap: { perMinute: 0, prefixLength: 6 } });
    const logic = detectLogic({ config, policy: source, redis, features, models: () => undefined });
    const outcomes = new OutcomeStore(redis, config.redis.keyPrefix, 'detect', 3600);
    const counter = tripCounter(redis);
    let atCommit = -1;
    const sent: string[] = [];
    const txn: TransactionPort = {
      sendBatch: async (b) => void sent.push(...b.topicMessages.flatMap((t) => t.messages.map((m) => m.value))),
      sendOffsets: async () => undefined,
      commit: async () => void (atCommit = counter.trips),
      abort: async () => undefined,
    };
    const pp: PartitionTxnProducer = { partition: 0, producer: { transaction: async () => txn }, minOffset: 0n };
    const processor = new BatchProcessor({ logic, outcomes, topic: config.topics.transactions, groupId: 'g', dlqTopic: config.topics.dlq, instanceId: 'i', faults: {}, log: { info: () => undefined, warn: () => undefined } });
    const txs = testTransactions(400, { prefix: `trips-${Date.now()}`, cards: 40 });
    let offset = 0;
    const batchOf = (part: typeof txs) => {
      const messages = part.map((tx): KafkaMessage => ({ key: Buffer.from(tx.cardId), value: Buffer.from(JSON.stringify(tx)), offset: String(offset++), timestamp: String(tx.ts), attributes: 0, headers: {} }) as KafkaMessage);
      return { partition: 0, messages, lastOffset: () => messages[messages.length - 1]!.offset };
    };
    const perBatch: number[] = [];
    for (let b = 0; b < 4; b++) {
      const before = counter.trips;
      atCommit = -1;
      await processor.process(batchOf(txs.slice(b * 100, b * 100 + 100)), pp, () => undefined);
      expect(atCommit).toBeGreaterThan(-1);
      perBatch.push(atCommit - before);
      await processor.drain();
    }
    console.log(`Redis round trips before commit, per batch of 100: ${perBatch.join(', ')}`);
    expect(sent.length).toBe(400);
    // The first batch also makes the claims' view whole (a first start); from then on, three.
    expect(perBatch.slice(1)).toEqual([3, 3, 3]);
  });

  it('a prefetched read gives the vectors a fresh read gives, for a subset too, and a stale one is read again', async () => {
    const txs = testTransactions(300, { prefix: `pre-${Date.now()}`, cards: 30 });
    const store = (tag: string) => new RedisFeatureStore(redis, { keyPrefix: `${config.redis.keyPrefix}${tag}:`, newCardCap: { perMinute: 0, prefixLength: 6 } });
    const plain = store('plain');
    const pre = store('pre');
    const same = (a: Float64Array[], b: Float64Array[]) => expect(a.map((v) => Array.from(v))).toEqual(b.map((v) => Array.from(v)));
    for (let b = 0; b < 3; b++) {
      const part = txs.slice(b * 100, b * 100 + 100);
      // The read covers the whole part; the batch decides every other one of them (the rest were duplicates).
      const some = part.filter((_, i) => i % 2 === 0);
      const rest = part.filter((_, i) => i % 2 === 1);
      same(await pre.computeAndApply(some, pre.prefetch(part)), await plain.computeAndApply(some));
      // Stale: a write changed some of the cards after the read; the answer is still what a fresh read gives.
      const stale = pre.prefetch(rest);
      same(await pre.computeAndApply(rest.slice(0, 10)), await plain.computeAndApply(rest.slice(0, 10)));
      const conflicts = pre.conflicts;
      same(await pre.computeAndApply(rest, stale), await plain.computeAndApply(rest));
      // The stale read's versions were refused by the write, and those cards read again.
      expect(pre.conflicts).toBeGreaterThan(conflicts);
    }
    expect(plain.conflicts).toBe(0);
  });
});
