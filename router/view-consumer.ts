/**
 * A consumer group that keeps a Redis view of one topic (the search index of decisions, the review queue of case
 * records): reads from the topic's start when the group is new, applies each batch, and commits the offsets of applied
 * batches every second (at least once: a redelivered batch must write nothing new). A Redis error
 * throws, and kafkajs retries the batch from its uncommitted offset.
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from '../core/logger.ts';

export interface ViewConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  /** Named in the logs: "<name> consumer crashed", "<name> running". */
  name: string;
  log: Logger;
  maxWaitTimeInMs: number;
  apply: (messages: KafkaMessage[]) => Promise<void>;
}

/** How often a view consumer commits what it applied (and once more when it stops). */
export const VIEW_COMMIT_EVERY_MS = 1_000;

/** Starts the group; resolves once it runs, with its stop. */
export async function startViewConsumer(o: ViewConsumerOptions): Promise<{ stop: () => Promise<void> }> {
  const consumer: Consumer = o.kafka.consumer({ groupId: o.groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: o.maxWaitTimeInMs });
  consumer.on(consumer.events.CRASH, (e) => o.log.error({ err: e.payload.error, restart: e.payload.restart }, `${o.name} consumer crashed`));
  // Applied but not yet committed: the next offset per partition. kafkajs' autoCommit commits after every batch and
  // holds the next fetch until that commit returns (a round trip per partition per fetch); a view re-applies what it
  // already wrote without harm, so it commits on a timer instead, and at most a second of batches is read again after
  // a crash or a rebalance.
  const applied = new Map<string, { topic: string; partition: number; offset: string }>();
  let committing: Promise<void> = Promise.resolve();
  const commit = (): Promise<void> => {
    committing = committing.then(async () => {
      if (applied.size === 0) return;
      const offsets = [...applied.values()];
      applied.clear();
      await consumer.commitOffsets(offsets).catch((err: unknown) => o.log.debug({ err }, `${o.name}: offset commit failed; the batches are read again`));
    });
    return committing;
  };
  const timer = setInterval(() => void commit(), VIEW_COMMIT_EVERY_MS);
  timer.unref();
  await consumer.connect();
  await consumer.subscribe({ topic: o.topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, heartbeat }: EachBatchPayload) => {
      await o.apply(batch.messages);
      applied.set(`${batch.topic}:${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() });
      await heartbeat();
    },
  });
  o.log.info({ group: o.groupId, topic: o.topic }, `${o.name} running`);
  return {
    stop: async () => {
      clearInterval(timer);
      // While still a member (kafkajs' stop leaves the group); a batch applied after this is read again next time.
      await commit();
      await consumer.disconnect();
    },
  };
}
