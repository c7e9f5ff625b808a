/**
 * The guard rail: a policy change (thresholds, rules, lists or the model version it names) whose first minutes block
 * far more than the version before is rolled back to that version, audited as 'guard-rail', and shown on the Live
 * page. It runs in the ops service (router/ops/service.ts), judging block rates the service counts per policy
 * version from the decisions topic (state/guard.ts), so it acts whether or not a console is open. Every member
 * judges; the first to claim the version in Redis (SET NX) rolls it back, so several members or consoles act once.
 */
import type { Policy } from '../../core/contracts.ts';
import type { Logger } from '../../core/logger.ts';
import type { AuditLog } from '../../state/audit.ts';
import type { GuardRollback, GuardState } from '../../state/guard.ts';
import type { RedisPolicyStore } from '../../state/policy.ts';
import { DEFAULT_GUARD_RAIL, checkBlockRate, type GuardRail, type GuardVerdict } from '../pure/guard.ts';

export type { GuardRollback } from '../../state/guard.ts';

/** Who the audit log names for an automatic rollback. */
export const GUARD_WHO = 'guard-rail';

export interface GuardStatus {
  rail: GuardRail;
  watching: { version: number; previousVersion: number; changedAt: number; decisions: number; previousRate: number; currentRate: number; reason: string } | null;
  rollbacks: GuardRollback[];
}

export interface GuardDeps {
  rail: Partial<GuardRail>;
  policies: Pick<RedisPolicyStore, 'current' | 'rollback'>;
  state: Pick<GuardState, 'counts' | 'claimRollback' | 'recordRollback' | 'rollbacks'>;
  /** Absent in a console, which only reads the status. */
  audit?: Pick<AuditLog, 'record'>;
  log: Logger;
  /** Names the member in the claim and the rollback record. */
  instanceId: string;
  now?: () => number;
  /**
   * The block rate a model version's card measured on its test slice (undefined when unknown): the baseline for a
   * change that starts serving that version.
   */
  expectedBlockRate?: (modelVersion: string) => Promise<number | undefined>;
}

interface Judged {
  current: Policy;
  previousVersion: number;
  counts: { blocks: number; decisions: number };
  verdict: GuardVerdict;
}

export class GuardService {
  readonly rail: GuardRail;
  private readonly now: () => number;

  constructor(private readonly deps: GuardDeps) {
    this.rail = { ...DEFAULT_GUARD_RAIL, ...deps.rail };
    this.now = deps.now ?? Date.now;
  }

  /** The current version against the one before it; undefined when there is no change to judge (version 1). */
  private async judge(): Promise<Judged | undefined> {
    const current = await this.deps.policies.current();
    if (current.version < 2) return undefined;
    const previousVersion = current.version - 1;
    const [previous, counts] = await Promise.all([this.deps.state.counts(previousVersion), this.deps.state.counts(current.version)]);
    const expected = current.modelVersion && this.deps.expectedBlockRate ? ((await this.deps.expectedBlockRate(current.modelVersion).catch(() => undefined)) ?? 0) : 0;
    const verdict = checkBlockRate(this.rail, previous, counts, (this.now() - current.updatedAt) / 60_000, expected);
    return { current, previousVersion, counts, verdict };
  }

  async status(): Promise<GuardStatus> {
    const [j, rollbacks] = await Promise.all([this.judge(), this.deps.state.rollbacks()]);
    const watching =
      j && j.verdict.watching
        ? {
            version: j.current.version,
            previousVersion: j.previousVersion,
            changedAt: j.current.updatedAt,
            decisions: j.counts.decisions,
            previousRate: j.verdict.previousRate,
            currentRate: j.verdict.currentRate,
            reason: j.verdict.reason,
          }
        : null;
    return { rail: this.rail, watching, rollbacks };
  }

  /** Judges the current version and rolls it back when it trips the rail; returns the rollback this call made. */
  async check(): Promise<GuardRollback | undefined> {
    const j = await this.judge();
    if (!j?.verdict.rollback) return undefined;
    const { current: before, previousVersion, verdict, counts } = j;
    if (!(await this.deps.state.claimRollback(before.version, this.deps.instanceId))) {
      this.deps.log.debug({ version: before.version }, 'guard rail tripped; another member rolled it back');
      return undefined;
    }
    const now = await this.deps.policies.current();
    if (now.version !== before.version) {
      this.deps.log.warn({ version: before.version, current: now.version, reason: verdict.reason }, 'guard rail tripped but the policy has moved on; not rolling back');
      return undefined;
    }
    const after = await this.deps.policies.rollback(previousVersion, GUARD_WHO);
    const rollback: GuardRollback = { at: this.now(), fromVersion: before.version, toVersion: previousVersion, newVersion: after.version, reason: verdict.reason, by: this.deps.instanceId };
    await this.deps.state.recordRollback(rollback);
    await this.deps.audit?.record({
      who: GUARD_WHO,
      action: 'policy.rollback',
      target: 'policy',
      before: { version: before.version, modelVersion: before.modelVersion ?? null },
      after: {
        version: after.version,
        from: previousVersion,
        modelVersion: after.modelVersion ?? null,
        reason: verdict.reason,
        previousRate: verdict.previousRate,
        currentRate: verdict.currentRate,
        decisions: counts.decisions,
      },
    });
    this.deps.log.warn({ ...rollback }, 'guard rail rolled the policy back');
    return rollback;
  }
}
