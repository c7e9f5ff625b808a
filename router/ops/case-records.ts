/**
 * The case record's lifetime (issue 18). The case-state topic is compacted: it keeps each case as last written, so
 * without more it kept every case ever opened, one record per verdict for good. A closed case lives in the view for
 * CLOSED_CASE_TTL_SECONDS after its verdict (state/review.ts; no TTL there: this sweep removes it); the record keeps it
 * exactly that long: past it, the ops service appends a tombstone (the case id with a null value) and deletes the
 * view's copy; compaction drops the case's older values and, after the topic's delete.retention.ms, the tombstone. A restore reads a tombstoned case as gone (core/changelog.ts
 * readAll), as the case view writer does (state/review.ts forgetCases). Open cases are never tombstoned.
 *
 * One ops member sweeps per period: each member tries every tick, and only the one that takes the period's Redis lock
 * (SET NX PX) reads the topic. A tombstone sent twice (the lock lost with a Redis wipe) changes nothing.
 */
import type { Redis } from 'ioredis';
import type { Changelog } from '../../core/changelog.ts';
import { CaseSchema } from '../../core/contracts.ts';
import type { Logger } from '../../core/logger.ts';
import { closedCaseOutlived, forgetCases, reviewKeysOf } from '../../state/review.ts';

/** How often, at most, the case record is swept (all members together). */
export const CASE_SWEEP_PERIOD_MS = 3_600_000;
/** How often each ops member tries to take the period's sweep. */
export const CASE_SWEEP_TICK_MS = 60_000;

export type CaseRecord = Pick<Changelog, 'topic' | 'readAll' | 'removeAll'>;

/**
 * Tombstones the closed cases of the record that outlived CLOSED_CASE_TTL_SECONDS; returns how many records were read
 * and the case ids removed. A value that is not a case is left alone (never delete what cannot be read).
 */
export async function sweepCaseRecords(record: CaseRecord, now = Date.now()): Promise<{ read: number; removed: string[] }> {
  const entries = await record.readAll();
  const removed: string[] = [];
  for (const e of entries) {
    let c;
    try {
      c = CaseSchema.safeParse(JSON.parse(e.value)).data;
    } catch {
      c = undefined;
    }
    if (c && closedCaseOutlived(c, now)) removed.push(e.key);
  }
  await record.removeAll(removed);
  return { read: entries.length, removed };
}

export interface CaseSweeper {
  /** One tick: sweeps when this member takes the period's lock; undefined when another member has it. */
  tick(): Promise<{ read: number; removed: string[] } | undefined>;
}

export function caseSweeper(opts: { redis: Redis; prefix: string; record: CaseRecord; instanceId: string; log: Logger; periodMs?: number }): CaseSweeper {
  const lock = reviewKeysOf(opts.redis, opts.prefix).recordSweep;
  return {
    async tick() {
      if ((await opts.redis.set(lock, opts.instanceId, 'PX', opts.periodMs ?? CASE_SWEEP_PERIOD_MS, 'NX')) !== 'OK') return undefined;
      try {
        const done = await sweepCaseRecords(opts.record);
        // The view's copies have no TTL (record views are never evicted): gone with their tombstones. The case view
        // writer does the same when it reads the tombstones; this covers a system with no escalate member running.
        await forgetCases(opts.redis, opts.prefix, done.removed);
        if (done.removed.length > 0) opts.log.info({ topic: opts.record.topic, read: done.read, removed: done.removed.length }, 'case record: closed cases past their time tombstoned');
        return done;
      } catch (err) {
        // Let the next tick (of any member) try again rather than waiting out the period.
        await opts.redis.del(lock).catch(() => undefined);
        throw err;
      }
    },
  };
}
