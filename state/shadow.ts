import type { Redis } from 'ioredis';
import { familyPrefix, mgetKeys } from '../core/redis.ts';
import { z } from 'zod';
import type { Changelog } from '../core/changelog.ts';
import { sampleLabelKey } from './samples.ts';
import type { Restored } from './view.ts';

/** What each side did with a transaction in a shadow run (router/pure/shadow.ts compares them). */
export type ShadowAction = 'ALLOW' | 'BLOCK' | 'REVIEW' | 'ESCALATE';
export const SHADOW_ACTIONS: readonly ShadowAction[] = ['ALLOW', 'BLOCK', 'REVIEW', 'ESCALATE'];

export interface ShadowPair {
  txId: string;
  ts: number;
  amountMinor: number;
  champion: ShadowAction;
  challenger: ShadowAction;
  /** Whether each side's first line would escalate (the heavy model saw it). */
  championEscalated: boolean;
  challengerEscalated: boolean;
  /** The label, once it has come back. */
  isFraud?: boolean;
}

/**
 * The shadow challenger's key family, `<prefix>shadow:*`, apart from everything the champion writes:
 * - `shadow:active`              JSON of the running challenger {model, startedAt, by, thresholds, matureAt}; one key
 * - `shadow:run:<model>`         JSON of that version's last run (stoppedAt once stopped); no TTL: a record view (one per
 *                                version ever shadowed), never evicted
 * - `shadow:pairs:<model>`       list of pairs, newest first, capped at SHADOW_PAIRS_CAP; TTL SHADOW_TTL_SECONDS
 * - `shadow:stats:<model>`       hash: seen, skippedBatches, skippedTransactions, failedBatches; TTL SHADOW_TTL_SECONDS
 * - `shadow:label:<txId>`        "1|labeledAt" or "0|labeledAt", written while shadow evidence is kept; TTL SHADOW_LABEL_TTL_SECONDS
 * - `shadow:label-delays`        sorted set of observed label delays (member "txId|ms", score labeledAt), newest SHADOW_DELAYS_CAP
 * - `shadow:last`                the model of the latest run (the report shown when none is active); one key, no TTL
 * - `shadow:window`              present while labels are worth keeping for shadow pairs; TTL SHADOW_LABEL_TTL_SECONDS
 */
export const SHADOW_PAIRS_CAP = 200_000;
export const SHADOW_DELAYS_CAP = 10_000;
/** A run's pairs and stats outlive it this long after their last write (the report stays readable for a promotion). */
export const SHADOW_TTL_SECONDS = 90 * 24 * 3600;
/** Chargebacks come back within 120 days (card network rules); a label kept longer has no pair left to judge. */
export const SHADOW_LABEL_TTL_SECONDS = 120 * 24 * 3600;

export const shadowKeys = (prefix: string) => ({
  active: `${prefix}shadow:active`,
  run: (model: string) => `${prefix}shadow:run:${model}`,
  pairs: (model: string) => `${prefix}shadow:pairs:${model}`,
  stats: (model: string) => `${prefix}shadow:stats:${model}`,
  label: (txId: string) => `${prefix}shadow:label:${txId}`,
  delays: `${prefix}shadow:label-delays`,
  window: `${prefix}shadow:window`,
  last: `${prefix}shadow:last`,
});

export const ShadowRunSchema = z.object({
  model: z.string().min(1),
  startedAt: z.number(),
  by: z.string(),
  /** "policy": the challenger is routed with the live policy as it is; "model": with its own thresholds.json in it. */
  thresholds: z.enum(['policy', 'model']).default('policy'),
  matureAt: z.number().min(0).max(1),
  stoppedAt: z.number().optional(),
  stoppedBy: z.string().optional(),
});
export type ShadowRun = z.infer<typeof ShadowRunSchema>;

export interface ShadowStats {
  seen: number;
  skippedBatches: number;
  skippedTransactions: number;
  failedBatches: number;
}

export interface StoredPairs {
  pairs: ShadowPair[];
  /** Observed label delays in ms (newest SHADOW_DELAYS_CAP), across every shadow run. */
  delaysMs: number[];
}

const CODE: Record<ShadowAction, string> = { ALLOW: 'A', BLOCK: 'B', REVIEW: 'R', ESCALATE: 'E' };
const ACTION = Object.fromEntries(SHADOW_ACTIONS.map((a) => [CODE[a], a])) as Record<string, ShadowAction>;

/** Compact on purpose: 200k pairs at about 60 bytes each. */
export function encodePair(p: ShadowPair): string {
  return JSON.stringify([p.txId, p.ts, p.amountMinor, CODE[p.champion] + CODE[p.challenger], (p.championEscalated ? 1 : 0) + (p.challengerEscalated ? 2 : 0)]);
}

export function decodePair(raw: string): ShadowPair | undefined {
  try {
    const a = JSON.parse(raw) as unknown;
    if (!Array.isArray(a) || a.length !== 5) return undefined;
    const [txId, ts, amountMinor, actions, esc] = a as [unknown, unknown, unknown, unknown, unknown];
    if (typeof txId !== 'string' || typeof ts !== 'number' || typeof amountMinor !== 'number' || typeof actions !== 'string' || typeof esc !== 'number') return undefined;
    const champion = ACTION[actions[0] ?? ''];
    const challenger = ACTION[actions[1] ?? ''];
    if (!champion || !challenger) return undefined;
    return { txId, ts, amountMinor, champion, challenger, championEscalated: (esc & 1) === 1, challengerEscalated: (esc & 2) === 2 };
  } catch {
    return undefined;
  }
}

function parseRun(raw: string | null): ShadowRun | undefined {
  if (!raw) return undefined;
  try {
    return ShadowRunSchema.safeParse(JSON.parse(raw)).data;
  } catch {
    return undefined;
  }
}

const CHUNK = 1_000;

/**
 * Where shadow runs are recorded (core/changelog.ts on the compacted shadow topic, issue 18): `active` (the running
 * challenger, a tombstone once stopped), `run:<model>` (each version's last run) and `last`. Pairs, stats and labels
 * are evidence gathered from traffic, not decisions of an operator: they are not recorded, and a wipe starts them
 * afresh.
 */
export type ShadowRecord = Pick<Changelog, 'topic' | 'append' | 'remove' | 'readAll'>;

// KEYS: active, last, window. ARGV: label window TTL, run key prefix, then key/value pairs of the record. Written back
// only where Redis holds nothing (NX): a run started or stopped since the record was read stays. No TTL on the runs.
const RESTORE = `
local n = 0
local any = false
for i = 3, #ARGV, 2 do
  local k = ARGV[i]
  local v = ARGV[i + 1]
  local ok
  if k == 'active' then ok = redis.call('SET', KEYS[1], v, 'NX')
  elseif k == 'last' then ok = redis.call('SET', KEYS[2], v, 'NX')
  elseif string.sub(k, 1, 4) == 'run:' then ok = redis.call('SET', ARGV[2] .. string.sub(k, 5), v, 'NX') end
  if ok then n = n + 1 end
  any = true
end
if any then redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[1]) end
return n`;

export class ShadowStore {
  private readonly k: ReturnType<typeof shadowKeys>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Caps (tests use small ones). */
    private readonly caps: { pairs: number; delays: number } = { pairs: SHADOW_PAIRS_CAP, delays: SHADOW_DELAYS_CAP },
    /** The shadow topic; without one (unit tests, the bench) Redis alone holds the runs. */
    private readonly record?: ShadowRecord,
  ) {
    // On Redis Cluster the family shares one slot (`<prefix>{shadow}:shadow:...`): start/stop and restore write several keys at once.
    this.k = shadowKeys(familyPrefix(redis, prefix, 'shadow'));
  }

  /** Writes the recorded runs back into Redis (what Redis holds is kept); returns how many keys were written, and the recorded ones. */
  async restore(): Promise<Restored> {
    if (!this.record) return { restored: 0, keys: [] };
    const entries = (await this.record.readAll()).filter((e) => e.key === 'active' || e.key === 'last' || e.key.startsWith('run:'));
    if (entries.length === 0) return { restored: 0, keys: [] };
    const keys = entries.map((e) => (e.key === 'active' ? this.k.active : e.key === 'last' ? this.k.last : this.k.run(e.key.slice(4))));
    return { restored: Number(await this.redis.eval(RESTORE, 3, this.k.active, this.k.last, this.k.window, SHADOW_LABEL_TTL_SECONDS, this.k.run(''), ...entries.flatMap((e) => [e.key, e.value]))), keys };
  }

  async active(): Promise<ShadowRun | undefined> {
    return parseRun(await this.redis.get(this.k.active));
  }

  /** The model of the latest run, active or stopped. */
  async lastModel(): Promise<string | undefined> {
    return (await this.redis.get(this.k.last)) ?? undefined;
  }

  async run(model: string): Promise<ShadowRun | undefined> {
    return parseRun(await this.redis.get(this.k.run(model)));
  }

  /** Makes `run` the active challenger; returns the one it replaced (stopped), if any. */
  async start(run: ShadowRun): Promise<ShadowRun | undefined> {
    const before = await this.active();
    // Recorded before Redis has it: a run Redis shows is never one a wipe can lose.
    if (this.record) {
      if (before && before.model !== run.model) await this.record.append(`run:${before.model}`, JSON.stringify({ ...before, stoppedAt: run.startedAt, stoppedBy: run.by }));
      await this.record.append(`run:${run.model}`, JSON.stringify(run));
      await this.record.append('last', run.model);
      await this.record.append('active', JSON.stringify(run));
    }
    const m = this.redis.multi();
    if (before && before.model !== run.model) m.set(this.k.run(before.model), JSON.stringify({ ...before, stoppedAt: run.startedAt, stoppedBy: run.by }));
    m.set(this.k.active, JSON.stringify(run));
    m.set(this.k.last, run.model);
    m.set(this.k.run(run.model), JSON.stringify(run));
    m.set(this.k.window, '1', 'EX', SHADOW_LABEL_TTL_SECONDS);
    await m.exec();
    return before;
  }

  /** Stops the active challenger; returns it (with stoppedAt), or undefined when none was running. */
  async stop(by: string, at = Date.now()): Promise<ShadowRun | undefined> {
    const before = await this.active();
    if (!before) return undefined;
    const stopped = { ...before, stoppedAt: at, stoppedBy: by };
    if (this.record) {
      await this.record.append(`run:${before.model}`, JSON.stringify(stopped));
      await this.record.remove('active');
    }
    await this.redis.multi().del(this.k.active).set(this.k.run(before.model), JSON.stringify(stopped)).set(this.k.window, '1', 'EX', SHADOW_LABEL_TTL_SECONDS).exec();
    return stopped;
  }

  /** One batch's pairs and its counts in one round trip. */
  async append(model: string, pairs: readonly ShadowPair[]): Promise<void> {
    if (pairs.length === 0) return;
    await this.redis
      .multi()
      .lpush(this.k.pairs(model), ...pairs.map(encodePair))
      .ltrim(this.k.pairs(model), 0, this.caps.pairs - 1)
      .expire(this.k.pairs(model), SHADOW_TTL_SECONDS)
      .hincrby(this.k.stats(model), 'seen', pairs.length)
      .expire(this.k.stats(model), SHADOW_TTL_SECONDS)
      .exec();
  }

  /** A batch the worker let go (it was behind, or the batch failed): counted, never waited for. */
  async countSkipped(model: string, transactions: number, kind: 'skipped' | 'failed'): Promise<void> {
    const m = this.redis.multi();
    if (kind === 'skipped') m.hincrby(this.k.stats(model), 'skippedBatches', 1).hincrby(this.k.stats(model), 'skippedTransactions', transactions);
    else m.hincrby(this.k.stats(model), 'failedBatches', 1);
    await m.expire(this.k.stats(model), SHADOW_TTL_SECONDS).exec();
  }

  async stats(model: string): Promise<ShadowStats> {
    const h = await this.redis.hgetall(this.k.stats(model));
    const n = (f: string) => Number(h[f] ?? 0);
    return { seen: n('seen'), skippedBatches: n('skippedBatches'), skippedTransactions: n('skippedTransactions'), failedBatches: n('failedBatches') };
  }

  /**
   * Labels as they come back (the console's live feed): kept with their arrival time while shadow evidence exists,
   * so a pair learns what it was and how late that was known.
   */
  async recordLabels(labels: ReadonlyArray<{ txId: string; isFraud: boolean; labeledAt: number }>): Promise<void> {
    if (labels.length === 0 || !(await this.redis.exists(this.k.window))) return;
    const m = this.redis.pipeline();
    for (const l of labels) m.set(this.k.label(l.txId), `${l.isFraud ? 1 : 0}|${l.labeledAt}`, 'EX', SHADOW_LABEL_TTL_SECONDS);
    await m.exec();
  }

  /**
   * A version's pairs (newest first) joined with the labels that came back, and the label delays seen so far. A pair's
   * label is the shadow label (with its arrival time: its delay is recorded) or else the preview's samples label.
   */
  async pairs(model: string): Promise<StoredPairs> {
    const raws = await this.redis.lrange(this.k.pairs(model), 0, this.caps.pairs - 1);
    const pairs = raws.map(decodePair).filter((p) => p !== undefined);
    const delays: Array<[number, string]> = [];
    for (let i = 0; i < pairs.length; i += CHUNK) {
      const chunk = pairs.slice(i, i + CHUNK);
      const [shadowLabels, sampleLabels] = await Promise.all([
        this.redis.mget(chunk.map((p) => this.k.label(p.txId))),
        mgetKeys(this.redis, chunk.map((p) => sampleLabelKey(this.prefix, p.txId))),
      ]);
      chunk.forEach((p, j) => {
        const s = shadowLabels[j];
        if (s) {
          const [flag, at] = s.split('|');
          p.isFraud = flag === '1';
          const labeledAt = Number(at);
          if (Number.isFinite(labeledAt)) delays.push([labeledAt, `${p.txId}|${Math.max(0, labeledAt - p.ts)}`]);
          return;
        }
        const l = sampleLabels[j];
        if (l === '1' || l === '0') p.isFraud = l === '1';
      });
    }
    if (delays.length > 0) {
      const m = this.redis.multi();
      for (let i = 0; i < delays.length; i += CHUNK) m.zadd(this.k.delays, ...delays.slice(i, i + CHUNK).flat());
      await m.zremrangebyrank(this.k.delays, 0, -(this.caps.delays + 1)).exec();
    }
    const members = await this.redis.zrange(this.k.delays, 0, -1);
    const delaysMs = members.map((s) => Number(s.slice(s.lastIndexOf('|') + 1))).filter((n) => Number.isFinite(n));
    return { pairs, delaysMs };
  }
}
