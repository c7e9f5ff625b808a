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
  /** One retry is reported by kafkajs up to twice (the broker's answer, then the retrying call): count it once. */
  counted: boolean;
}

/** Consumer groups kafkajs is restarting after a crash on a retriable broker answer, with that answer's reason. */
const restarting = new Map<string, string>();

/** The retry a kafkajs log entry reports, or undefined when it reports anything else (those stay visible). */
export function kafkaRetryReason(message: string, extra: Record<string, unknown> = {}): KafkaRetry | undefined {
  const group = typeof extra.groupId === 'string' ? extra.groupId : '';
  if (message.startsWith('Restarting the consumer')) {
    const reason = restarting.get(group);
    restarting.delete(group);
    return reason ? { reason, counted: false } : undefined;
  }
  // Retries that ran out are a real problem whatever the cause says.
  if (/retries exceeded|NumberOfRetriesExceeded/i.test(message)) return undefined;
  const text = `${message} ${typeof extra.error === 'string' ? extra.error : ''}`;
  const reason = REASONS.find(([, pattern]) => pattern.test(text))?.[0];
  if (!reason) return undefined;
  if (message.startsWith('Crash: ')) {
    // A consumer that stopped on one of these answers (a coordinator still loading on a fresh broker) is
    // restarted by kafkajs at once; any other crash stays visible.
    if (!message.startsWith('Crash: KafkaJSProtocolError: ')) return undefined;
    restarting.set(group, reason);
    return { reason, counted: true };
  }
  return { reason, counted: message.startsWith('Response ') };
}

const counts = new Map<string, number>();

export function countKafkaRetry(reason: string): void {
  counts.set(reason, (counts.get(reason) ?? 0) + 1);
}

/** Retries counted so far in this process, by reason. */
export function kafkaRetryCounts(): ReadonlyMap<string, number> {
  return counts;
}
