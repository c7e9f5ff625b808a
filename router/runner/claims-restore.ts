/**
 * Reads a stage's claims back from its output topics (issue 18: Kafka is the record, Redis the view). Every output of
 * a decided message carries its claim in a header (state/outcomes.ts CLAIM_HEADER); this reads those headers from the
 * first offset at or after `sinceMs` (the start of the dedupe window, found by timestamp) to the end offsets the
 * topics had when the read began, read_committed (core/topic-reader.ts): a transaction still open at that moment
 * holds the reader back until it ends, so a decision sent before the read began is either seen or never happened.
 */
import type { Admin, Kafka } from 'kafkajs';
import { readRanges, withLeaderRetry, type PartitionRange } from '../../core/topic-reader.ts';
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

export function kafkaClaimReader(o: ClaimsRestoreOptions): ClaimReader {
  return async (sinceMs, write) => {
    if (o.topics.length === 0) return { read: 0 };
    const admin = await o.admin();
    const ranges: PartitionRange[] = [];
    for (const topic of o.topics) {
      const [ends, starts] = await withLeaderRetry(() => Promise.all([admin.fetchTopicOffsets(topic), admin.fetchTopicOffsetsByTimestamp(topic, sinceMs)]));
      for (const e of ends) {
        const end = BigInt(e.high);
        const found = starts.find((s) => s.partition === e.partition);
        // No message at or after the timestamp: the broker answers -1 (or the end).
        const start = found && BigInt(found.offset) >= 0n ? BigInt(found.offset) : end;
        ranges.push({ topic, partition: e.partition, start, end });
      }
    }
    let read = 0;
    await readRanges({ kafka: o.kafka, admin, label: `fraudstream.restore.${o.stage}`, timeoutMs: o.timeoutMs ?? 5 * 60_000 }, ranges, async (_topic, _partition, messages) => {
      const claims: RestoredClaim[] = [];
      for (const m of messages) {
        const c = decodeClaimHeader(m.headers?.[CLAIM_HEADER] as Buffer | string | undefined);
        if (c && c.stage === o.stage) claims.push({ ...c, at: Number(m.timestamp) });
      }
      read += claims.length;
      if (claims.length) await write(claims);
    });
    return { read };
  };
}
