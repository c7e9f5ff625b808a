/**
 * The guard rail's state (router/ops/guard.ts), shared by every ops service member and read by every console:
 * - `<prefix>ops:guard:n:<policyVersion>`: hash {decisions, blocks} counted by the ops service from the decisions
 *   topic (each decision once: the stage runner claims its decisionId); TTL GUARD_COUNTS_TTL_SECONDS from its last
 *   count. One small hash per policy version.
 * - `<prefix>guard:rollback:<version>`: set once, by the first member to roll that version back (SET NX); TTL a day.
 * - `<prefix>ops:guard:rollbacks`: the newest GUARD_KEEP_ROLLBACKS rollbacks (JSON), newest first.
 */
import type { Redis } from 'ioredis';

export const GUARD_COUNTS_TTL_SECONDS = 7 * 86_400;
export const GUARD_KEEP_ROLLBACKS = 20;
const CLAIM_TTL_SECONDS = 86_400;

export const guardCountsKey = (prefix: string, policyVersion: number): string => `${prefix}ops:guard:n:${policyVersion}`;
export const guardRollbackClaimKey = (prefix: string, policyVersion: number): string => `${prefix}guard:rollback:${policyVersion}`;
export const guardRollbacksKey = (prefix: string): string => `${prefix}ops:guard:rollbacks`;

export interface GuardRollback {
  at: number;
  /** The version that blocked too much, the one restored, and the new version holding the restored content. */
  fromVersion: number;
  toVersion: number;
  newVersion: number;
  reason: string;
  /** The ops service member that rolled it back. */
  by?: string;
}

export interface BlockCounts {
  blocks: number;
  decisions: number;
}

export class GuardState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Counts decisions (and blocks) per policy version they were made under. */
  async add(decisions: ReadonlyArray<{ policyVersion: number; blocked: boolean }>): Promise<void> {
    if (decisions.length === 0) return;
    const per = new Map<number, BlockCounts>();
    for (const d of decisions) {
      const c = per.get(d.policyVersion) ?? { blocks: 0, decisions: 0 };
      c.decisions += 1;
      if (d.blocked) c.blocks += 1;
      per.set(d.policyVersion, c);
    }
    // A pipeline: one key per policy version (any slot on Redis Cluster), each counted on its own.
    const p = this.redis.pipeline();
    for (const [v, c] of per) {
      const k = guardCountsKey(this.prefix, v);
      p.hincrby(k, 'decisions', c.decisions);
      if (c.blocks) p.hincrby(k, 'blocks', c.blocks);
      p.expire(k, GUARD_COUNTS_TTL_SECONDS);
    }
    await p.exec();
  }

  async counts(policyVersion: number): Promise<BlockCounts> {
    const h = await this.redis.hmget(guardCountsKey(this.prefix, policyVersion), 'decisions', 'blocks');
    return { decisions: Number(h[0] ?? 0), blocks: Number(h[1] ?? 0) };
  }

  /** True once across every member and console: the right to roll this version back. */
  async claimRollback(policyVersion: number, by: string): Promise<boolean> {
    return (await this.redis.set(guardRollbackClaimKey(this.prefix, policyVersion), by, 'EX', CLAIM_TTL_SECONDS, 'NX')) === 'OK';
  }

  async recordRollback(r: GuardRollback): Promise<void> {
    const k = guardRollbacksKey(this.prefix);
    await this.redis.multi().lpush(k, JSON.stringify(r)).ltrim(k, 0, GUARD_KEEP_ROLLBACKS - 1).exec();
  }

  async rollbacks(): Promise<GuardRollback[]> {
    const raws = await this.redis.lrange(guardRollbacksKey(this.prefix), 0, GUARD_KEEP_ROLLBACKS - 1);
    return raws.flatMap((r) => {
      try {
        return [JSON.parse(r) as GuardRollback];
      } catch {
        return [];
      }
    });
  }
}
