/**
 * Outcomes: what makes at-least-once delivery decide each key once. Key family `<prefix>outcome:<stage>:<key>`,
 * value "partition:offset|contentHash" (about 100 bytes a key with its name), TTL = the dedupe window (24 h).
 *
 * A key is claimed before its message is decided, in one Lua call for the whole batch: SET NX, or answer what
 * holds it. The holder tells the runner what to do:
 * - nobody: decide it;
 * - this very message (same source): an earlier attempt claimed it and never committed (a crash, a fenced or
 *   aborted transaction, or our own claim whose reply was lost and resent by ioredis): decide it again. The
 *   feature store is idempotent per tx id, so the vector, and the decision, are the same. Unless the claim is marked
 *   committed (value prefixed `=`: read back from the record after a Redis loss, or marked after its batch
 *   committed): then the message is a redelivery of one already decided, a duplicate;
 * - another message with the same content: an identical duplicate; with other content: a conflicting one.
 * Messages below the partition's committed offset never get here (router/runner/producers.ts), so "same source" never
 * means "published already", as long as that offset was read stable; the committed mark covers a read that was not.
 *
 * Kafka is the record, these keys a view of it (issue 18). Every output of a decided message carries its claim in a
 * header (CLAIM_HEADER: stage, key, source, hash), and `<prefix>outcome-view:<stage>` (no TTL) says the view is whole;
 * its value is a random generation. The claim script answers nothing while that marker is missing (a FLUSHALL, a
 * redis-server restarted without persistence, a first start): the store then rebuilds the claims from the stage's
 * output topics over the dedupe window (the runner passes the reader, router/runner/claims-restore.ts) and sets a new
 * marker before any key is claimed again. A batch claimed under one generation commits only if that generation still
 * holds after its outputs were sent (`confirm`): a wipe between claim and commit aborts it and the batch is claimed
 * again once the view is rebuilt, so no decision sent before a wipe is missed by the rebuild that follows it (the
 * reader waits until every transaction open when it started has ended, read_committed).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { deleteKeys, isCluster } from '../core/redis.ts';

/** TTL: the stage's dedupe window (config), passed to OutcomeStore by the runner. */
export const outcomeKeyPrefix = (prefix: string, stage: string): string => `${prefix}outcome:${stage}:`;
/** The marker that the stage's claims are whole in Redis (no TTL; one key per stage). */
export const outcomeViewKey = (prefix: string, stage: string): string => `${prefix}outcome-view:${stage}`;
/**
 * Set while a rebuild runs (TTL 1 h): a wipe during a rebuild removes it, so that rebuild cannot declare the view whole.
 * Hash-tagged with the marker's name, so both share a slot on Redis Cluster (the seal script reads both).
 */
export const outcomeRebuildKey = (prefix: string, stage: string): string => `${outcomeViewKey(prefix, stage)}:rebuilding{${outcomeViewKey(prefix, stage)}}`;

/** The Kafka header every output of a decided message carries: what the claim of its input was. */
export const CLAIM_HEADER = 'fraudstream-claim';

export interface ClaimRecord extends OutcomeMarker {
  stage: string;
  key: string;
}

export function encodeClaimHeader(c: ClaimRecord): string {
  return JSON.stringify([c.stage, c.key, c.source, c.hash]);
}

/** The claim in a header, or undefined when the header is not one (absent, or written by something else). */
export function decodeClaimHeader(raw: Buffer | string | undefined): ClaimRecord | undefined {
  if (raw === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(raw.toString());
    if (!Array.isArray(v) || v.length !== 4 || !v.every((x) => typeof x === 'string')) return undefined;
    const [stage, key, source, hash] = v as [string, string, string, string];
    return { stage, key, source, hash };
  } catch {
    return undefined;
  }
}

/** A claim read back from the record, with the time its output was written (epoch ms). */
export interface RestoredClaim extends ClaimRecord {
  at: number;
}

/**
 * Reads the stage's claims written since `sinceMs` from its output topics, handing them over in batches. Resolves
 * once every transaction open when it started has ended (so nothing sent before the call is missed).
 */
export type ClaimReader = (sinceMs: number, write: (claims: RestoredClaim[]) => Promise<void>) => Promise<{ read: number }>;

/** The claims' view in Redis was lost during a batch (between its claim and its commit): retry the batch. */
export class OutcomeViewLostError extends Error {
  readonly retryable = true;
  constructor(stage: string) {
    super(`stage ${stage}: the dedupe claims in Redis were lost during this batch (Redis wiped or restarted); it is claimed again once they are rebuilt`);
    this.name = 'OutcomeViewLostError';
  }
}

export interface OutcomeMarker {
  source: string;
  hash: string;
  /**
   * The claim's outputs are known committed (a claim read back from the record, or marked after its batch committed):
   * the same source coming again is a redelivery of a decided message, never "an attempt that did not commit".
   */
  committed?: boolean;
}

/** A committed claim's value starts with this (the source, a "partition:offset", never does). */
const COMMITTED = '=';

export function encodeMarker(o: OutcomeMarker): string {
  return `${o.committed ? COMMITTED : ''}${o.source}|${o.hash}`;
}

export function decodeMarker(raw: string): OutcomeMarker {
  const committed = raw.startsWith(COMMITTED);
  const s = committed ? raw.slice(COMMITTED.length) : raw;
  const bar = s.lastIndexOf('|');
  const m = bar < 0 ? { source: s, hash: '' } : { source: s.slice(0, bar), hash: s.slice(bar + 1) };
  return committed ? { ...m, committed: true } : m;
}

// KEYS[1]: the view marker, then the claim keys. ARGV: ttl, then one marker per claim key. Answers {0} when the view
// is missing (nothing claimed), else {generation, reply per key}.
const CLAIM_LUA = `
local gen = redis.call('GET', KEYS[1])
if not gen then return {0} end
local ttl = ARGV[1]
local out = {gen}
for i = 2, #KEYS do
  local k = KEYS[i]
  if redis.call('SET', k, ARGV[i], 'EX', ttl, 'NX') then
    out[i] = 1
  else
    out[i] = redis.call('GET', k) or 0
  end
end
return out
`;

// KEYS: claim keys. ARGV: per key its marker then its remaining TTL in seconds. Never overwrites a live claim.
const RESTORE_LUA = `
for i, k in ipairs(KEYS) do
  redis.call('SET', k, ARGV[2 * i - 1], 'EX', ARGV[2 * i], 'NX')
end
return #KEYS
`;

// KEYS: view marker, rebuild token key. ARGV: our token, new generation. The view is declared whole only if our
// rebuild's token survived it (no wipe meanwhile); answers 1 when the marker is there now.
const SEAL_LUA = `
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'NX')
  redis.call('DEL', KEYS[2])
end
return redis.call('EXISTS', KEYS[1])
`;

// KEYS: claim keys. ARGV: per key the marker it was claimed with. A claim still holding that marker is marked committed
// (same TTL left: KEEPTTL); one held by another marker (released and claimed again, expired) is left alone.
const COMMIT_LUA = `
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[i] then redis.call('SET', k, '${COMMITTED}' .. ARGV[i], 'KEEPTTL') end
end
return #KEYS
`;

// Redis Cluster: the claim of one key (its own slot); KEYS[1] = claim key, ARGV = ttl, marker. Answers 1 or the holder.
const CLAIM_ONE_LUA = `
if redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[1], 'NX') then return 1 end
return redis.call('GET', KEYS[1]) or 0
`;

const CLAIM = 'fraudstreamClaimOutcomeV3';
const CLAIM_ONE = 'fraudstreamClaimOutcomeOneV1';
const RESTORE = 'fraudstreamRestoreOutcomeV1';
const COMMIT = 'fraudstreamCommitOutcomeV2';

/** Claimed for this message (new, or held by this very message already), or held by another message. */
export type Claim = { mine: true; again: boolean } | { mine: false; holder: OutcomeMarker };
/** A batch's claims, with the view generation they were made in (see `confirm`). */
export type Claims = Claim[] & { view?: string };

export interface OutcomeStoreOptions {
  /** Where the claims are rebuilt from when the view is missing; without one the view is simply declared whole. */
  reader?: ClaimReader;
  /** Told when a rebuild starts and ends (for a log line). */
  onRestore?: (e: { phase: 'start' } | { phase: 'done'; read: number; restored: number; ms: number }) => void;
  now?: () => number;
}

export class OutcomeStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly viewKey: string;
  private readonly rebuildKey: string;
  private readonly ttlSeconds: number;
  private restoring: Promise<void> | undefined;
  /**
   * Redis Cluster: each claim key is its own slot, so the view marker cannot be read in the claims' script. There the
   * marker is read first and the claims follow in one pipeline (one script call per key): a wipe of the marker's
   * node between the two is still caught by `confirm` (the batch aborts and is claimed again after the rebuild).
   */
  private readonly sharded: boolean;
  /** How many rebuilds this store ran (a test and a log line read it). */
  restores = 0;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly stage: string,
    ttlSeconds: number,
    private readonly o: OutcomeStoreOptions = {},
  ) {
    this.redis = redis;
    this.prefix = outcomeKeyPrefix(prefix, stage);
    this.viewKey = outcomeViewKey(prefix, stage);
    this.rebuildKey = outcomeRebuildKey(prefix, stage);
    this.ttlSeconds = ttlSeconds;
    if (!(CLAIM in redis)) redis.defineCommand(CLAIM, { lua: CLAIM_LUA });
    if (!(RESTORE in redis)) redis.defineCommand(RESTORE, { lua: RESTORE_LUA });
    if (!(CLAIM_ONE in redis)) redis.defineCommand(CLAIM_ONE, { lua: CLAIM_ONE_LUA });
    if (!(COMMIT in redis)) redis.defineCommand(COMMIT, { lua: COMMIT_LUA });
    this.sharded = isCluster(redis);
  }

  key(k: string): string {
    return this.prefix + k;
  }

  private command(name: string): (...a: unknown[]) => Promise<Array<number | string> | number> {
    return (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<Array<number | string> | number>>)[name]!;
  }

  async claim(items: Array<{ key: string } & OutcomeMarker>): Promise<Claims> {
    if (items.length === 0) return [];
    const keys = items.map((i) => this.key(i.key));
    let replies: Array<number | string>;
    for (let attempt = 1; ; attempt++) {
      replies = this.sharded
        ? await this.claimSharded(keys, items)
        : ((await this.command(CLAIM).call(this.redis, keys.length + 1, this.viewKey, ...keys, this.ttlSeconds, ...items.map(encodeMarker))) as Array<number | string>);
      if (replies[0] !== 0) break;
      if (attempt >= 3) throw new OutcomeViewLostError(this.stage);
      await this.ensureView();
    }
    const view = String(replies[0]);
    const claims: Claims = replies.slice(1).map((r, i): Claim => {
      if (r === 1) return { mine: true, again: false };
      // A key that expired between SET and GET is not held by anyone: the next attempt claims it.
      if (typeof r !== 'string') throw new Error(`outcome claim of ${items[i]!.key} answered neither OK nor a holder`);
      const holder = decodeMarker(r);
      // Same source, not known committed: an earlier attempt of this very message; committed: a redelivery (a stale
      // offset after a rebalance) of a message whose decision is published already.
      return holder.source === items[i]!.source && !holder.committed ? { mine: true, again: true } : { mine: false, holder };
    });
    claims.view = view;
    return claims;
  }

  /** The claim script's answer, on Redis Cluster: {0} without a marker, else {generation, reply per key}. */
  private async claimSharded(keys: string[], items: OutcomeMarker[]): Promise<Array<number | string>> {
    const gen = await this.redis.get(this.viewKey);
    if (gen === null) return [0];
    const p = this.redis.pipeline() as unknown as Record<string, (...a: unknown[]) => unknown> & { exec(): Promise<Array<[Error | null, unknown]> | null> };
    keys.forEach((k, i) => p[CLAIM_ONE]!(1, k, this.ttlSeconds, encodeMarker(items[i]!)));
    const replies = (await p.exec()) ?? [];
    return [gen, ...replies.map(([err, r]) => {
      if (err) throw err;
      return r as number | string;
    })];
  }

  /** Throws OutcomeViewLostError unless the view is still the generation `view` (call it after sending, before commit). */
  async confirm(view: string): Promise<void> {
    if ((await this.redis.get(this.viewKey)) !== view) throw new OutcomeViewLostError(this.stage);
  }

  /** Rebuilds the claims from the record when the view marker is missing; one rebuild at a time per store. */
  ensureView(): Promise<void> {
    this.restoring ??= this.rebuild().finally(() => (this.restoring = undefined));
    return this.restoring;
  }

  private async rebuild(): Promise<void> {
    for (let attempt = 1; (await this.redis.exists(this.viewKey)) === 0; attempt++) {
      if (attempt > 3) throw new OutcomeViewLostError(this.stage);
      const started = Date.now();
      // One token per rebuild round, shared by every process that joins it: whichever finishes first seals the view,
      // provided no wipe removed the token since the round began (then a new round starts with a new token).
      await this.redis.set(this.rebuildKey, randomUUID(), 'EX', 3600, 'NX');
      const token = await this.redis.get(this.rebuildKey);
      if (token === null) continue;
      this.o.onRestore?.({ phase: 'start' });
      let restored = 0;
      const { read } = this.o.reader ? await this.o.reader(this.now() - this.ttlSeconds * 1000, async (claims) => void (restored += await this.restore(claims))) : { read: 0 };
      await this.redis.eval(SEAL_LUA, 2, this.viewKey, this.rebuildKey, token, randomUUID());
      this.restores += 1;
      this.o.onRestore?.({ phase: 'done', read, restored, ms: Date.now() - started });
    }
  }

  /** Writes claims read back from the record (never over a live one), each with what is left of its window. */
  async restore(claims: RestoredClaim[]): Promise<number> {
    const now = this.now();
    const live = claims.filter((c) => c.stage === this.stage && now - c.at < this.ttlSeconds * 1000);
    for (let i = 0; i < live.length; i += 500) {
      const part = live.slice(i, i + 500);
      // Read back from committed outputs: committed by definition.
      const args = part.flatMap((c) => [encodeMarker({ source: c.source, hash: c.hash, committed: true }), String(Math.max(1, Math.ceil(this.ttlSeconds - (now - c.at) / 1000)))]);
      if (this.sharded) {
        const p = this.redis.pipeline() as unknown as Record<string, (...a: unknown[]) => unknown> & { exec(): Promise<Array<[Error | null, unknown]> | null> };
        part.forEach((c, j) => p[RESTORE]!(1, this.key(c.key), args[2 * j], args[2 * j + 1]));
        for (const [err] of (await p.exec()) ?? []) if (err) throw err;
      } else await this.command(RESTORE).call(this.redis, part.length, ...part.map((c) => this.key(c.key)), ...args);
    }
    return live.length;
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /**
   * Marks claims whose batch committed (called after the commit, off the critical path): from then on the same message
   * delivered again is a duplicate even if its partition's committed offset was read stale. Until then, and if this
   * write is lost, the runner's committed-offset check is the guard it was before.
   */
  async markCommitted(items: Array<{ key: string } & OutcomeMarker>): Promise<void> {
    for (let i = 0; i < items.length; i += 500) {
      const part = items.slice(i, i + 500);
      if (this.sharded) {
        const p = this.redis.pipeline() as unknown as Record<string, (...a: unknown[]) => unknown> & { exec(): Promise<Array<[Error | null, unknown]> | null> };
        for (const it of part) p[COMMIT]!(1, this.key(it.key), encodeMarker({ source: it.source, hash: it.hash }));
        for (const [err] of (await p.exec()) ?? []) if (err) throw err;
      } else await this.command(COMMIT).call(this.redis, part.length, ...part.map((it) => this.key(it.key)), ...part.map((it) => encodeMarker({ source: it.source, hash: it.hash })));
    }
  }

  /** Gives keys back (their messages were dead-lettered by the stage logic: a later copy may be decided). */
  async release(keys: string[]): Promise<void> {
    if (keys.length) await deleteKeys(this.redis, keys.map((k) => this.key(k)));
  }
}
