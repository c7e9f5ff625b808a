/**
 * Evidence per rule and list (router/ops/rule-stats.ts): which transactions each rule fired on, joined with the labels
 * that come back later. Written by the ops service (decisions) and the labels stage (labels); read by the console.
 * - `<prefix>ops:rules`: one hash of counters: `h:<rule>` hits, `l:<rule>` labelled hits, `f:<rule>` fraud hits,
 *   `m:<rule>` money caught (minor units), `c:<rule>:<currency>` fraud hits per currency; `T` transactions seen, `L`
 *   transactions labelled. Bounded by the number of rules and lists (tens), not by traffic.
 * - `<prefix>ops:rules:tx:<txId>`: per transaction a rule fired on (or a label arrived for): its amount `a`, currency
 *   `c`, label `l` ('1' fraud, '0' legitimate) and one field `r:<rule>` per rule; TTL RULE_EVIDENCE_TTL_SECONDS
 *   (longer than a chargeback takes to arrive). About 150 bytes each: at 5% of 500 tx/s firing a rule, 300 MB at
 *   most over the TTL.
 *
 * A transaction counts once per rule however many decisions fire it (detect, escalate, the analyst's), and the latest
 * label wins: a chargeback overturning an analyst's verdict moves the counts from one side to the other.
 */
import type { Redis } from 'ioredis';
import { isCluster, keySlot } from '../core/redis.ts';

export const RULE_EVIDENCE_TTL_SECONDS = 14 * 86_400;
export const ruleStatsKey = (prefix: string): string => `${prefix}ops:rules`;
export const ruleTxKey = (prefix: string, txId: string): string => `${prefix}ops:rules:tx:${txId}`;
/**
 * On Redis Cluster a transaction's key and the counters its script bumps must share a slot, and one slot for every
 * transaction would put the family on one master: there the counters are split in RULE_SHARDS hashes
 * `<prefix>ops:rules:{r<n>}` and a transaction's key is `<prefix>ops:rules:{r<n>}:tx:<txId>` (n from its id); read()
 * adds the shards up.
 */
export const RULE_SHARDS = 16;
const shardOf = (txId: string): number => keySlot(txId) % RULE_SHARDS;
export const ruleStatsShardKey = (prefix: string, shard: number): string => `${prefix}ops:rules:{r${shard}}`;
export const ruleTxShardKey = (prefix: string, txId: string): string => `${ruleStatsShardKey(prefix, shardOf(txId))}:tx:${txId}`;

const ON_DECISION = `
local tx, st = KEYS[1], KEYS[2]
if ARGV[4] == '1' then redis.call('HINCRBY', st, 'T', 1) end
if #ARGV < 5 then return 0 end
redis.call('HSETNX', tx, 'a', ARGV[2])
redis.call('HSETNX', tx, 'c', ARGV[3])
local amount = tonumber(redis.call('HGET', tx, 'a')) or 0
local cur = redis.call('HGET', tx, 'c')
local label = redis.call('HGET', tx, 'l')
local n = 0
for i = 5, #ARGV do
  local r = ARGV[i]
  if redis.call('HSETNX', tx, 'r:' .. r, 1) == 1 then
    n = n + 1
    redis.call('HINCRBY', st, 'h:' .. r, 1)
    if label then
      redis.call('HINCRBY', st, 'l:' .. r, 1)
      if label == '1' then
        redis.call('HINCRBY', st, 'f:' .. r, 1)
        redis.call('HINCRBY', st, 'm:' .. r, amount)
        redis.call('HINCRBY', st, 'c:' .. r .. ':' .. cur, 1)
      end
    end
  end
end
redis.call('EXPIRE', tx, ARGV[1])
return n`;

const ON_LABEL = `
local tx, st = KEYS[1], KEYS[2]
local new = ARGV[1]
local old = redis.call('HGET', tx, 'l')
if old == new then return 0 end
local amount = tonumber(redis.call('HGET', tx, 'a')) or 0
local cur = redis.call('HGET', tx, 'c') or ''
if not old then redis.call('HINCRBY', st, 'L', 1) end
for _, f in ipairs(redis.call('HKEYS', tx)) do
  if string.sub(f, 1, 2) == 'r:' then
    local r = string.sub(f, 3)
    if not old then redis.call('HINCRBY', st, 'l:' .. r, 1) end
    if old == '1' then
      redis.call('HINCRBY', st, 'f:' .. r, -1)
      redis.call('HINCRBY', st, 'm:' .. r, -amount)
      redis.call('HINCRBY', st, 'c:' .. r .. ':' .. cur, -1)
    end
    if new == '1' then
      redis.call('HINCRBY', st, 'f:' .. r, 1)
      redis.call('HINCRBY', st, 'm:' .. r, amount)
      redis.call('HINCRBY', st, 'c:' .. r .. ':' .. cur, 1)
    end
  end
end
redis.call('HSET', tx, 'l', new)
redis.call('EXPIRE', tx, ARGV[2])
return 1`;

export interface RuleCounts {
  rule: string;
  hits: number;
  labelled: number;
  fraud: number;
  moneyCaught: number;
  /** Fraud hits per currency. */
  currencies: Record<string, number>;
}

export class RuleEvidenceStore {
  private readonly stats: string;
  private readonly sharded: boolean;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds = RULE_EVIDENCE_TTL_SECONDS,
  ) {
    this.stats = ruleStatsKey(prefix);
    this.sharded = isCluster(redis);
  }

  /** The transaction's key and the counters its script bumps (one slot on Redis Cluster). */
  private keysOf(txId: string): [string, string] {
    return this.sharded ? [ruleTxShardKey(this.prefix, txId), ruleStatsShardKey(this.prefix, shardOf(txId))] : [ruleTxKey(this.prefix, txId), this.stats];
  }

  /**
   * Each decision adds the rules it fired; `newTransaction` counts the transaction itself (its detect or escalate
   * decision, not the analyst's that follows a review).
   */
  async onDecisions(ds: ReadonlyArray<{ txId: string; rules: readonly string[]; amountMinor: number; currency: string; newTransaction: boolean }>): Promise<void> {
    if (ds.length === 0) return;
    const p = this.redis.pipeline();
    for (const d of ds) {
      if (d.rules.length === 0 && !d.newTransaction) continue;
      p.eval(ON_DECISION, 2, ...this.keysOf(d.txId), this.ttlSeconds, Math.round(d.amountMinor), d.currency, d.newTransaction ? '1' : '0', ...new Set(d.rules));
    }
    throwFirst(await p.exec());
  }

  /** The latest label of a transaction wins. */
  async onLabels(ls: ReadonlyArray<{ txId: string; isFraud: boolean }>): Promise<void> {
    if (ls.length === 0) return;
    const p = this.redis.pipeline();
    for (const l of ls) p.eval(ON_LABEL, 2, ...this.keysOf(l.txId), l.isFraud ? '1' : '0', this.ttlSeconds);
    throwFirst(await p.exec());
  }

  async read(): Promise<{ rules: RuleCounts[]; transactions: number; labelled: number }> {
    const h = this.sharded ? await this.sumShards() : await this.redis.hgetall(this.stats);
    const by = new Map<string, RuleCounts>();
    const of = (rule: string) => {
      let r = by.get(rule);
      if (!r) {
        r = { rule, hits: 0, labelled: 0, fraud: 0, moneyCaught: 0, currencies: {} };
        by.set(rule, r);
      }
      return r;
    };
    for (const [field, raw] of Object.entries(h)) {
      const n = Number(raw);
      const kind = field.slice(0, 2);
      const rest = field.slice(2);
      if (kind === 'h:') of(rest).hits = n;
      else if (kind === 'l:') of(rest).labelled = n;
      else if (kind === 'f:') of(rest).fraud = n;
      else if (kind === 'm:') of(rest).moneyCaught = n;
      else if (kind === 'c:') {
        const at = rest.lastIndexOf(':');
        if (n > 0) of(rest.slice(0, at)).currencies[rest.slice(at + 1)] = n;
      }
    }
    return { rules: [...by.values()].filter((r) => r.hits > 0), transactions: Number(h.T ?? 0), labelled: Number(h.L ?? 0) };
  }

  private async sumShards(): Promise<Record<string, string>> {
    const p = this.redis.pipeline();
    for (let s = 0; s < RULE_SHARDS; s++) p.hgetall(ruleStatsShardKey(this.prefix, s));
    const sum: Record<string, number> = {};
    for (const [err, h] of (await p.exec()) ?? []) {
      if (err) throw err;
      for (const [f, v] of Object.entries(h as Record<string, string>)) sum[f] = (sum[f] ?? 0) + Number(v);
    }
    return Object.fromEntries(Object.entries(sum).map(([f, n]) => [f, String(n)]));
  }
}

function throwFirst(results: Array<[Error | null, unknown]> | null): void {
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0] as Error;
}
