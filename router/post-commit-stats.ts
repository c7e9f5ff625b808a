/**
 * Detect's post-commit statistics (decision counts for /healthz, drift bins, the policy preview's samples), gathered
 * over batches and written to Redis at most once per `intervalMs`, in one round trip.
 *
 * Why: at a steady, modest rate the stage's batches are small (3 transactions per partition at 500/s over 6
 * partitions), and three Redis writes per batch were a fixed cost per batch: with them the pipeline's visible p50 at
 * 500/s was 56-58 ms, with no post-commit work at all 42-45 (README "The stage runner"). Gathered, they cost one
 * write per interval whatever the batch size.
 *
 * What this costs: a member that dies loses at most the last interval's counts (they were never exact across a
 * crash: the write always came after the commit). Memory is bounded: counts and bins are summed, samples keep
 * only the newest `maxSamples`. A flush that fails is logged and its data dropped (as a failed post-commit write
 * was before); one that hangs (Redis down, commands queue) holds the next: data merges until it returns.
 */
import type { PendingDrift } from '../detectors/drift.ts';
import type { ScoredSample } from '../state/types.ts';

export interface StatsSink {
  countDecisions(counts: Record<string, number>): Promise<void>;
  recordDrift(pending: PendingDrift): Promise<unknown>;
  recordSamples?(samples: ScoredSample[]): Promise<void>;
  warn(err: unknown): void;
}

/** How often detect writes its statistics (ms); the longest a crash can lose. */
export const STATS_FLUSH_MS = 200;

export class PostCommitStats {
  private counts: Record<string, number> = {};
  private drift = new Map<string, Record<string, number[]>>();
  private samples: ScoredSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly sink: StatsSink,
    private readonly intervalMs = STATS_FLUSH_MS,
    private readonly maxSamples = 10_000,
  ) {}

  /** Adds one committed batch's statistics; returns at once (the write happens within `intervalMs`). */
  add(batch: { counts: Record<string, number>; drift: readonly PendingDrift[]; samples: readonly ScoredSample[] }): void {
    for (const [k, n] of Object.entries(batch.counts)) this.counts[k] = (this.counts[k] ?? 0) + n;
    for (const d of batch.drift) {
      let into = this.drift.get(d.modelVersion);
      if (!into) this.drift.set(d.modelVersion, (into = {}));
      for (const [name, bins] of Object.entries(d.counts)) {
        const sum = (into[name] ??= new Array<number>(bins.length).fill(0));
        for (let i = 0; i < bins.length; i++) sum[i] = (sum[i] ?? 0) + bins[i]!;
      }
    }
    if (this.sink.recordSamples && batch.samples.length) {
      for (const s of batch.samples) this.samples.push(s);
      if (this.samples.length > this.maxSamples) this.samples.splice(0, this.samples.length - this.maxSamples);
    }
    this.schedule();
  }

  /** Writes what is gathered now (and waits for a write in flight first); at stop. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    if (!this.pending()) return;
    const counts = this.counts;
    const drift = this.drift;
    const samples = this.samples;
    this.counts = {};
    this.drift = new Map();
    this.samples = [];
    this.flushing = Promise.all([
      Object.keys(counts).length ? this.sink.countDecisions(counts) : undefined,
      ...[...drift].map(([modelVersion, c]) => this.sink.recordDrift({ modelVersion, counts: c })),
      samples.length && this.sink.recordSamples ? this.sink.recordSamples(samples) : undefined,
    ])
      .then(() => undefined)
      .catch((err: unknown) => this.sink.warn(err))
      .finally(() => {
        this.flushing = undefined;
        // What arrived while this write was in flight goes in the next one.
        if (this.pending()) this.schedule();
      });
    await this.flushing;
  }

  /** Writes what is left; adds after this are still written, at once. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private pending(): boolean {
    return Object.keys(this.counts).length > 0 || this.drift.size > 0 || this.samples.length > 0;
  }

  private schedule(): void {
    if (this.timer || this.flushing) return;
    if (this.closed) {
      void this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
    this.timer.unref();
  }
}
