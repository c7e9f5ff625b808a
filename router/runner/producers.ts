/**
 * One transactional producer per input partition, as Kafka Streams did for exactly-once before KIP-447:
 * transactional.id = <group>.<topic>.<partition>. Whoever owns a partition now initialises that id, which
 * fences the previous owner's producer (its open transaction is aborted, its next one refused) and waits for
 * the previous owner's committing transaction to finish. Partitions then run their transactions concurrently.
 *
 * After that initialisation the group's committed offset for the partition is stable (KIP-447's require_stable
 * is not in kafkajs): messages below it were published already by the previous owner and are skipped, so a
 * stale offset handed out during a rebalance never republishes a decision.
 */
import type { Admin, Kafka, Producer } from 'kafkajs';
import { stageProducerConfig, transactionalId } from './kafka-settings.ts';

export interface PartitionProducer {
  partition: number;
  producer: Producer;
  /** Messages below this offset are committed already (by us or a previous owner). */
  minOffset: bigint;
}

export interface PartitionProducersOptions {
  kafka: Kafka;
  admin: () => Admin;
  groupId: string;
  topic: string;
}

export class PartitionProducers {
  private readonly o: PartitionProducersOptions;
  private readonly live = new Map<number, Promise<PartitionProducer>>();

  constructor(o: PartitionProducersOptions) {
    this.o = o;
  }

  /** The producer for a partition this member owns, initialised (fencing the previous owner) on first use. */
  acquire(partition: number): Promise<PartitionProducer> {
    let p = this.live.get(partition);
    if (!p) {
      p = this.create(partition);
      this.live.set(partition, p);
      // A failed creation is forgotten so the next attempt starts afresh.
      p.catch(() => {
        if (this.live.get(partition) === p) this.live.delete(partition);
      });
    }
    return p;
  }

  /** Drops a partition's producer (after a failed transaction, or when the partition moved away). */
  async release(partition: number): Promise<void> {
    const p = this.live.get(partition);
    if (!p) return;
    this.live.delete(partition);
    const pp = await p.catch(() => undefined);
    await pp?.producer.disconnect().catch(() => undefined);
  }

  /** Forgets every producer: the next batch of each partition initialises its id anew (after a rebalance). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.live.keys()].map((p) => this.release(p)));
  }

  private async create(partition: number): Promise<PartitionProducer> {
    const { kafka, groupId, topic } = this.o;
    const producer = kafka.producer(stageProducerConfig(transactionalId(groupId, topic, partition)));
    try {
      await producer.connect();
      // kafkajs initialises the transactional id at the first transaction; an empty one ends without a request.
      const txn = await producer.transaction();
      await txn.abort();
      const minOffset = await this.committedOffset(partition);
      return { partition, producer, minOffset };
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
  }

  private async committedOffset(partition: number): Promise<bigint> {
    const { groupId, topic } = this.o;
    const res = await this.o.admin().fetchOffsets({ groupId, topics: [topic] });
    const found = res.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === partition);
    const offset = found ? BigInt(found.offset) : -1n;
    return offset < 0n ? 0n : offset;
  }
}
