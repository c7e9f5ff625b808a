/**
 * The health watch of a stage member: every few seconds it reads lag from the broker (through a port, so tests
 * hand it lag), judges the member up, stalled or down, and asks the member supervisor for a rebuild when a stall
 * lasts. "Stalled" is said first and acted on only if it lasts as long again: a rebuild costs the group a rebalance.
 */
import { metrics } from '../metrics.ts';
import { isStalled, StageStatus, type PartitionLag, type StageHealth } from './health.ts';

/** What the watch reads of the member it watches (the member supervisor and the batch processor). */
export interface MemberView {
  assigned(): number[];
  assignedAt(): number;
  lastBuiltAt(): number;
  lastCommitAt(): number | undefined;
  isRebuilding(): boolean;
  hasConsumer(): boolean;
  rebuilds(): number;
}

export interface HealthWatchOptions {
  stage: string;
  instanceId: string;
  topic: string;
  stallMs: number;
  /** End offsets against the group's committed offsets, from the broker. */
  readLag(): Promise<PartitionLag[]>;
  /** Called after the third failed lag read in a row (the runner starts its admin client afresh). */
  resetLagReader(): void;
  /** ioredis' status of the member's connection ("ready" when usable). */
  redisStatus(): string;
  member: MemberView;
  rebuild(why: string, statusMeanwhile: StageStatus): void;
  now?: () => number;
}

export class HealthWatch {
  status: StageStatus = StageStatus.STARTING;
  reason: string | undefined;
  myLag = -1;
  groupLag = -1;
  checkedAt: number | undefined;
  private stalledSince: number | undefined;
  private brokerReachable = true;
  private lagFailures = 0;
  private lastGroupProgressAt: number;
  private lastCommittedSum = -1n;
  private readonly now: () => number;

  constructor(private readonly o: HealthWatchOptions) {
    this.now = o.now ?? Date.now;
    this.lastGroupProgressAt = this.now();
  }

  /** The member is being rebuilt: say so until the watch sees it working again. */
  rebuilding(why: string, statusMeanwhile: StageStatus): void {
    this.stalledSince = undefined;
    this.status = statusMeanwhile;
    this.reason = `rebuilding: ${why}`;
  }

  async tick(): Promise<void> {
    const { member, stage, topic } = this.o;
    const now = this.now();
    try {
      const lags = await this.o.readLag();
      this.lagFailures = 0;
      this.brokerReachable = true;
      this.checkedAt = now;
      let sum = 0n;
      let groupLag = 0;
      let myLag = 0;
      const assigned = member.assigned();
      for (const l of lags) {
        metrics.lag.set({ stage, topic, partition: String(l.partition) }, l.lag);
        sum += l.committed > 0n ? l.committed : 0n;
        groupLag += l.lag;
        if (assigned.includes(l.partition)) myLag += l.lag;
      }
      this.groupLag = groupLag;
      this.myLag = myLag;
      if (sum !== this.lastCommittedSum) {
        this.lastCommittedSum = sum;
        this.lastGroupProgressAt = now;
      }
    } catch (err) {
      this.brokerReachable = false;
      this.reason = `cannot read lag from the broker: ${(err as Error).message}`;
      if (++this.lagFailures >= 3) this.o.resetLagReader();
    }
    if (member.isRebuilding()) return;
    const assigned = member.assigned();
    if (!this.brokerReachable) this.status = StageStatus.DOWN;
    else if (this.o.redisStatus() !== 'ready') {
      this.status = StageStatus.DOWN;
      this.reason = `redis ${this.o.redisStatus()}: batches wait for it`;
    } else if (
      isStalled({
        now,
        stallMs: this.o.stallMs,
        myLag: this.myLag,
        groupLag: this.groupLag,
        assigned: assigned.length,
        lastProgressAt: Math.max(member.lastCommitAt() ?? 0, member.assignedAt(), member.lastBuiltAt()),
        lastGroupProgressAt: this.lastGroupProgressAt,
      })
    ) {
      this.stalledSince ??= now;
      this.status = StageStatus.STALLED;
      this.reason = `lag ${assigned.length ? this.myLag : this.groupLag} and no progress for ${Math.round((now - this.stalledSince + this.o.stallMs) / 1000)} s`;
      if (now - this.stalledSince >= this.o.stallMs) this.o.rebuild('stalled', StageStatus.STALLED);
    } else if (member.hasConsumer()) {
      this.stalledSince = undefined;
      this.status = StageStatus.UP;
      this.reason = undefined;
    }
    metrics.stageUp.set({ stage, instance: this.o.instanceId }, this.status === StageStatus.UP ? 1 : 0);
  }

  health(): StageHealth {
    const { member } = this.o;
    const lastCommitAt = member.lastCommitAt();
    return {
      stage: this.o.stage,
      instance: this.o.instanceId,
      pid: process.pid,
      status: this.status,
      ...(this.reason ? { reason: this.reason } : {}),
      lag: this.myLag,
      groupLag: this.groupLag,
      partitions: member.assigned(),
      ...(lastCommitAt ? { lastCommitAt } : {}),
      ...(this.checkedAt ? { checkedAt: this.checkedAt } : {}),
      rebuilds: member.rebuilds(),
      at: this.now(),
    };
  }
}
