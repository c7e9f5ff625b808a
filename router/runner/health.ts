/**
 * The truth about a stage member, from the broker rather than from its own last batch: lag is the group's
 * committed offsets against the partitions' end offsets, read every few seconds; progress is the last
 * committed batch. "up" means deciding (or nothing to decide), "stalled" means lag without progress.
 */
import type { Admin } from 'kafkajs';

export const StageStatus = { STARTING: 'starting', UP: 'up', STALLED: 'stalled', DOWN: 'down' } as const;
export type StageStatus = (typeof StageStatus)[keyof typeof StageStatus];

export interface StageHealth {
  stage: string;
  instance: string;
  pid: number;
  status: StageStatus;
  /** Why the status is not "up". */
  reason?: string;
  /** Group lag summed over this member's partitions (-1 while unknown). */
  lag: number;
  /** Group lag over every partition of the input topic (-1 while unknown). */
  groupLag: number;
  partitions: number[];
  lastCommitAt?: number;
  /** When the lag was last read from the broker. */
  checkedAt?: number;
  rebuilds: number;
  at: number;
}

export interface PartitionLag {
  partition: number;
  end: bigint;
  committed: bigint;
  lag: number;
}

/** Reads end offsets and the group's committed offsets; a partition with no commit counts from its low mark. */
export async function readLag(admin: Admin, groupId: string, topic: string): Promise<PartitionLag[]> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const byPartition = new Map((committed.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  return ends
    .map((e) => {
      const end = BigInt(e.high);
      const c = byPartition.get(e.partition) ?? -1n;
      const from = c >= 0n ? c : BigInt(e.low);
      return { partition: e.partition, end, committed: c, lag: Number(end > from ? end - from : 0n) };
    })
    .sort((a, b) => a.partition - b.partition);
}

export interface StallInput {
  now: number;
  stallMs: number;
  /** This member's partitions and their lag. */
  myLag: number;
  assigned: number;
  groupLag: number;
  /** Last time the member committed a batch, was (re)built, or received its partitions. */
  lastProgressAt: number;
  /** Last time any member of the group moved a committed offset. */
  lastGroupProgressAt: number;
}

/** A member is stalled when work waits for it and nothing moved for stallMs. */
export function isStalled(s: StallInput): boolean {
  if (s.assigned > 0) return s.myLag > 0 && s.now - s.lastProgressAt > s.stallMs;
  // Without partitions: stalled only if the whole group is stuck (another member may be busy with all of them).
  return s.groupLag > 0 && s.now - Math.max(s.lastGroupProgressAt, s.lastProgressAt) > s.stallMs;
}
