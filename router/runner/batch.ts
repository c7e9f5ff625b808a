/**
 * The pure half of the stage runner: splitting a consumed batch into work, building dead letters that always
 * fit the topic, and chunking outputs below the broker's request limit. No I/O here.
 */
import { partitionOfKey } from '../../core/partition.ts';
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import type { z } from 'zod';
import { describeZodError, type DeadLetter } from '../../core/contracts.ts';

export interface OutMessage {
  topic: string;
  key: string;
  value: string;
  /** Not published: what the message means, for counters (e.g. the decision's action, or ESCALATE). */
  action?: string;
  /** Kafka headers (the runner sets the claim of the input that made this output, state/outcomes.ts CLAIM_HEADER). */
  headers?: Record<string, string>;
}

type Sent = { key: string; value: string; headers?: Record<string, string> };

export interface ParsedMessage<T> {
  value: T;
  key: string;
  /** "partition:offset": identifies the Kafka message (a redelivery has the same source). */
  source: string;
  /** Content hash of the raw value: tells an identical resend from a conflicting one with the same key. */
  hash: string;
  receivedAt: number;
  /** The consumed message itself, for a dead letter if this one turns out to be a conflicting duplicate or poison. */
  message: KafkaMessage;
}

export interface Rejected {
  message: KafkaMessage;
  reason: string;
}

export interface SplitBatch<T> {
  parsed: ParsedMessage<T>[];
  rejected: Rejected[];
  /** Later copies of a key already in this batch with identical content (counted, not decided again). */
  repeats: number;
}

/** 16 bytes of sha256 are plenty to tell two payloads apart; the dead letter keeps the full digest. */
export function contentHash(value: Buffer | null): string {
  const data = value ?? Buffer.alloc(0);
  // Every consumed message is hashed: the one-shot digest (Node >= 20.12) costs a quarter of a Hash object's.
  return (oneShotHash ? oneShotHash('sha256', data, 'base64url') : createHash('sha256').update(data).digest('base64url')).slice(0, 22);
}

const oneShotHash = (crypto as { hash?: (algorithm: string, data: Buffer, encoding: 'base64url') => string }).hash;

export const CONFLICTING_DUPLICATE = 'conflicting duplicate';

/**
 * Parses a consumed batch: valid messages in order (identical later copies folded and counted), and the malformed
 * with the reason for the dead-letter topic. Copies of a key with other content stay in: the claim tells them apart.
 */
export function splitBatch<T>(
  messages: KafkaMessage[],
  partition: number,
  logic: { schema: z.ZodType<T>; keyOf(value: T): string },
): SplitBatch<T> {
  const parsed: ParsedMessage<T>[] = [];
  const rejected: Rejected[] = [];
  const seen = new Set<string>();
  let repeats = 0;
  for (const m of messages) {
    let json: unknown;
    try {
      json = JSON.parse(m.value?.toString('utf8') ?? '');
    } catch (err) {
      rejected.push({ message: m, reason: `not JSON: ${(err as Error).message}` });
      continue;
    }
    const r = logic.schema.safeParse(json);
    if (!r.success) {
      rejected.push({ message: m, reason: `schema: ${describeZodError(r.error)}` });
      continue;
    }
    const key = logic.keyOf(r.data);
    const hash = contentHash(m.value);
    // Only identical copies are folded here. Copies with other content go on to the claim, which tells each one
    // from whichever copy holds the key (an earlier batch's, or the first in this batch): which one is the
    // conflicting duplicate depends on what was decided, not on the order inside this batch.
    const copy = `${key}\u0000${hash}`;
    if (seen.has(copy)) {
      repeats += 1;
      continue;
    }
    seen.add(copy);
    parsed.push({ value: r.data, key, hash, source: `${partition}:${m.offset}`, receivedAt: Number(m.timestamp), message: m });
  }
  return { parsed, rejected, repeats };
}

/**
 * A dead letter carries the raw payload so nothing is lost, but the topic refuses records above its
 * max.message.bytes (1 MiB by default): a payload above `maxRawBytes` is cut, with its size and sha256 kept.
 */
export function deadLetter(
  m: Pick<KafkaMessage, 'key' | 'value' | 'offset'>,
  where: { sourceTopic: string; partition: number; stage: string; dlqTopic: string },
  reason: string,
  maxRawBytes: number,
  now = Date.now(),
): OutMessage {
  const raw = m.value ?? Buffer.alloc(0);
  const truncated = raw.length > maxRawBytes;
  const key = m.key ? truncateUtf8(m.key.toString('utf8'), 256) : null;
  const letter: DeadLetter = {
    sourceTopic: where.sourceTopic,
    partition: where.partition,
    offset: m.offset,
    key,
    rawBase64: (truncated ? raw.subarray(0, maxRawBytes) : raw).toString('base64'),
    rawBytes: raw.length,
    sha256: createHash('sha256').update(raw).digest('hex'),
    truncated,
    reason: truncateUtf8(reason, 2_000),
    stage: where.stage,
    failedAt: now,
  };
  return { topic: where.dlqTopic, key: key ?? `${where.partition}:${m.offset}`, value: JSON.stringify(letter), action: 'DEAD_LETTER' };
}

function truncateUtf8(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

/**
 * Outputs are larger than inputs (a decision carries its transaction and its why), so one consumed batch can
 * exceed the broker's request limit: send in chunks below it.
 */
export function chunkByBytes(messages: OutMessage[], maxBytes: number): OutMessage[][] {
  const chunks: OutMessage[][] = [];
  let current: OutMessage[] = [];
  let size = 0;
  for (const m of messages) {
    const bytes = m.value.length + m.key.length + 64 + (m.headers ? JSON.stringify(m.headers).length : 0);
    if (current.length > 0 && size + bytes > maxBytes) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(m);
    size += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Groups messages by topic for one kafkajs sendBatch, keeping their order within each topic. */
export function byTopic(messages: OutMessage[]): Array<{ topic: string; messages: Sent[] }> {
  const groups = new Map<string, Sent[]>();
  for (const o of messages) {
    let list = groups.get(o.topic);
    if (!list) groups.set(o.topic, (list = []));
    list.push(o.headers ? { key: o.key, value: o.value, headers: o.headers } : { key: o.key, value: o.value });
  }
  return [...groups].map(([topic, msgs]) => ({ topic, messages: msgs }));
}

/**
 * The same messages as one kafkajs sendBatch per topic-partition, each with its partition set (Kafka's default key
 * partitioning, as kafkajs would choose it). kafkajs sends a sendBatch to every partition leader at once and, when
 * one of those requests fails, retries while the others may still be in flight: the retry then sends their
 * messages again with new sequence numbers, and the broker appends them twice within the transaction (seen when a
 * broker of a 3-broker cluster was killed: issue 19). A sendBatch for one partition goes to one broker only.
 */
export function byPartition(
  messages: OutMessage[],
  partitionsOf: (topic: string) => number,
): Array<Array<{ topic: string; messages: Array<Sent & { partition: number }> }>> {
  const groups = new Map<string, { topic: string; messages: Array<Sent & { partition: number }> }>();
  for (const o of messages) {
    const partition = partitionOfKey(o.key, partitionsOf(o.topic));
    const id = `${o.topic}\u0000${partition}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { topic: o.topic, messages: [] }));
    g.messages.push(o.headers ? { key: o.key, value: o.value, headers: o.headers, partition } : { key: o.key, value: o.value, partition });
  }
  return [...groups.values()].map((g) => [g]);
}

