/**
 * The stage runner's Kafka client settings, in one place: the runner's consumer and per-partition transactional
 * producers are built from these, and so is the bench's pass-through ceiling, so the ceiling can never drift from
 * what the stages run with (issue 20: one source, not two copies).
 */
import type { ConsumerConfig, ConsumerRunConfig, ProducerConfig } from 'kafkajs';
import { JavaCompatiblePartitioner } from '../../core/partition.ts';

export const RUNNER_KAFKA = {
  /** One send of a transaction stays below this (the broker's default request limit is 1 MiB, with framing). */
  maxSendBytes: 512 * 1024,
  consumer: {
    allowAutoTopicCreation: false,
    // Short enough that a crashed member's partitions move on quickly; long enough for a busy 2-core machine.
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    // Below the broker's default request limit (1 MiB).
    maxBytesPerPartition: 512 * 1024,
    maxWaitTimeInMs: 1_000,
  },
  producer: {
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // If a member dies mid-transaction, the coordinator aborts it after this long (a new owner fences it at once).
    transactionTimeout: 10_000,
    // A new transaction right after a commit meets CONCURRENT_TRANSACTIONS until the commit markers are
    // written (a few ms); kafkajs' default waits 300 ms, the Java client 20 ms. The consumer fetches again only
    // when every partition's batch is done, so one partition's wait holds all six: retry after 5 ms (then 10, 20,
    // ...), with two more retries so a broker that is really gone is given as long as before (about 14 s in all).
    retry: { initialRetryTime: 5, maxRetryTime: 2_000, retries: 14 },
  },
};

export function transactionalId(groupId: string, topic: string, partition: number): string {
  return `fraudstream.${groupId}.${topic}.${partition}`;
}

/** The consumer a stage member (or the ceiling's pass-through) runs. */
export function stageConsumerConfig(groupId: string): ConsumerConfig {
  return { groupId, ...RUNNER_KAFKA.consumer };
}

/** The transactional producer of one input partition (keys placed as the Java client and kafkajs' default place them). */
export function stageProducerConfig(id: string): ProducerConfig {
  return { transactionalId: id, ...RUNNER_KAFKA.producer, retry: { ...RUNNER_KAFKA.producer.retry }, createPartitioner: JavaCompatiblePartitioner };
}

/** How the consumer runs: offsets only through the transaction, partitions concurrently. */
export function stageRunConfig(partitions: number): Pick<ConsumerRunConfig, 'autoCommit' | 'eachBatchAutoResolve' | 'partitionsConsumedConcurrently'> {
  return { autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: Math.max(1, partitions) };
}
