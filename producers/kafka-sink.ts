import { CompressionTypes, type Producer, type TopicMessages } from 'kafkajs';
import type { Config } from '../core/config.ts';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import { createKafka, createProducer, unwrittenPartitions } from '../core/kafka.ts';
import { logger } from '../core/logger.ts';
import { partitionFor } from '../core/partition.ts';

export interface OutMessage {
  key: Buffer;
  value: Buffer;
}

/** Where replay and simulate put transactions and labels. Kafka in production; memory in unit tests. */
export interface Sink {
  /** One call at a time: the caller awaits it before the next (ordering and idempotence depend on it). */
  send(txs: OutMessage[], labels: OutMessage[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * The project's idempotent producer (acks=all), uncompressed, one request in flight: kafkajs' idempotent producer
 * loses messages when send() calls overlap, so throughput comes from large batches, not concurrency. Partitions are
 * computed here with the same murmur2 as kafkajs' default partitioner (same key, same partition).
 */
export async function createKafkaSink(config: Config, clientSuffix = '-producer'): Promise<Sink & { producer: Producer }> {
  const kafka = createKafka(config, clientSuffix);
  const admin = kafka.admin();
  await admin.connect();
  let counts: Map<string, number>;
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [config.topics.transactions, config.topics.labels] });
    counts = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
  } finally {
    await admin.disconnect();
  }
  const txParts = counts.get(config.topics.transactions) ?? 0;
  const labelParts = counts.get(config.topics.labels) ?? 0;
  for (const [topic, n] of [[config.topics.transactions, txParts], [config.topics.labels, labelParts]] as const) {
    if (n === 0) throw new FraudstreamError(ErrorCodes.MISSING_PREREQUISITE, `topic ${topic} does not exist; create the project topics first (fraudstream topics create)`);
  }
  const withPartitions = (messages: OutMessage[], n: number) => messages.map((m) => ({ key: m.key, value: m.value, partition: partitionFor(m.key, n) }));
  const producer = createProducer(kafka);
  await producer.connect();
  return {
    producer,
    async send(txs, labels) {
      const topicMessages: TopicMessages[] = [];
      if (txs.length > 0) topicMessages.push({ topic: config.topics.transactions, messages: withPartitions(txs, txParts) });
      if (labels.length > 0) topicMessages.push({ topic: config.topics.labels, messages: withPartitions(labels, labelParts) });
      if (topicMessages.length === 0) return;
      await sendAllPartitions(producer, topicMessages);
    },
    async close() {
      await producer.disconnect();
    },
  };
}

/** How often a send is repeated for partitions its answer did not name, before giving up. */
const UNWRITTEN_RESENDS = 5;

/**
 * One sendBatch, then again for any partition its answer does not name as written. kafkajs 2.2.4 can resolve a
 * multi-leader send without writing one partition: when a leader dies mid-send and the partition moves to a broker
 * that already answered for its own partitions, the retry sends nothing to it (found by the chaos suite's
 * acknowledged-send reconciliation, issue 18). Only what the answer names was written; the rest is sent again (the
 * idempotent producer keeps a repeated send from being written twice).
 */
export async function sendAllPartitions(producer: Pick<Producer, 'sendBatch'>, topicMessages: TopicMessages[], pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))): Promise<void> {
  let pending = topicMessages;
  for (let attempt = 0; ; attempt++) {
    const meta = await producer.sendBatch({ topicMessages: pending, acks: -1, compression: CompressionTypes.None });
    const missing = unwrittenPartitions(pending, meta);
    if (missing.length === 0) return;
    pending = pending.map((t) => ({ topic: t.topic, messages: t.messages.filter((m) => missing.includes(`${t.topic}:${m.partition}`)) })).filter((t) => t.messages.length > 0);
    if (attempt >= UNWRITTEN_RESENDS) {
      throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `Kafka acknowledged the send but not partition(s) ${missing.join(', ')} after ${UNWRITTEN_RESENDS + 1} tries; nothing of theirs counts as sent`);
    }
    logger('producer').warn({ partitions: missing, attempt: attempt + 1 }, 'a send resolved without writing these partitions; sending their messages again');
    await pause(100 * (attempt + 1));
  }
}

/** Bytes one request may carry: each partition's batch must stay under the broker's 1 MB message limit. */
export function maxRequestBytes(config: Config): number {
  return 600_000 * Math.max(1, config.kafka.partitions);
}

export function memorySink(): Sink & { txs: OutMessage[]; labels: OutMessage[]; calls: number } {
  const s = {
    txs: [] as OutMessage[],
    labels: [] as OutMessage[],
    calls: 0,
    async send(txs: OutMessage[], labels: OutMessage[]) {
      s.calls++;
      s.txs.push(...txs);
      s.labels.push(...labels);
    },
    async close() {},
  };
  return s;
}
