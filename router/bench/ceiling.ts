/**
 * The ceiling: a plain kafkajs pass-through shaped like a stage with nothing to decide. Consume a batch,
 * JSON.parse each message, produce one output per input and the batch's offsets in one Kafka transaction,
 * commit. Consumer settings are the stage runner's, so the difference to the pipeline is the stages' work.
 *
 * Two shapes: "serial" (one transactional producer, partitions one after another: the runner before issue 9)
 * and "per-partition" (a transactional producer per input partition, transactional.id = group + topic +
 * partition, partitions concurrently: the design issue 9 asks of the runner).
 */
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';

export const CEILING_MODES = ['per-partition', 'serial'] as const;
export type CeilingMode = (typeof CEILING_MODES)[number];

export interface PassThroughOptions {
  brokers: string[];
  clientId: string;
  /**
   * kafkajs' initial retry time. A transaction begun right after the previous commit often gets
   * CONCURRENT_TRANSACTIONS while the coordinator writes the markers; kafkajs waits this long before retrying
   * (the Java client ~20 ms). A ceiling should not be held down by a retry setting.
   */
  retryMs: number;
  mode: CeilingMode;
  partitions: number;
  log: (line: string) => void;
  inputTopic: string;
  outputTopic: string;
  groupId: string;
}

export interface PassThrough {
  ready: Promise<void>;
  stop(): Promise<void>;
  /** CONCURRENT_TRANSACTIONS answers so far (each one a retry after retryMs or more). */
  concurrentTransactions(): number;
  /** How the pass-through is built, for the JSON's method section. */
  method: Record<string, unknown>;
}

export async function startPassThrough(o: PassThroughOptions): Promise<PassThrough> {
  // Its own client, silent: errors that matter surface as a consumer crash (logged below) or a stalled bench phase.
  // kafkajs logs each CONCURRENT_TRANSACTIONS answer before retrying it: counted, so the ceiling's latency tail
  // can be read against them.
  let concurrentTransactions = 0;
  const kafka = new Kafka({
    clientId: o.clientId,
    brokers: o.brokers,
    logLevel: logLevel.ERROR,
    retry: { initialRetryTime: o.retryMs, retries: 12 },
    logCreator: () => (entry) => {
      if (/concurrent operation on the same transaction/i.test(String(entry.log.error ?? ''))) concurrentTransactions += 1;
    },
  });
  const newProducer = async (transactionalId: string): Promise<Producer> => {
    const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, transactionTimeout: 10_000 });
    await p.connect();
    return p;
  };
  const producers = new Map<number, Promise<Producer>>();
  const shared = o.mode === 'serial' ? await newProducer(`${o.groupId}-pass-through`) : undefined;
  // kafkajs never hands the same partition to two eachBatch calls at once, so one producer per partition is safe.
  const producerFor = (partition: number, topic: string): Promise<Producer> => {
    if (shared) return Promise.resolve(shared);
    let p = producers.get(partition);
    if (!p) {
      p = newProducer(`${o.groupId}-${topic}-${partition}`);
      producers.set(partition, p);
    }
    return p;
  };
  const consumer: Consumer = kafka.consumer({
    groupId: o.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    maxBytesPerPartition: 512 * 1024,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: o.inputTopic, fromBeginning: true });
  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (resolveReady = r));
  consumer.on(consumer.events.GROUP_JOIN, () => resolveReady());
  consumer.on(consumer.events.CRASH, (e) => o.log(`  ceiling: consumer crashed (${String(e.payload.error)}), restart ${String(e.payload.restart)}`));
  const concurrency = o.mode === 'serial' ? 1 : o.partitions;
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: concurrency,
    eachBatch: async ({ batch, isRunning, isStale, resolveOffset }) => {
      if (batch.messages.length === 0 || !isRunning() || isStale()) return;
      const messages = batch.messages.map((m) => {
        const value = JSON.parse(m.value?.toString('utf8') ?? 'null') as Record<string, unknown>;
        return { key: m.key, value: JSON.stringify({ ...value, passedAt: Date.now() }) };
      });
      const producer = await producerFor(batch.partition, batch.topic);
      const txn = await producer.transaction();
      try {
        await txn.send({ topic: o.outputTopic, messages });
        const offset = (BigInt(batch.lastOffset()) + 1n).toString();
        await txn.sendOffsets({ consumerGroupId: o.groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset }] }] });
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => undefined);
        throw err;
      }
      resolveOffset(batch.lastOffset());
    },
  });
  return {
    ready,
    concurrentTransactions: () => concurrentTransactions,
    method: {
      shape: 'consume a batch, JSON.parse each message, one output each + sendOffsets in one Kafka transaction per partition batch, commit',
      mode: o.mode,
      partitionsConsumedConcurrently: concurrency,
      transactionalProducers: o.mode === 'serial' ? 1 : 'one per input partition',
      kafkajsInitialRetryMs: o.retryMs,
      maxBytesPerPartition: 512 * 1024,
    },
    stop: async () => {
      await consumer.disconnect().catch(() => undefined);
      const all = shared ? [shared] : await Promise.all([...producers.values()].map((p) => p.catch(() => undefined)));
      await Promise.all(all.map((p) => p?.disconnect().catch(() => undefined)));
    },
  };
}
