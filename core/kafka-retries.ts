/**
 * Retries kafkajs makes on its own: a broker answer that says "not now, ask again" (a transaction still
 * closing, a coordinator or partition leader that moved or is loading, a group rebalancing). They succeed unless
 * the retries run out, and then the call fails and its caller reports it; so they are logged at debug and
 * counted here (router/metrics.ts shows the count as fraudstream_kafka_retries_total{reason}).
 */

const REASONS: Array<[reason: string, pattern: RegExp]> = [
  ['concurrent_transactions', /another concurrent operation on the same transaction/i],
  ['not_coordinator', /not the correct coordinator/i],
  ['coordinator_loading', /coordinator is loading/i],
  ['coordinator_not_available', /coordinator is not available/i],
  ['leader_moved', /not the leader for (that|this) topic-partition|leader not available|there is no leader for this topic-partition/i],
  ['rebalance', /group is rebalancing/i],
  ['partition_not_ready', /does not host this topic-partition/i],
];

export interface KafkaRetry {
  reason: string;
  /** One broker answer is reported by kafkajs up to twice (the answer, then the retrying call): count the answer. */
  counted: boolean;
}

/** The retry a kafkajs log entry reports, or undefined when it reports anything else (those stay visible). */
export function kafkaRetryReason(message: string, error?: unknown): KafkaRetry | undefined {
  // A consumer that crashed, or a call whose retries ran out, is a real problem whatever the cause says.
  if (/^(Crash|Restarting the consumer)|retries exceeded|NumberOfRetriesExceeded/i.test(message)) return undefined;
  const text = `${message} ${typeof error === 'string' ? error : ''}`;
  const hit = REASONS.find(([, pattern]) => pattern.test(text));
  return hit ? { reason: hit[0], counted: message.startsWith('Response ') } : undefined;
}

const counts = new Map<string, number>();

export function countKafkaRetry(reason: string): void {
  counts.set(reason, (counts.get(reason) ?? 0) + 1);
}

/** Retries counted so far in this process, by reason. */
export function kafkaRetryCounts(): ReadonlyMap<string, number> {
  return counts;
}
