/**
 * The longest time without a decision from `from` until the last decision: the gap from `from` to the first
 * decision after it counts, so a pipeline that stops at the fault and resumes late shows its whole stop.
 */
export function longestPause(times: readonly number[], from: number): { seconds: number; startedAt: number | null } {
  const after = times.filter((t) => t >= from).sort((a, b) => a - b);
  if (after.length === 0) return { seconds: Infinity, startedAt: from };
  let prev = from;
  let best = 0;
  let startedAt: number | null = null;
  for (const t of after) {
    if (t - prev > best) {
      best = t - prev;
      startedAt = prev;
    }
    prev = t;
  }
  return { seconds: Math.round(best / 100) / 10, startedAt };
}

/** Which node leads the most partitions (ties: the lowest id), with every node's count. */
export function busiestLeader(leaders: readonly number[]): { node: number; led: number; counts: Record<number, number> } {
  const counts: Record<number, number> = {};
  for (const l of leaders) if (l >= 0) counts[l] = (counts[l] ?? 0) + 1;
  let node = -1;
  let led = -1;
  for (const [id, n] of Object.entries(counts).sort(([a], [b]) => Number(a) - Number(b))) {
    if (n > led) {
      node = Number(id);
      led = n;
    }
  }
  if (node < 0) throw new Error('no partition has a leader');
  return { node, led, counts };
}

/** Java's String.hashCode (UTF-16 code units, 32-bit overflow): what Kafka hashes a coordinator key with. */
export function javaHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * The partition of `__transaction_state` (or `__consumer_offsets`) that holds a transactional id's (or a group's)
 * state: Kafka's `Utils.abs(key.hashCode) % partitions`, where Utils.abs maps Integer.MIN_VALUE to 0. The leader of
 * that partition is the key's coordinator.
 */
export function coordinatorPartition(key: string, partitions: number): number {
  const h = javaHashCode(key);
  return (h === -2147483648 ? 0 : Math.abs(h)) % partitions;
}
