/**
 * The guard rail: a policy change (thresholds, rules, lists or the model it names) whose first minutes block
 * far more than the version before is rolled back to that version, audited as 'guard-rail', and shown on the
 * Live page. It lives in the UI process because that process sees every decision (the live feed) and owns the
 * policy store; the stages only follow whatever policy is current.
 */
import type { Redis } from 'ioredis';
import type { Decision, Policy } from '../../core/contracts.ts';
import type { Logger } from '../../core/logger.ts';
import { DEFAULT_GUARD_RAIL, checkBlockRate, type GuardRail, type GuardVerdict } from '../../router/pure/guard.ts';
import type { RedisPolicyStore } from '../../state/policy.ts';
import type { AuditLog } from '../../state/audit.ts';

/** Who the audit log names for an automatic rollback. */
export const GUARD_WHO = 'guard-rail';
const KEEP_ROLLBACKS = 20;

interface Counts {
  blocks: number;
  decisions: number;
}

interface Watch {
  version: number;
  previousVersion: number;
  changedAt: number;
  verdict?: GuardVerdict;
}

/** `<prefix>guard:rollback:<version>`: set once, by the first UI process to roll that version back; TTL a day. */
export async function claimGuardRollback(redis: Redis, prefix: string, version: number, by: string): Promise<boolean> {
  return (await redis.set(`${prefix}guard:rollback:${version}`, by, 'EX', 86_400, 'NX')) === 'OK';
}

export interface GuardRollback {
  at: number;
  /** The version that blocked too much, the one restored, and the new version holding the restored content. */
  fromVersion: number;
  toVersion: number;
  newVersion: number;
  reason: string;
}

export interface GuardStatus {
  rail: GuardRail;
  watching: { version: number; previousVersion: number; changedAt: number; decisions: number; previousRate: number; currentRate: number; reason: string } | null;
  rollbacks: GuardRollback[];
}

export interface GuardDeps {
  rail: Partial<GuardRail>;
  policies: Pick<RedisPolicyStore, 'current' | 'get' | 'rollback'>;
  audit: Pick<AuditLog, 'record'>;
  log: Logger;
  /**
   * Claims the right to roll back this version (true once across every UI process): each process runs a watcher
   * over the same decisions, and the current-version check alone leaves a window for two rollbacks.
   */
  claim: (version: number) => Promise<boolean>;
}

export class GuardWatcher {
  readonly rail: GuardRail;
  private readonly counts = new Map<number, Counts>();
  /** Highest policy version any decision has carried. */
  private newest: number | undefined;
  private watch: Watch | undefined;
  private readonly rollbacks: GuardRollback[] = [];
  private running: Promise<void> = Promise.resolve();
  private queued = false;

  constructor(private readonly deps: GuardDeps) {
    this.rail = { ...DEFAULT_GUARD_RAIL, ...deps.rail };
  }

  /** Feed every decision (the live feed's onDecision); judging happens asynchronously, one check at a time. */
  onDecision(d: Decision): void {
    const v = d.versions.policy;
    const c = this.counts.get(v) ?? { blocks: 0, decisions: 0 };
    c.decisions += 1;
    if (d.action === 'BLOCK') c.blocks += 1;
    this.counts.set(v, c);
    if (this.newest === undefined) this.newest = v;
    else if (v > this.newest) {
      // Decisions under the previous version are the baseline; the change is judged from its first minutes.
      this.watch = { version: v, previousVersion: this.newest, changedAt: Date.now() };
      this.newest = v;
      const w = this.watch;
      this.enqueue(() => this.learnChange(w));
    }
    if (this.watch && !this.queued) {
      this.queued = true;
      this.enqueue(async () => {
        this.queued = false;
        await this.check();
      });
    }
  }

  /** Resolves when every queued check has run (tests, shutdown). */
  settled(): Promise<void> {
    return this.running;
  }

  status(): GuardStatus {
    const w = this.watch;
    const current = w ? (this.counts.get(w.version) ?? { blocks: 0, decisions: 0 }) : undefined;
    return {
      rail: this.rail,
      watching:
        w && current
          ? {
              version: w.version,
              previousVersion: w.previousVersion,
              changedAt: w.changedAt,
              decisions: current.decisions,
              previousRate: w.verdict?.previousRate ?? 0,
              currentRate: w.verdict?.currentRate ?? 0,
              reason: w.verdict?.reason ?? 'waiting for decisions',
            }
          : null,
      rollbacks: [...this.rollbacks],
    };
  }

  private enqueue(job: () => Promise<void>): void {
    this.running = this.running.then(job).catch((err: unknown) => this.deps.log.error({ err }, 'guard rail check failed'));
  }

  /** The change time is when the policy was saved (a UI restart re-reads old decisions: those are past their window). */
  private async learnChange(w: Watch): Promise<void> {
    const p = await this.deps.policies.get(w.version);
    if (!p) return;
    w.changedAt = p.updatedAt;
  }

  private async check(): Promise<void> {
    const w = this.watch;
    if (!w) return;
    const previous = this.counts.get(w.previousVersion) ?? { blocks: 0, decisions: 0 };
    const current = this.counts.get(w.version) ?? { blocks: 0, decisions: 0 };
    const verdict = checkBlockRate(this.rail, previous, current, (Date.now() - w.changedAt) / 60_000);
    w.verdict = verdict;
    if (!verdict.rollback) {
      if (!verdict.watching && this.watch === w) this.watch = undefined;
      return;
    }
    this.watch = undefined;
    const before: Policy = await this.deps.policies.current();
    if (before.version !== w.version) {
      // Someone already changed the policy again: that version gets its own watch when its decisions arrive.
      this.deps.log.warn({ version: w.version, current: before.version, reason: verdict.reason }, 'guard rail tripped but the policy has moved on; not rolling back');
      return;
    }
    if (!(await this.deps.claim(w.version))) {
      this.deps.log.info({ version: w.version }, 'guard rail tripped; another UI process is rolling back');
      return;
    }
    const after = await this.deps.policies.rollback(w.previousVersion, GUARD_WHO);
    const rollback: GuardRollback = { at: Date.now(), fromVersion: w.version, toVersion: w.previousVersion, newVersion: after.version, reason: verdict.reason };
    this.rollbacks.unshift(rollback);
    if (this.rollbacks.length > KEEP_ROLLBACKS) this.rollbacks.pop();
    await this.deps.audit.record({
      who: GUARD_WHO,
      action: 'policy.rollback',
      target: 'policy',
      before: { version: before.version, modelVersion: before.modelVersion ?? null },
      after: {
        version: after.version,
        from: w.previousVersion,
        modelVersion: after.modelVersion ?? null,
        reason: verdict.reason,
        previousRate: verdict.previousRate,
        currentRate: verdict.currentRate,
        decisions: current.decisions,
      },
    });
    this.deps.log.warn({ ...rollback }, 'guard rail rolled the policy back');
  }
}
