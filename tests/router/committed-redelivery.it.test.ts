/**
 * A committed batch delivered again to the stage (a committed offset read before the group coordinator applied the
 * transaction's offsets: kafkajs has no require_stable; a zombie member) is not decided a second time. The claims said
 * "same source" and the claim rule read that as "an earlier attempt that never committed": decide again (a candidate
 * for chaos redis-kill9's 7 transactions decided twice at 2a33e69). The batch processor runs with the real outcome
 * store on real Redis; the Kafka transaction and the partition producer are faked, the second owner's committed offset
 * stale (0).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import type { KafkaMessage } from 'kafkajs';
import { z } from 'zod';
import { BatchProcessor, type BatchContext, type PartitionTxnProducer, type ProducerPool, type StageLogic, type TransactionPort } from '../../router/runner/batch-processor.ts';
import { contentHash } from '../../router/runner/batch.ts';
import { OutcomeStore, type RestoredClaim } from '../../state/outcomes.ts';

const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 3 });
const prefix = `redeliver-${randomUUID().slice(0, 8)}:`;

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

interface Row {
  txId: string;
}

const logic: StageLogic<Row> = {
  name: 'detect',
  schema: z.object({ txId: z.string() }),
  keyOf: (r) => r.txId,
  async handle(inputs) {
    return inputs.map((i) => [{ topic: 'decisions', key: i.value.txId, value: `decided ${i.value.txId} at ${Date.now()}` }]);
  },
};

class Txn implements TransactionPort {
  sent: Array<{ topic: string; key: string }> = [];
  committed = false;
  async sendBatch(b: { topicMessages: Array<{ topic: string; messages: Array<{ key: string }> }> }) {
    for (const t of b.topicMessages) for (const m of t.messages) this.sent.push({ topic: t.topic, key: m.key });
  }
  async sendOffsets() {
    return undefined;
  }
  async commit() {
    this.committed = true;
  }
  async abort() {
    return undefined;
  }
}

/** A partition owner whose committed offset reads 0: it has not seen the previous owner's commit. */
function staleOwner(): { pool: ProducerPool; txns: Txn[] } {
  const txns: Txn[] = [];
  const pp: PartitionTxnProducer = { partition: 0, minOffset: 0n, producer: { transaction: async () => txns[txns.push(new Txn()) - 1]! } };
  return { txns, pool: { acquire: async () => pp, release: async () => undefined } };
}

const messages = (n: number): KafkaMessage[] =>
  Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`tx-${i}`), value: Buffer.from(JSON.stringify({ txId: `tx-${i}` })), offset: String(40 + i), timestamp: String(Date.now()), attributes: 0, headers: {} }) as KafkaMessage);

async function deliver(outcomes: OutcomeStore, pool: ProducerPool): Promise<void> {
  const quiet = { info: () => undefined, warn: () => undefined };
  const processor = new BatchProcessor<Row>({ logic, outcomes, topic: 'transactions', groupId: 'detect', dlqTopic: 'dlq', instanceId: 'test', faults: {}, log: quiet });
  const batch = messages(3);
  const ctx: BatchContext = {
    batch: { partition: 0, messages: batch, lastOffset: () => batch.at(-1)!.offset },
    heartbeat: async () => undefined,
    isRunning: () => true,
    isStale: () => false,
    resolveOffset: () => undefined,
  };
  await processor.run(ctx, () => pool, () => false, () => undefined);
  await processor.drain();
}

const decisions = (t: Txn[]) => t.filter((x) => x.committed).flatMap((x) => x.sent.filter((m) => m.topic === 'decisions').map((m) => m.key));

describe('a committed batch delivered again is not decided twice', () => {
  it('after its commit (claims marked committed in the post-commit work)', async () => {
    const outcomes = new OutcomeStore(redis, `${prefix}a:`, 'detect', 3600);
    const first = staleOwner();
    await deliver(outcomes, first.pool);
    expect(decisions(first.txns)).toEqual(['tx-0', 'tx-1', 'tx-2']);
    const second = staleOwner();
    await deliver(outcomes, second.pool);
    expect(second.txns.every((t) => t.committed)).toBe(true);
    expect(decisions(second.txns)).toEqual([]);
    // Counted as identical duplicates, not dead-lettered as conflicting ones.
    expect(second.txns.flatMap((t) => t.sent)).toEqual([]);
  });

  it('after a Redis loss (claims read back from the record)', async () => {
    // The record holds the first owner's outputs, each with its input's claim.
    const recorded: RestoredClaim[] = messages(3).map((m) => ({ stage: 'detect', key: m.key!.toString(), source: `0:${m.offset}`, hash: contentHash(m.value), at: Date.now() }));
    const outcomes = new OutcomeStore(redis, `${prefix}b:`, 'detect', 3600, {
      reader: async (_since, write) => {
        await write(recorded);
        return { read: recorded.length };
      },
    });
    const second = staleOwner();
    await deliver(outcomes, second.pool);
    expect(outcomes.restores).toBe(1);
    expect(second.txns.every((t) => t.committed)).toBe(true);
    expect(decisions(second.txns)).toEqual([]);
    // Counted as identical duplicates, not dead-lettered as conflicting ones.
    expect(second.txns.flatMap((t) => t.sent)).toEqual([]);
  });
});
