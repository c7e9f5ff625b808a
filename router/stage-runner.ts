/**
 * A stage is "a route for messages": parse, call the stage's logic, produce, commit.
 * This runner owns everything the stages share:
 * - malformed input goes to the dead-letter topic with its reason and raw bytes; the stage keeps going;
 * - each input key (tx id) is decided once: the outcome is stored in Redis before it is published, and a
 *   redelivered message republishes the stored outcome instead of deciding again;
 * - outputs and the consumer offsets are written in one Kafka transaction, so a crash between produce and
 *   commit cannot leave a published decision whose offset was not committed (readers use read_committed);
 * - while Redis is down a batch waits (heartbeating, so the group does not evict the member) and resumes.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { describeZodError, type DeadLetter } from '../core/contracts.ts';
import type { Config } from '../core/config.ts';
import { logger } from '../core/logger.ts';
import { metrics } from './metrics.ts';

export interface OutMessage {
  topic: string;
  key: string;
  value: string;
  /** Not published: what the message means, for counters (e.g. the decision's action, or ESCALATE). */
  action?: string;
}

export interface StageInput<T> {
  value: T;
  /** Kafka timestamp of the consumed message (epoch ms). */
  receivedAt: number;
}

export interface StageLogic<T> {
  /** Stage name, used in metrics, logs, heartbeats and dead letters. */
  name: string;
  schema: z.ZodType<T>;
  /** The dedupe key of an input (its tx id). */
  keyOf(value: T): string;
  /**
   * Decides a batch of new inputs (never seen before). Returns, per input, the messages to publish.
   * Side effects here must be idempotent per key: a crash before commit replays the batch.
   */
  handle(inputs: StageInput<T>[]): Promise<OutMessage[][]>;
  /** Called after a batch committed, with the fresh outputs (for counters and samples). */
  afterCommit?(outputs: OutMessage[][]): Promise<void>;
}

export interface StageOptions<T> {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  topic: string;
  groupId: string;
  logic: StageLogic<T>;
  instanceId?: string;
  /** Seconds a tx id is remembered as decided (the dedupe window; about 100 bytes a transaction). */
  outcomeTtlSeconds?: number;
}

export interface RunningStage {
  instanceId: string;
  stop(): Promise<void>;
  /** Resolves once the consumer has joined its group and received partitions. */
  ready: Promise<void>;
}

interface StoredOutcome {
  /** "partition:offset" of the message that produced it: a redelivery of that same message republishes. */
  source: string;
  /** The outputs, kept until the Kafka transaction that publishes them commits; then only the marker stays. */
  out?: OutMessage[];
}

/**
 * Outputs are larger than inputs (a decision carries its transaction and its why), so one consumed batch can
 * exceed the broker's record-batch limit (message.max.bytes, 1 MiB by default): send in chunks below it.
 */
const MAX_SEND_BYTES = 512 * 1024;

export function chunkByBytes(messages: OutMessage[], maxBytes: number): OutMessage[][] {
  const chunks: OutMessage[][] = [];
  let current: OutMessage[] = [];
  let size = 0;
  for (const m of messages) {
    const bytes = m.value.length + m.key.length + 64;
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

export interface ParsedMessage<T> {
  value: T;
  key: string;
  /** "partition:offset": identifies the Kafka message (a redelivery has the same source). */
  source: string;
  receivedAt: number;
}

/**
 * Parses a consumed batch: valid messages in order (the first copy of each key), the malformed with the reason
 * for the dead-letter topic, and how many later copies of an already-seen key the batch held.
 */
export function splitBatch<T>(
  messages: KafkaMessage[],
  partition: number,
  logic: Pick<StageLogic<T>, 'schema' | 'keyOf'>,
): { parsed: ParsedMessage<T>[]; rejected: Array<{ message: KafkaMessage; reason: string }>; repeats: number } {
  const parsed: ParsedMessage<T>[] = [];
  const rejected: Array<{ message: KafkaMessage; reason: string }> = [];
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
    if (seen.has(key)) {
      repeats += 1;
      continue;
    }
    seen.add(key);
    parsed.push({ value: r.data, key, source: `${partition}:${m.offset}`, receivedAt: Number(m.timestamp) });
  }
  return { parsed, rejected, repeats };
}

export async function startStage<T>(opts: StageOptions<T>): Promise<RunningStage> {
  const { config, kafka, redis, logic, topic, groupId } = opts;
  const instanceId = opts.instanceId ?? `${logic.name}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const ttl = opts.outcomeTtlSeconds ?? 24 * 3600;
  const log = logger(`stage:${logic.name}`).child({ instanceId });
  const prefix = config.redis.keyPrefix;
  const outcomeKey = (k: string) => `${prefix}outcome:${logic.name}:${k}`;

  const producer: Producer = kafka.producer({
    transactionalId: `${groupId}-${instanceId}`,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // A transaction spans only the sends of one batch (the Redis work happens before it begins). If a member
    // dies mid-transaction, the coordinator aborts it after this long, unblocking read-committed readers.
    // A member restarted with the same instanceId fences the dead one at once instead.
    transactionTimeout: 10_000,
  });
  const consumer: Consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    // Short enough that a crashed member's partitions move on quickly; long enough for a busy 2-core machine.
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    maxBytesPerPartition: 512 * 1024,
  });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });

  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (resolveReady = r));
  consumer.on(consumer.events.GROUP_JOIN, () => resolveReady());

  const heartbeatKey = `${prefix}heartbeat:${logic.name}:${instanceId}`;
  const beat = () =>
    redis.set(heartbeatKey, JSON.stringify({ instance: instanceId, at: Date.now(), pid: process.pid }), 'PX', 10_000).catch(() => undefined);
  void beat();
  const beatTimer = setInterval(() => void beat(), 3_000);

  const deadLetter = (m: KafkaMessage, partition: number, reason: string): OutMessage => {
    const letter: DeadLetter = {
      sourceTopic: topic,
      partition,
      offset: m.offset,
      key: m.key?.toString('utf8') ?? null,
      rawBase64: (m.value ?? Buffer.alloc(0)).toString('base64'),
      reason,
      stage: logic.name,
      failedAt: Date.now(),
    };
    return { topic: config.topics.dlq, key: letter.key ?? `${partition}:${m.offset}`, value: JSON.stringify(letter) };
  };

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
      if (batch.messages.length === 0 || !isRunning() || isStale()) return;
      const started = performance.now();
      // Keep group membership while a batch waits on Redis or the broker.
      const hb = setInterval(() => void heartbeat().catch(() => undefined), 2_000);
      try {
        const { parsed, rejected, repeats } = splitBatch(batch.messages, batch.partition, logic);
        const toPublish: OutMessage[] = rejected.map((r) => deadLetter(r.message, batch.partition, r.reason));
        const fresh: Array<{ input: StageInput<T>; key: string; source: string }> = [];
        const published: Array<{ key: string; source: string }> = [];
        const dead = rejected.length;
        let dupes = repeats;

        const stored = parsed.length ? await redis.mget(...parsed.map((p) => outcomeKey(p.key))) : [];
        parsed.forEach((p, i) => {
          const s = stored[i];
          if (s) {
            const prev = JSON.parse(s) as StoredOutcome;
            if (prev.source !== p.source) dupes += 1;
            else if (prev.out) {
              toPublish.push(...prev.out);
              published.push(p);
            }
          } else fresh.push({ input: { value: p.value, receivedAt: p.receivedAt }, key: p.key, source: p.source });
        });

        let freshOut: OutMessage[][] = [];
        if (fresh.length) {
          freshOut = await logic.handle(fresh.map((f) => f.input));
          const pipe = redis.pipeline();
          fresh.forEach((f, i) => pipe.set(outcomeKey(f.key), JSON.stringify({ source: f.source, out: freshOut[i] ?? [] } satisfies StoredOutcome), 'EX', ttl, 'NX'));
          const results = (await pipe.exec()) ?? [];
          // NX is lost only if another member decided the same key at the same moment (a zombie after a
          // rebalance); that member publishes its outcome, so this one publishes nothing.
          for (let i = 0; i < fresh.length; i++) {
            if (results[i]?.[1] === 'OK') {
              toPublish.push(...(freshOut[i] ?? []));
              published.push(fresh[i]!);
            } else dupes += 1;
          }
        }

        const nextOffset = (BigInt(batch.lastOffset()) + 1n).toString();
        const txn = await producer.transaction();
        try {
          for (const chunk of chunkByBytes(toPublish, MAX_SEND_BYTES)) {
            const byTopic = new Map<string, Array<{ key: string; value: string }>>();
            for (const o of chunk) {
              const list = byTopic.get(o.topic) ?? [];
              list.push({ key: o.key, value: o.value });
              byTopic.set(o.topic, list);
            }
            await txn.sendBatch({ topicMessages: [...byTopic].map(([t, messages]) => ({ topic: t, messages })) });
          }
          await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: nextOffset }] }] });
          await txn.commit();
        } catch (err) {
          await txn.abort().catch(() => undefined);
          throw err;
        }
        // Committed inside the transaction above; resolving only moves kafkajs's fetch position on.
        resolveOffset(batch.lastOffset());
        if (published.length) {
          const shrink = redis.pipeline();
          for (const p of published) shrink.set(outcomeKey(p.key), JSON.stringify({ source: p.source } satisfies StoredOutcome), 'EX', ttl);
          await shrink.exec();
        }

        const now = Date.now();
        metrics.events.inc({ stage: logic.name }, batch.messages.length);
        if (dead) metrics.deadLetters.inc({ stage: logic.name }, dead);
        if (dupes) metrics.duplicates.inc({ stage: logic.name }, dupes);
        for (const p of parsed) metrics.latency.observe({ stage: logic.name }, Math.max(0, now - p.receivedAt) / 1000);
        metrics.batchSeconds.observe({ stage: logic.name }, (performance.now() - started) / 1000);
        metrics.lag.set({ stage: logic.name, topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(nextOffset))));
        if (dead) log.warn({ dead, partition: batch.partition }, 'malformed messages sent to the dead-letter topic');
        if (logic.afterCommit && freshOut.length) await logic.afterCommit(freshOut).catch((err: unknown) => log.warn({ err }, 'afterCommit failed'));
      } finally {
        clearInterval(hb);
      }
    },
  });
  log.info({ topic, groupId }, 'stage started');

  let stopped = false;
  return {
    instanceId,
    ready,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(beatTimer);
      await consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'consumer disconnect'));
      await producer.disconnect().catch((err: unknown) => log.warn({ err }, 'producer disconnect'));
      await redis.del(heartbeatKey).catch(() => undefined);
      log.info('stage stopped');
    },
  };
}
