/**
 * Keeps the Redis views of the records (issue 18: Kafka is the record, Redis the view) present. Each part (accounts,
 * cases, shadow runs, the audit view) has a marker key, `<prefix>view:<part>`, written when its view has been
 * restored from its topic; a FLUSHALL or a redis-server restarted without persistence removes it with everything
 * else. A process checks the markers at start and every few seconds, and before work that needs a part (ready());
 * a missing marker makes it restore that part from its topic first. The policy and the dedupe claims keep their own
 * markers (state/policy.ts, state/outcomes.ts).
 *
 * A restore round writes a token first and seals the marker only if the token is still there (one script): a wipe
 * during the round removes the token, so a half-restored view is never marked whole and is restored again. Restores
 * write with NX (state a process changed after the round read its topic is never overwritten), so processes that
 * restore the same part at once do no harm. One round per part at a time: a process that finds another's token
 * waits for that round's seal (up to OTHER_ROUND_WAIT_MS) instead of replacing the token. Replacing it made every
 * process that noticed a wipe (console, stages, ops: five in the chaos suite) void the others' rounds in turn, and the
 * cases view stayed unsealed for minutes (chaos redis-wipe, load 17: 38 failed rounds, none sealed in 120 s).
 *
 * A marker only says the view was whole when it was sealed. A wipe that deletes keys one by one (`redis-cli --scan
 * --pattern 'fs:*' | xargs redis-cli del`) may delete the marker early, let a process restore and seal, and then delete
 * restored keys: the admin account stayed missing until the next marker loss. So a round also records what the view
 * holds from the record (the keys a part names after its restore that exist at the seal without a TTL), in
 * `<marker>:holds`, sealed with the marker. Every few seconds (start()) each process compares: one GET of the marker,
 * the holds list read once per round, and one script per 1,000 held keys reading their PTTL (no SCAN). A held key gone
 * (or the holds list gone) means part of the view was lost: the process drops the marker (if still that round's) and
 * restores the part again. Keys with a TTL are not held, and a held key that got one since (an open case closed) is
 * dropped from the comparison: volatile-lru may evict those (README, Redis memory), and an eviction is not a wipe. A key
 * the system itself removed (an account removed, a shadow run stopped, the queue emptied) costs one extra restore.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/logger.ts';
import { isCluster } from '../core/redis.ts';

export interface ViewPart {
  /** 'accounts', 'cases', 'shadow', 'audit'. */
  name: string;
  /**
   * Writes the part's record back into Redis (never over what Redis holds); returns how many items came back, and
   * optionally the keys the view holds from the record (those without a TTL are checked for a partial loss).
   */
  restore(): Promise<number | Restored>;
}

export interface Restored {
  restored: number;
  /** Keys the record puts in the view (written now or there already); those there without a TTL at the seal are checked. */
  keys: readonly string[];
}

/** What a sealed round recorded in its marker. */
interface MarkerValue {
  at: number;
  restored: number;
  /** The round's token: a process reads the holds list again when it changes. */
  round?: string;
  /** How many keys the holds list names (absent: a round without one, nothing to compare). */
  holds?: number;
}

export const viewMarkerKey = (prefix: string, part: string): string => `${prefix}view:${part}`;
/** The round's token, hash-tagged with the marker's name: one slot on Redis Cluster (the seal script reads both). */
export const viewTokenKey = (prefix: string, part: string): string => `${viewMarkerKey(prefix, part)}:round{${viewMarkerKey(prefix, part)}}`;
/** What the view held from the record when the marker was sealed (a JSON list of keys), in the marker's slot. */
export const viewHoldsKey = (prefix: string, part: string): string => `${viewMarkerKey(prefix, part)}:holds{${viewMarkerKey(prefix, part)}}`;
/** A restore round that has not sealed after this long is abandoned (its token lapses). */
const ROUND_TTL_SECONDS = 600;
/** How long a process waits for another's round of the same part before it takes the round over (that one died). */
export const OTHER_ROUND_WAIT_MS = 30_000;

// KEYS: token, marker, holds. ARGV: token, marker value, holds JSON ('': none).
const SEAL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[3] == '' then redis.call('DEL', KEYS[3]) else redis.call('SET', KEYS[3], ARGV[3]) end
redis.call('DEL', KEYS[1])
return 1`;

// KEYS: marker. ARGV: the marker value the check compared against. Drops it only if no other round sealed since.
const DROP_IF = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

// KEYS: keys. Per key: 0 gone, 1 there without a TTL, 2 there with one (one digit each).
const STATES = `
local out = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('PTTL', k)
  out[i] = t == -2 and '0' or (t == -1 and '1' or '2')
end
return table.concat(out)`;

/** Each key's state (0 gone, 1 there without a TTL, 2 with one): a script per 1,000 keys, PTTL per key pipelined on a cluster. */
async function keyStates(redis: Redis, keys: readonly string[]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < keys.length; i += 1_000) {
    const chunk = keys.slice(i, i + 1_000);
    if (!isCluster(redis)) {
      out.push(...String(await redis.eval(STATES, chunk.length, ...chunk)).split('').map(Number));
      continue;
    }
    const p = redis.pipeline();
    for (const k of chunk) p.pttl(k);
    for (const [err, v] of (await p.exec()) ?? []) {
      if (err) throw err;
      const t = Number(v);
      out.push(t === -2 ? 0 : t === -1 ? 1 : 2);
    }
  }
  return out;
}

const parseMarker = (raw: string): MarkerValue | undefined => {
  try {
    const v = JSON.parse(raw) as MarkerValue;
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
};

const parseHolds = (raw: string | null): string[] | undefined => {
  if (raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return Array.isArray(v) ? v.filter((k): k is string => typeof k === 'string') : undefined;
  } catch {
    return undefined;
  }
};

export type ViewState = 'ready' | 'restoring' | 'failed';

export interface PartStatus {
  state: ViewState;
  /** Items written back by the last restore of this process (undefined: none yet). */
  restored?: number;
  restoredAt?: number;
  error?: string;
}

export interface ViewStatus {
  /** 'restoring' while any part is being restored; 'failed' when a restore failed and is being retried. */
  state: ViewState;
  parts: Record<string, PartStatus>;
}

export class ViewKeeper {
  private readonly status_ = new Map<string, PartStatus>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly checkedAt = new Map<string, number>();
  /** Per part, the holds list of the round this process last compared against (undefined list: it was gone). */
  private readonly holds = new Map<string, { round: string; list: string[] | undefined }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly parts: readonly ViewPart[],
    private readonly log: Logger,
    /** ready() trusts a marker seen this recently without asking Redis again. */
    private readonly freshMs = 250,
  ) {
    for (const p of parts) this.status_.set(p.name, { state: 'restoring' });
  }

  status(): ViewStatus {
    const parts = Object.fromEntries(this.status_);
    const states = [...this.status_.values()].map((s) => s.state);
    const state: ViewState = states.includes('restoring') ? 'restoring' : states.includes('failed') ? 'failed' : 'ready';
    return { state, parts };
  }

  /** Resolves once the named parts (default all) are in Redis, restoring the ones whose marker is gone. */
  async ready(...names: string[]): Promise<void> {
    const wanted = names.length ? this.parts.filter((p) => names.includes(p.name)) : this.parts;
    await Promise.all(wanted.map((p) => this.ensure(p)));
  }

  /** Checks every part every intervalMs (a wipe, whole or partial, is noticed even by a process that is idle). */
  start(intervalMs = 2_000): void {
    let busy = false;
    this.timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.check()
        .catch(() => undefined)
        .finally(() => (busy = false));
    }, intervalMs);
    this.timer.unref();
  }

  /** Compares every part with what its last round recorded, restoring the ones Redis lost, wholly or in part. */
  async check(): Promise<void> {
    await Promise.all(this.parts.map((p) => this.verify(p)));
  }

  private async verify(part: ViewPart): Promise<void> {
    const running = this.inFlight.get(part.name);
    if (running) return running;
    const markerKey = viewMarkerKey(this.prefix, part.name);
    const raw = await this.redis.get(markerKey);
    const marker = raw === null ? undefined : parseMarker(raw);
    if (raw !== null && marker?.round !== undefined && marker.holds !== undefined && marker.holds > 0) {
      const holdsKey = viewHoldsKey(this.prefix, part.name);
      let known = this.holds.get(part.name);
      if (known?.round !== marker.round) {
        known = { round: marker.round, list: parseHolds(await this.redis.get(holdsKey)) };
        this.holds.set(part.name, known);
      }
      const list = known.list ?? [];
      const states = known.list ? await keyStates(this.redis, [holdsKey, ...list]) : [0];
      // A held key that has a TTL now (an open case closed since) may be evicted: no longer compared.
      if (known.list && states.includes(2)) known.list = list.filter((_, i) => states[i + 1] !== 2);
      const missing = states.filter((x) => x === 0).length;
      if (missing === 0) return this.seen(part.name);
      this.log.warn({ part: part.name, missing, held: list.length }, `${part.name}: Redis lost part of the view (${missing} of ${list.length + 1} keys gone); restoring it again from the record`);
      await this.redis.eval(DROP_IF, 1, markerKey, raw);
    } else if (raw !== null) return this.seen(part.name);
    this.checkedAt.delete(part.name);
    return this.ensure(part);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The part's marker is there (and what it held is): ready. */
  private seen(name: string): void {
    this.checkedAt.set(name, Date.now());
    const s = this.status_.get(name);
    if (s?.state !== 'ready') this.status_.set(name, { ...s, state: 'ready' });
  }

  private async ensure(part: ViewPart): Promise<void> {
    const running = this.inFlight.get(part.name);
    if (running) return running;
    const seen = this.checkedAt.get(part.name);
    if (seen !== undefined && Date.now() - seen < this.freshMs) return;
    if ((await this.redis.exists(viewMarkerKey(this.prefix, part.name))) === 1) return this.seen(part.name);
    this.checkedAt.delete(part.name);
    const round = this.inFlight.get(part.name) ?? this.restore(part).finally(() => this.inFlight.delete(part.name));
    this.inFlight.set(part.name, round);
    return round;
  }

  private async restore(part: ViewPart): Promise<void> {
    const before = this.status_.get(part.name) ?? { state: 'restoring' as const };
    this.status_.set(part.name, { ...before, state: 'restoring' });
    const started = Date.now();
    try {
      for (let attempt = 1; ; attempt++) {
        const token = randomUUID();
        const tokenKey = viewTokenKey(this.prefix, part.name);
        if ((await this.redis.set(tokenKey, token, 'EX', ROUND_TTL_SECONDS, 'NX')) !== 'OK') {
          if (await this.otherRoundSealed(part.name)) {
            this.status_.set(part.name, { state: 'ready', restored: 0, restoredAt: Date.now() });
            this.checkedAt.set(part.name, Date.now());
            this.log.info({ part: part.name, ms: Date.now() - started }, `${part.name}: restored by another process`);
            return;
          }
          // Its round ended unsealed (a wipe took its token: ours now) or outlived the wait (it died): take over.
          await this.redis.set(tokenKey, token, 'EX', ROUND_TTL_SECONDS);
        }
        const result = await part.restore();
        const restored = typeof result === 'number' ? result : result.restored;
        const keys = typeof result === 'number' ? undefined : [...new Set(result.keys)];
        const holds = keys && (await keyStates(this.redis, keys).then((states) => keys.filter((_, i) => states[i] === 1)));
        const marker: MarkerValue = { at: Date.now(), restored, round: token, ...(holds ? { holds: holds.length } : {}) };
        const sealed = await this.redis.eval(SEAL, 3, tokenKey, viewMarkerKey(this.prefix, part.name), viewHoldsKey(this.prefix, part.name), token, JSON.stringify(marker), holds?.length ? JSON.stringify(holds) : '');
        if (sealed === 1 && holds) this.holds.set(part.name, { round: token, list: holds });
        // Not sealed: wiped during the round, or another process's round took over (its token replaced ours).
        if (sealed === 1 || (await this.redis.exists(viewMarkerKey(this.prefix, part.name))) === 1) {
          this.status_.set(part.name, { state: 'ready', restored, restoredAt: Date.now() });
          this.checkedAt.set(part.name, Date.now());
          const fields = { part: part.name, restored, ms: Date.now() - started };
          if (restored > 0) this.log.warn(fields, `${part.name}: Redis had lost its view; restored ${restored} from the record`);
          else this.log.info(fields, `${part.name}: view marked (nothing recorded to restore)`);
          return;
        }
        if (attempt >= 5) throw new Error(`${part.name}: Redis lost the view ${attempt} times while it was being restored`);
      }
    } catch (err) {
      this.status_.set(part.name, { ...before, state: 'failed', error: (err as Error).message });
      this.log.error({ part: part.name, err: (err as Error).message }, `${part.name}: could not restore the view from the record; retrying`);
      throw err;
    }
  }

  /** Waits while another process's round of `part` runs: true once its marker is sealed, false when the round's token is gone or the wait is over. */
  private async otherRoundSealed(part: string): Promise<boolean> {
    const deadline = Date.now() + OTHER_ROUND_WAIT_MS;
    while (Date.now() < deadline) {
      if ((await this.redis.exists(viewMarkerKey(this.prefix, part))) === 1) return true;
      if ((await this.redis.exists(viewTokenKey(this.prefix, part))) === 0) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }
}
