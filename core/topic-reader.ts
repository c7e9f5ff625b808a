/**
 * Reads fixed offset ranges of topics once, read_committed, with a throwaway consumer group (deleted afterwards, no
 * offsets committed): what rebuilding a Redis view from the record needs (issue 18). A range ends at an offset taken
 * before the read; a transaction still open below it holds the reader back until it ends, so everything sent before
 * the ranges were taken is either seen (committed) or never happened (aborted).
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';

export interface PartitionRange {
  topic: string;
  partition: number;
  /** First offset to read. */
  start: bigint;
  /** Read until the consumer's position reaches this (exclusive). */
  end: bigint;
}

export interface ReadRangesOptions {
  kafka: Kafka;
  admin: Admin;
  /** Names the throwaway group (`<label>.<uuid>`), so a stuck one is recognisable on the broker. */
  label: string;
  timeoutMs: number;
}

const LEADERSHIP_MOVING = /NOT_LEADER|LEADER_NOT_AVAILABLE|UNKNOWN_TOPIC_OR_PARTITION|not the leader|does not host this topic-partition|no leader/i;

/**
 * An offsets request, retried while the partition's leadership is still settling (a topic created a moment ago, a
 * broker that just restarted): kafkajs' admin gives those errors back at once instead of retrying them.
 */
export async function withLeaderRetry<T>(call: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 1_000)) {
    try {
      return await call();
    } catch (err) {
      const e = err as { type?: string; message?: string };
      if (!LEADERSHIP_MOVING.test(`${e.type ?? ''} ${e.message ?? ''}`) || Date.now() + wait > deadline) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** The whole of each partition of `topic` as it is now (low watermark to end), empty partitions left out. */
export async function wholeTopic(admin: Admin, topic: string): Promise<PartitionRange[]> {
  const offsets = await withLeaderRetry(() => admin.fetchTopicOffsets(topic));
  return offsets.map((o) => ({ topic, partition: o.partition, start: BigInt(o.low), end: BigInt(o.high) })).filter((r) => r.start < r.end);
}

/** Calls onBatch with the messages of each fetched batch, in offset order per partition, until every range is read. */
export async function readRanges(o: ReadRangesOptions, ranges: PartitionRange[], onBatch: (topic: string, partition: number, messages: KafkaMessage[]) => Promise<void>): Promise<void> {
  const live = ranges.filter((r) => r.start < r.end);
  if (live.length === 0) return;
  const byId = new Map(live.map((r) => [`${r.topic}:${r.partition}`, r]));
  const pending = new Set(byId.keys());
  const groupId = `${o.label}.${randomUUID()}`;
  const consumer = o.kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
  let finish: () => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const reached = (topic: string, partition: number, lastOffset: string) => {
    const id = `${topic}:${partition}`;
    const r = byId.get(id);
    if (r && BigInt(lastOffset) + 1n >= r.end && pending.delete(id) && pending.size === 0) finish();
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(live.map((r) => r.topic))], fromBeginning: false });
    // A batch of only transaction markers (or aborted records) never reaches eachBatch: its end is seen here.
    consumer.on(consumer.events.START_BATCH_PROCESS, (e) => {
      const p = e.payload as { topic: string; partition: number; batchSize: number; lastOffset: string };
      if (p.batchSize === 0) reached(p.topic, p.partition, p.lastOffset);
    });
    consumer.on(consumer.events.CRASH, (e) => fail((e.payload as { error: unknown }).error));
    await consumer.run({
      eachBatch: async ({ batch }) => {
        if (!byId.has(`${batch.topic}:${batch.partition}`)) return;
        if (batch.messages.length) await onBatch(batch.topic, batch.partition, batch.messages);
        reached(batch.topic, batch.partition, batch.lastOffset());
      },
    });
    for (const r of live) consumer.seek({ topic: r.topic, partition: r.partition, offset: r.start.toString() });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`reading ${[...pending].join(', ')} took over ${o.timeoutMs / 1000} s`)), o.timeoutMs);
    });
    await Promise.race([finished, timeout]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await o.admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
