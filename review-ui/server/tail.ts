import type { Admin, Consumer, Kafka } from 'kafkajs';

/** Right after a topic is created its leaders may still be moving: retry what the broker says is retriable. */
async function fetchOffsetsRetrying(admin: Admin, topic: string, attempts = 8): Promise<Awaited<ReturnType<Admin['fetchTopicOffsets']>>> {
  for (let i = 1; ; i++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      if (i >= attempts || (err as { retriable?: boolean }).retriable !== true) throw err;
      await new Promise((r) => setTimeout(r, 250 * i));
    }
  }
}

/**
 * Positions a freshly joined consumer `perTopic[topic]` messages before the end of each topic (spread over its
 * partitions), so a page shows recent history after a restart instead of starting empty.
 */
export async function seekTail(kafka: Kafka, consumer: Consumer, assignment: Record<string, number[]>, perTopic: Record<string, number>): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const [topic, partitions] of Object.entries(assignment)) {
      const total = perTopic[topic] ?? 0;
      if (partitions.length === 0) continue;
      const offsets = await fetchOffsetsRetrying(admin, topic);
      const each = Math.ceil(total / Math.max(1, offsets.length));
      for (const o of offsets) {
        if (!partitions.includes(o.partition)) continue;
        const start = BigInt(o.high) - BigInt(each);
        const low = BigInt(o.low);
        consumer.seek({ topic, partition: o.partition, offset: String(start > low ? start : low) });
      }
    }
  } finally {
    await admin.disconnect();
  }
}
