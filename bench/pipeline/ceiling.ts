/**
 * The ceiling: a plain kafkajs pass-through shaped like a stage with nothing to decide. Consume a batch,
 * JSON.parse each message, produce one output per input and the batch's offsets in one Kafka transaction,
 * commit. Its consumer, producers and run settings are the stage runner's own (runner/kafka-settings.ts, the one
 * source both read), so the difference to the pipeline is the stages' work.
 *
 * Shapes: "serial" (one transactional producer, partitions one after another: the runner before issue 9) and
 * "per-partition" (a transactional producer per input partition, transactional.id = group + topic + partition,
 * partitions concurrently: what the runner does). One hop (input -> output) or two (input -> middle topic ->
 * output, two consumer groups, each hop transactional: what the ~3% of escalated events cost the pipeline), with
 * outputs padded to a decision's size when asked.
 */
import { kafkaConnection, type KafkaTarget } from '../../core/kafka.ts';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { CLIENT_RETRY } from '../../core/kafka.ts';
import { chunkByBytes } from '../../router/runner/batch.ts';
import { RUNNER_KAFKA, stageConsumerConfig, stageProducerConfig, stageRunConfig, transactionalId } from '../../router/runner/kafka-settings.ts';

export const CEILING_MODES = ['per-partition', 'serial'] as const;
export type CeilingMode = (typeof CEILING_MODES)[number];

/** A kafkajs client for the ceiling, quiet, counting CONCURRENT_TRANSACTIONS answers (each a retry). */
export function ceilingKafka(target: KafkaTarget, clientId: string): { kafka: Kafka; concurrentTransactions(): number } {
  let n = 0;
  const kafka = new Kafka({
    clientId,
    // brokers, TLS and SASL as every client of the project connects (core/kafka.ts)
    ...kafkaConnection(target),
    logLevel: logLevel.ERROR,
    retry: { ...CLIENT_RETRY },
    logCreator: () => (entry) => {
      if (/concurrent operation on the same transaction/i.test(String(entry.log.error ?? ''))) n += 1;
    },
  });
  return { kafka, concurrentTransactions: () => n };
}

export interface PassThroughOptions {
  kafka: Kafka;
  mode: CeilingMode;
  /** 1: input -> output; 2: input -> middleTopic -> output. */
  hops: 1 | 2;
  partitions: number;
  log: (line: string) => void;
  inputTopic: string;
  /** Required with two hops. */
  middleTopic?: string;
  outputTopic: string;
  groupId: string;
  /** Pad each output to about this many bytes (a decision's size); 0 or absent: the input plus a timestamp. */
  padToBytes?: number;
}

export interface PassThrough {
  ready: Promise<void>;
  stop(): Promise<void>;
  /** How the pass-through is built, for the JSON's method section. */
  method: Record<string, unknown>;
}

/** The input as JSON with a fresh passedAt, padded with a filler field to about `padTo` bytes. */
export function passOn(raw: string, padTo = 0): string {
  const value = JSON.parse(raw) as Record<string, unknown>;
  delete value.pad;
  const text = JSON.stringify({ ...value, passedAt: Date.now() });
  const missing = padTo - text.length - ',"pad":""'.length;
  return missing > 0 ? `${text.slice(0, -1)},"pad":"${'x'.repeat(missing)}"}` : text;
}

interface Hop {
  consumer: Consumer;
  producers: () => Promise<Producer[]>;
}

async function startHop(o: PassThroughOptions, from: string, to: string, groupId: string, onJoin: () => void): Promise<Hop> {
  const newProducer = async (id: string): Promise<Producer> => {
    const p = o.kafka.producer(stageProducerConfig(id));
    await p.connect();
    return p;
  };
  const producers = new Map<number, Promise<Producer>>();
  const shared = o.mode === 'serial' ? newProducer(transactionalId(groupId, from, -1)) : undefined;
  // kafkajs never hands the same partition to two eachBatch calls at once, so one producer per partition is safe.
  const producerFor = (partition: number): Promise<Producer> => {
    if (shared) return shared;
    let p = producers.get(partition);
    if (!p) {
      p = newProducer(transactionalId(groupId, from, partition));
      producers.set(partition, p);
    }
    return p;
  };
  const consumer = o.kafka.consumer(stageConsumerConfig(groupId));
  await consumer.connect();
  await consumer.subscribe({ topic: from, fromBeginning: true });
  consumer.on(consumer.events.GROUP_JOIN, () => onJoin());
  consumer.on(consumer.events.CRASH, (e) => o.log(`  ceiling: consumer of ${from} crashed (${String(e.payload.error)}), restart ${String(e.payload.restart)}`));
  await consumer.run({
    ...stageRunConfig(o.mode === 'serial' ? 1 : o.partitions),
    eachBatch: async ({ batch, isRunning, isStale, resolveOffset }) => {
      if (batch.messages.length === 0 || !isRunning() || isStale()) return;
      const messages = batch.messages.map((m) => ({ topic: to, key: m.key?.toString('utf8') ?? '', value: passOn(m.value?.toString('utf8') ?? 'null', o.padToBytes) }));
      const producer = await producerFor(batch.partition);
      const txn = await producer.transaction();
      try {
        // In sends below the broker's request limit, as the runner sends (outputs can outgrow their inputs).
        for (const chunk of chunkByBytes(messages, RUNNER_KAFKA.maxSendBytes)) await txn.send({ topic: to, messages: chunk.map(({ key, value }) => ({ key, value })) });
        const offset = (BigInt(batch.lastOffset()) + 1n).toString();
        await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset }] }] });
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => undefined);
        throw err;
      }
      resolveOffset(batch.lastOffset());
    },
  });
  return {
    consumer,
    producers: async () => {
      const all = shared ? [shared] : [...producers.values()];
      return (await Promise.all(all.map((p) => p.catch(() => undefined)))).filter((p): p is Producer => p !== undefined);
    },
  };
}

export async function startPassThrough(o: PassThroughOptions): Promise<PassThrough> {
  if (o.hops === 2 && !o.middleTopic) throw new Error('a two-hop pass-through needs a middle topic');
  const route = o.hops === 2 ? [[o.inputTopic, o.middleTopic!, o.groupId], [o.middleTopic!, o.outputTopic, `${o.groupId}-hop2`]] : [[o.inputTopic, o.outputTopic, o.groupId]];
  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const joined = new Set<string>();
  const hops: Hop[] = [];
  for (const [from, to, group] of route) {
    hops.push(
      await startHop(o, from!, to!, group!, () => {
        joined.add(group!);
        if (joined.size === route.length) resolveReady();
      }),
    );
  }
  return {
    ready,
    method: {
      shape: `consume a batch, JSON.parse each message, one output each + sendOffsets in one Kafka transaction per partition batch, commit; ${o.hops === 2 ? 'two hops (input -> middle topic -> output), each its own consumer group' : 'one hop'}`,
      hops: o.hops,
      mode: o.mode,
      outputBytes: o.padToBytes ? `padded to ${o.padToBytes}` : 'input + passedAt',
      transactionalProducers: o.mode === 'serial' ? '1 per hop' : 'one per input partition per hop',
      settings: "the stage runner's (router/runner/kafka-settings.ts)",
      consumer: RUNNER_KAFKA.consumer,
      producer: RUNNER_KAFKA.producer,
    },
    stop: async () => {
      for (const h of hops) await h.consumer.disconnect().catch(() => undefined);
      for (const h of hops) await Promise.all((await h.producers()).map((p) => p.disconnect().catch(() => undefined)));
    },
  };
}
