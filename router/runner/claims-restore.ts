/**
 * Reads a stage's claims back from its output topics (issue 18: Kafka is the record, Redis the view). Every output of
 * a decided message carries its claim in a header (state/outcomes.ts CLAIM_HEADER); this reads those headers from the
 * first offset at or after `sinceMs` (the start of the dedupe window, found by timestamp) up to the end offsets the
 * topics had when the read began, read_committed. A transaction still open at that moment holds the reader back
 * until it ends, so a decision sent before the read began is either seen (committed) or never happened (aborted).
 *
 * The consumer has a throwaway group of its own (deleted afterwards) and commits nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { CLAIM_HEADER, decodeClaimHeader, type ClaimReader, type RestoredClaim } from '../../state/outcomes.ts';

export interface ClaimsRestoreOptions {
  kafka: Kafka;
  admin: () => Promise<Admin>;
  stage: string;
  /** The topics whose messages carry this stage's claims (its outputs, the dead-letter topic aside). */
  topics: string[];
  /** Gives up (the batch that asked retries later) when the read takes longer than this. */
  timeoutMs?: number;
}

interface Range {
  start: bigint;
  end: bigint;
}

export function kafkaClaimReader(o: ClaimsRestoreOptions): ClaimReader {
  return async (sinceMs, write) => {
    if (o.topics.length === 0) return { read: 0 };
    const admin = await o.admin();
    const ranges = new Map<string, Range>();
    for (const topic of o.topics) {
      const [ends, starts] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchTopicOffsetsByTimestamp(topic, sinceMs)]);
      for (const e of ends) {
        const end = BigInt(e.high);
        const found = starts.find((s) => s.partition === e.partition);
        // No message at or after the timestamp: the broker answers -1 (or the end).
        const start = found && BigInt(found.offset) >= 0n ? BigInt(found.offset) : end;
        if (start < end) ranges.set(`${topic}:${e.partition}`, { start, end });
      }
    }
    if (ranges.size === 0) return { read: 0 };

    const groupId = `fraudstream.restore.${o.stage}.${randomUUID()}`;
    const consumer = o.kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
    const pending = new Set(ranges.keys());
    let read = 0;
    let writes: Promise<void> = Promise.resolve();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: o.topics, fromBeginning: false });
      let finish: () => void = () => undefined;
      let fail: (err: unknown) => void = () => undefined;
      const finished = new Promise<void>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      });
      const reached = (topic: string, partition: number, lastOffset: string) => {
        const id = `${topic}:${partition}`;
        const r = ranges.get(id);
        if (r && BigInt(lastOffset) + 1n >= r.end && pending.delete(id) && pending.size === 0) finish();
      };
      // A batch of only transaction markers (or aborted records) never reaches eachBatch: its end is seen here.
      consumer.on(consumer.events.START_BATCH_PROCESS, (e) => {
        const p = e.payload as { topic: string; partition: number; batchSize: number; lastOffset: string };
        if (p.batchSize === 0) reached(p.topic, p.partition, p.lastOffset);
      });
      consumer.on(consumer.events.CRASH, (e) => fail((e.payload as { error: unknown }).error));
      await consumer.run({
        eachBatch: async ({ batch }) => {
          if (!ranges.has(`${batch.topic}:${batch.partition}`)) return;
          const claims: RestoredClaim[] = [];
          for (const m of batch.messages) {
            const c = decodeClaimHeader(m.headers?.[CLAIM_HEADER] as Buffer | string | undefined);
            if (c && c.stage === o.stage) claims.push({ ...c, at: Number(m.timestamp) });
          }
          read += claims.length;
          if (claims.length) {
            const w = writes.then(() => write(claims));
            writes = w.catch(() => undefined);
            await w;
          }
          reached(batch.topic, batch.partition, batch.lastOffset());
        },
      });
      for (const [id, r] of ranges) {
        const cut = id.lastIndexOf(':');
        consumer.seek({ topic: id.slice(0, cut), partition: Number(id.slice(cut + 1)), offset: r.start.toString() });
      }
      const timeoutMs = o.timeoutMs ?? 5 * 60_000;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`stage ${o.stage}: rebuilding the dedupe claims from ${o.topics.join(', ')} took over ${timeoutMs / 1000} s (${pending.size} partitions unread); retrying`)), timeoutMs);
      });
      try {
        await Promise.race([finished, timeout]);
      } finally {
        clearTimeout(timer);
      }
      await writes;
      return { read };
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
  };
}
