/**
 * A consumer group that keeps a Redis view of one topic (the search index of decisions, the review queue of case
 * records): reads from the topic's start when the group is new, applies each batch, and lets kafkajs commit the batch's
 * offsets only after the apply returned (at least once: a redelivered batch must write nothing new). A Redis error
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

/** Starts the group; resolves once it runs, with its stop. */
export async function startViewConsumer(o: ViewConsumerOptions): Promise<{ stop: () => Promise<void> }> {
  const consumer: Consumer = o.kafka.consumer({ groupId: o.groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: o.maxWaitTimeInMs });
  consumer.on(consumer.events.CRASH, (e) => o.log.error({ err: e.payload.error, restart: e.payload.restart }, `${o.name} consumer crashed`));
  await consumer.connect();
  await consumer.subscribe({ topic: o.topic, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch, heartbeat }: EachBatchPayload) => {
      await o.apply(batch.messages);
      await heartbeat();
    },
  });
  o.log.info({ group: o.groupId, topic: o.topic }, `${o.name} running`);
  return { stop: () => consumer.disconnect() };
}
