/**
 * Kafka's default key partitioning (murmur2, as in the Java client and kafkajs' DefaultPartitioner), in 32-bit
 * integer arithmetic. Computing the partition here lets kafkajs skip its own per-message hashing, which uses
 * 64-bit Long objects and showed up as ~8% of replay CPU.
 */
import { randomInt } from 'node:crypto';
import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

const M = 0x5bd1e995;

/** murmur2 of the first `len` bytes of `key`. */
export function murmur2(key: Uint8Array, len = key.length): number {
  let h = (0x9747b28c ^ len) | 0;
  const len4 = len & ~3;
  for (let i = 0; i < len4; i += 4) {
    let k = (key[i] as number) | ((key[i + 1] as number) << 8) | ((key[i + 2] as number) << 16) | ((key[i + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = len & 3;
  if (rest === 3) h ^= (key[len4 + 2] as number) << 16;
  if (rest >= 2) h ^= (key[len4 + 1] as number) << 8;
  if (rest >= 1) {
    h ^= key[len4] as number;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition kafkajs' DefaultPartitioner (and the Java client) would choose for a key (its first `len` bytes). */
export function partitionFor(key: Uint8Array, partitions: number, len = key.length): number {
  return (murmur2(key, len) & 0x7fffffff) % partitions;
}

/** Scratch space for ASCII keys (ids are), so hashing a string key allocates nothing. */
let scratch = new Uint8Array(256);

/** The partition of a message key as kafkajs' DefaultPartitioner computes it: murmur2 of its UTF-8 bytes. */
export function partitionOfKey(key: string | Buffer, partitions: number): number {
  if (typeof key !== 'string') return partitionFor(key, partitions);
  const n = key.length;
  if (n > scratch.length) scratch = new Uint8Array(n * 2);
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) return partitionFor(Buffer.from(key, 'utf8'), partitions);
    scratch[i] = c;
  }
  return partitionFor(scratch, partitions, n);
}

/**
 * A drop-in for kafkajs' `Partitioners.DefaultPartitioner` (the Java client's choice for keyed messages): a given
 * partition wins, a key picks `murmur2 % partitions`, no key goes round robin over partitions with a leader. The
 * same partitions as kafkajs' own (tests/core/partition.test.ts), without its per-message Long arithmetic and
 * array filtering, which the producer runs once for every message it sends.
 */
export const JavaCompatiblePartitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined) return partitionOfKey(message.key, partitionMetadata.length);
    const next = ((counters.get(topic) ?? randomInt(0x7fffffff)) + 1) & 0x7fffffff;
    counters.set(topic, next);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    return available.length > 0 ? available[next % available.length]!.partitionId : next % partitionMetadata.length;
  };
};
