/**
 * On the real broker: a transactional producer built by core/kafka.ts (createKafka installs the coordinator cache)
 * runs 20 read-process-write transactions and asks FindCoordinator a handful of times, not 4 per transaction as
 * kafkajs alone does; the transactions commit and their offsets are the group's.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../../core/kafka.ts';
import { coordinatorCacheStats } from '../../core/kafka-coordinator-cache.ts';
import { testConfig } from '../helpers/services.ts';
import type { Config } from '../../core/config.ts';

let config: Config;
let kafka: Kafka;

beforeAll(async () => {
  config = await testConfig('coord-cache');
  kafka = createKafka(config, '-coord');
}, 120_000);

describe('the coordinator cache on the real broker', () => {
  it('20 transactions with sendOffsets ask FindCoordinator at most 4 times, and all of them commit', async () => {
    const producer = kafka.producer({ transactionalId: `coord-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
    const apis: string[] = [];
    producer.on(producer.events.REQUEST, (e) => apis.push(e.payload.apiName));
    const group = `coord-group-${randomUUID()}`;
    await producer.connect();
    try {
      const hitsBefore = coordinatorCacheStats.hits;
      for (let i = 0; i < 20; i++) {
        const txn = await producer.transaction();
        await txn.send({ topic: config.topics.decisions, messages: [{ key: `k${i}`, value: `v${i}` }] });
        await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic: config.topics.transactions, partitions: [{ partition: 0, offset: String(i + 1) }] }] });
        await txn.commit();
      }
      const count = (api: string) => apis.filter((a) => a === api).length;
      expect(count('EndTxn')).toBe(20);
      expect(count('TxnOffsetCommit')).toBe(20);
      // kafkajs alone: one before AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn each, 80 in all.
      expect(count('GroupCoordinator')).toBeLessThanOrEqual(4);
      expect(coordinatorCacheStats.hits - hitsBefore).toBeGreaterThanOrEqual(70);
    } finally {
      await producer.disconnect();
    }
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchOffsets({ groupId: group, topics: [config.topics.transactions] });
      expect(offsets[0]!.partitions.find((p) => p.partition === 0)!.offset).toBe('20');
    } finally {
      await admin.disconnect();
    }
  }, 120_000);
});
