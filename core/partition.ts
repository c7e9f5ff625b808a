/**
 * Kafka's default key partitioning (murmur2, as in the Java client and kafkajs' DefaultPartitioner), in 32-bit
 * integer arithmetic. Computing the partition here lets kafkajs skip its own per-message hashing, which uses
 * 64-bit Long objects and showed up as ~8% of replay CPU.
 */
const M = 0x5bd1e995;

export function murmur2(key: Uint8Array): number {
  const len = key.length;
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

/** The partition kafkajs' DefaultPartitioner (and the Java client) would choose for a key. */
export function partitionFor(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}
