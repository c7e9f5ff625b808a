/**
 * Outcomes: what makes at-least-once delivery decide each key once. Key family `<prefix>outcome:<stage>:<key>`,
 * value "partition:offset|contentHash" (about 100 bytes a key with its name), kept for the dedupe window (24 h).
 *
 * A claim has no TTL, so Redis' `volatile-lru` (infra/redis-local.ts) never evicts it: an evicted claim would let a
 * producer's resend within the window be decided twice. It expires by the sweep instead: each new claim's key (its tx
 * id) is also added, in the same script, to a set of its time bucket `<prefix>outcome-expiry:<stage>:<bucket>:<shard>`
 * (bucket = claim time / bucketSeconds, 1 min for a 24 h window; shard = from a hash of the key, one of 32 of unequal
 * shares, see outcomeShard; no TTL), and the bucket to the stage's index `<prefix>outcome-expiry:<stage>:buckets`. `sweep()` (every runner member, once a minute, one at a time per stage
 * through a short lock) deletes the claims of every bucket that ended a window ago, in chunks, then the bucket: a
 * claim lives between the window and the window plus one bucket (about 210 bytes a claim with its bucket entry). What
 * bounds the family is the window times the decision rate, not maxmemory: Redis must have room for a window of claims
 * (README "Redis memory"); when it has not, writes are refused (OOM) and batches retry, none is decided twice.
 * Only a claim made by this script (SET NX won) enters a bucket, so a key sits in the bucket of its claim time; a
 * released key leaves every bucket before it is deleted (a later copy claims it afresh, in its own bucket), and the
 * sweep deletes a key only while it is still in the bucket swept.
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
import { deleteKeys, isCluster, waitForReplicas } from '../core/redis.ts';

/** No TTL: kept for the stage's dedupe window (config, passed to OutcomeStore by the runner), deleted by the sweep. */
export const outcomeKeyPrefix = (prefix: string, stage: string): string => `${prefix}outcome:${stage}:`;
/**
 * One shard of a time bucket of the stage's claims: the tx ids claimed in it whose hash falls in the shard (a set, no
 * TTL; deleted by the sweep with its claims). Without a shard: the one set a bucket had before buckets were sharded
 * (still swept and released from, for claims made before the upgrade).
 */
export const outcomeExpiryKey = (prefix: string, stage: string, bucket: number, shard?: number): string =>
  shard === undefined ? `${prefix}outcome-expiry:${stage}:${bucket}` : `${prefix}outcome-expiry:${stage}:${bucket}:${shard}`;
/**
 * Sets per time bucket. A minute of claims at 20,000 decisions a second is 1.2 million ids: in one set, its hash table
 * doubling allocated 16 MB at once and took a 256 MB Redis 7.7 MiB past maxmemory (Redis checks the limit before a
 * command, not within an allocation). Split evenly in 32 sets it was still 3.1 MiB: equal sets reach a power of two
 * together, so one claim script doubled many of them. So the shards are uneven (see outcomeShard): their doublings
 * come one at a time, each at most about 1 MB at that rate.
 */
export const OUTCOME_BUCKET_SHARDS = 32;
/**
 * The bucket shard a claim key (tx id) goes to. u = FNV-1a of its UTF-16 code units / 2^32 (uniform in [0, 1)), shard
 * = floor(S log2(1 + u)): shard i gets a share proportional to 2^(i/S), so as a bucket fills, shard i crosses each power
 * of two when the bucket's size is 2^(i/S) times that of shard 0's crossing: the S doublings are spread evenly over
 * every doubling of the bucket (1/32 of it apart, ~2%) instead of landing together.
 */
export function outcomeShard(key: string): number {
  const u = outcomeKeyHash(key) / 2 ** 32;
  return Math.min(OUTCOME_BUCKET_SHARDS - 1, Math.floor(OUTCOME_BUCKET_SHARDS * Math.log2(1 + u)));
}
/** FNV-1a (32 bit, unsigned) of a claim key's UTF-16 code units: what outcomeShard spreads over the shards. */
export function outcomeKeyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
/** The stage's buckets not swept yet (a set of bucket ids, no TTL; one entry per bucket: about 1,440 for 24 h). */
export const outcomeExpiryIndexKey = (prefix: string, stage: string): string => `${prefix}outcome-expiry:${stage}:buckets`;
/** Held (TTL 2 min) by the member sweeping the stage's expired buckets, so the members take turns. */
export const outcomeSweepLockKey = (prefix: string, stage: string): string => `${prefix}outcome-expiry:${stage}:sweeping`;
/**
 * The bucket span for a dedupe window: a 24th of it, at most a minute (a claim outlives its window by less). Short, so
 * that one bucket's set stays small: when a set's hash table doubles, Redis allocates the new table at once (8 bytes a
 * slot), past maxmemory if need be; 10-minute buckets took a 64 MB Redis 3.3 MB over under 2,000 claims a second.
 */
export const outcomeBucketSeconds = (windowSeconds: number): number => Math.max(1, Math.min(60, Math.ceil(windowSeconds / 24)));
/**
 * Redis Cluster: how long a batch's claims wait for a replica of each master they were written to (WAIT) before the
 * batch is decided anyway. On loopback a replica answers in well under a millisecond; one that misses it is not waited
 * on for REPLICA_SKIP_MS (core/redis.ts waitForReplicas), so a dead replica costs one timeout, not one per batch.
 */
export const REPLICA_WAIT_MS = 500;
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

// KEYS[1]: the view marker, KEYS[2]: the expiry index, KEYS[3..3+S-1]: the S shards of the claim time's bucket, then
// the claim keys. ARGV: the bucket id, the length of the claim keys' prefix, S, then per claim key its marker and its
// shard (0-based). Answers {0} when the view is missing (nothing claimed), else {generation, reply per key}. A key it
// claims goes into its shard of the bucket (no TTL anywhere).
const CLAIM_LUA = `
local gen = redis.call('GET', KEYS[1])
if not gen then return {0} end
local from = tonumber(ARGV[2]) + 1
local first = 3 + tonumber(ARGV[3])
local out = {gen}
local added = 0
for i = first, #KEYS do
  local j = i - first
  local k = KEYS[i]
  if redis.call('SET', k, ARGV[4 + 2 * j], 'NX') then
    out[j + 2] = 1
    redis.call('SADD', KEYS[3 + tonumber(ARGV[5 + 2 * j])], string.sub(k, from))
    added = added + 1
  else
    out[j + 2] = redis.call('GET', k) or 0
  end
end
if added > 0 then redis.call('SADD', KEYS[2], ARGV[1]) end
return out
`;

// KEYS[1]: the expiry index, KEYS[2]: the bucket shard of the claims' record time and keys, then claim keys. ARGV: the
// bucket id, the prefix length, then per key its marker. Never overwrites a live claim (which is in its own bucket already).
const RESTORE_LUA = `
local from = tonumber(ARGV[2]) + 1
local added = 0
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[i], 'NX') then
    redis.call('SADD', KEYS[2], string.sub(KEYS[i], from))
    added = added + 1
  end
end
if added > 0 then redis.call('SADD', KEYS[1], ARGV[1]) end
return added
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
// (whatever TTL it had kept: none, or what is left of one written before claims lost their TTL); one held by another
// marker (released and claimed again, swept) is left alone.
const COMMIT_LUA = `
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[i] then redis.call('SET', k, '${COMMITTED}' .. ARGV[i], 'KEEPTTL') end
end
return #KEYS
`;

// Redis Cluster: the claim of one key (its own slot); KEYS[1] = claim key, ARGV = marker. Answers 1 or the holder. Its
// bucket entry is a command of its own in the same pipeline (another slot).
const CLAIM_ONE_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 1 end
return redis.call('GET', KEYS[1]) or 0
`;

// Redis Cluster: a restored claim (its own slot), KEYS[1] = claim key, ARGV = marker; never over a live one.
const RESTORE_ONE_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 1 end
return 0
`;

// KEYS[1]: an expired bucket, then claim keys read from it. ARGV: per key its member (tx id). Deletes each claim still in
// the bucket (a released key left it: a later copy's claim belongs to a later bucket) and takes it out of the bucket.
// Only SREM and UNLINK: Redis runs them when it is out of memory (and full of claims, this is what frees it).
const SWEEP_LUA = `
local n = 0
for i = 2, #KEYS do
  if redis.call('SREM', KEYS[1], ARGV[i - 1]) == 1 then
    n = n + redis.call('UNLINK', KEYS[i])
  end
end
return n
`;

const CLAIM = 'fraudstreamClaimOutcomeV5';
const CLAIM_ONE = 'fraudstreamClaimOutcomeOneV2';
const RESTORE = 'fraudstreamRestoreOutcomeV2';
const RESTORE_ONE = 'fraudstreamRestoreOutcomeOneV1';
const COMMIT = 'fraudstreamCommitOutcomeV2';
const SWEEP = 'fraudstreamSweepOutcomeV1';

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
  /** The span of one expiry bucket in seconds (default: outcomeBucketSeconds of the window). */
  bucketSeconds?: number;
  /** Redis Cluster: how long a batch's claims wait for a replica's acknowledgement (default REPLICA_WAIT_MS). */
  replicaWaitMs?: number;
}

type Pipe = Record<string, (...a: unknown[]) => unknown> & { exec(): Promise<Array<[Error | null, unknown]> | null> };

/** What a sweep did (a test and a log line read it). */
export interface SweepResult {
  /** Expired buckets emptied and dropped from the index. */
  buckets: number;
  /** Claims deleted. */
  deleted: number;
  /** False when another member held the sweep lock (nothing done). */
  ran: boolean;
}

export class OutcomeStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly rootPrefix: string;
  private readonly viewKey: string;
  private readonly rebuildKey: string;
  private readonly indexKey: string;
  private readonly ttlSeconds: number;
  /** The span of one expiry bucket (outcomeBucketSeconds of the window unless given). */
  readonly bucketSeconds: number;
  private restoring: Promise<void> | undefined;
  /**
   * Redis Cluster: each claim key is its own slot, so the view marker cannot be read in the claims' script. There the
   * marker is read first and the claims follow in one pipeline (one script call per key): a wipe of the marker's
   * node between the two is still caught by `confirm` (the batch aborts and is claimed again after the rebuild).
   */
  private readonly sharded: boolean;
  /** How many rebuilds this store ran (a test and a log line read it). */
  restores = 0;
  /** Redis Cluster: masters whose replica did not acknowledge a batch's claims within REPLICA_WAIT_MS (the batch went on). */
  replicaWaitsShort = 0;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly stage: string,
    ttlSeconds: number,
    private readonly o: OutcomeStoreOptions = {},
  ) {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error(`outcome store ${stage}: the dedupe window must be a whole number of seconds >= 1, got ${ttlSeconds}`);
    if (o.bucketSeconds !== undefined && (!Number.isInteger(o.bucketSeconds) || o.bucketSeconds < 1)) {
      throw new Error(`outcome store ${stage}: bucketSeconds must be a whole number of seconds >= 1, got ${o.bucketSeconds}`);
    }
    this.redis = redis;
    this.rootPrefix = prefix;
    this.prefix = outcomeKeyPrefix(prefix, stage);
    this.viewKey = outcomeViewKey(prefix, stage);
    this.rebuildKey = outcomeRebuildKey(prefix, stage);
    this.indexKey = outcomeExpiryIndexKey(prefix, stage);
    this.ttlSeconds = ttlSeconds;
    this.bucketSeconds = o.bucketSeconds ?? outcomeBucketSeconds(ttlSeconds);
    if (!(CLAIM in redis)) redis.defineCommand(CLAIM, { lua: CLAIM_LUA });
    if (!(RESTORE in redis)) redis.defineCommand(RESTORE, { lua: RESTORE_LUA });
    if (!(CLAIM_ONE in redis)) redis.defineCommand(CLAIM_ONE, { lua: CLAIM_ONE_LUA });
    if (!(RESTORE_ONE in redis)) redis.defineCommand(RESTORE_ONE, { lua: RESTORE_ONE_LUA });
    if (!(COMMIT in redis)) redis.defineCommand(COMMIT, { lua: COMMIT_LUA });
    if (!(SWEEP in redis)) redis.defineCommand(SWEEP, { lua: SWEEP_LUA });
    this.sharded = isCluster(redis);
  }

  key(k: string): string {
    return this.prefix + k;
  }

  /** The bucket a claim made (or written by its decision) at `ms` belongs to. */
  bucketOf(ms: number): number {
    return Math.floor(ms / 1000 / this.bucketSeconds);
  }

  /** The set of the claims of bucket `bucket` in shard `shard` (without one: the set of a bucket before sharding). */
  bucketKey(bucket: number, shard?: number): string {
    return outcomeExpiryKey(this.rootPrefix, this.stage, bucket, shard);
  }

  /** Every set bucket `bucket` may have: its shards, and the single set of before sharding. */
  bucketKeys(bucket: number): string[] {
    return [this.bucketKey(bucket), ...Array.from({ length: OUTCOME_BUCKET_SHARDS }, (_, s) => this.bucketKey(bucket, s))];
  }

  /** The tx ids bucket `bucket` holds, over all its sets (tests and tools; one SMEMBERS per set). */
  async bucketMembers(bucket: number): Promise<string[]> {
    return (await Promise.all(this.bucketKeys(bucket).map((k) => this.redis.smembers(k)))).flat();
  }

  /** Members (tx ids) grouped by their bucket shard. */
  private static byShard<T>(items: T[], keyOf: (t: T) => string): Map<number, T[]> {
    const out = new Map<number, T[]>();
    for (const it of items) {
      const s = outcomeShard(keyOf(it));
      const list = out.get(s);
      if (list) list.push(it);
      else out.set(s, [it]);
    }
    return out;
  }

  private command(name: string): (...a: unknown[]) => Promise<Array<number | string> | number> {
    return (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<Array<number | string> | number>>)[name]!;
  }

  private pipeline(): Pipe {
    return this.redis.pipeline() as unknown as Pipe;
  }

  async claim(items: Array<{ key: string } & OutcomeMarker>): Promise<Claims> {
    if (items.length === 0) return [];
    const keys = items.map((i) => this.key(i.key));
    let replies: Array<number | string>;
    for (let attempt = 1; ; attempt++) {
      const bucket = this.bucketOf(this.now());
      replies = this.sharded ? await this.claimSharded(keys, items, bucket) : await this.claimOne(keys, items, bucket);
      if (replies[0] !== 0) break;
      if (attempt >= 3) throw new OutcomeViewLostError(this.stage);
      await this.ensureView();
    }
    const view = String(replies[0]);
    const claims: Claims = replies.slice(1).map((r, i): Claim => {
      if (r === 1) return { mine: true, again: false };
      // A key swept between SET and GET is not held by anyone: the next attempt claims it.
      if (typeof r !== 'string') throw new Error(`outcome claim of ${items[i]!.key} answered neither OK nor a holder`);
      const holder = decodeMarker(r);
      // Same source, not known committed: an earlier attempt of this very message; committed: a redelivery (a stale
      // offset after a rebalance) of a message whose decision is published already.
      return holder.source === items[i]!.source && !holder.committed ? { mine: true, again: true } : { mine: false, holder };
    });
    claims.view = view;
    return claims;
  }

  /**
   * The claim script's answer, on Redis Cluster: {0} without a marker, else {generation, reply per key}. The bucket
   * (another slot) is written in the same pipeline, for every key of the batch (whether it was won is not known yet):
   * a key held already, by an earlier attempt or another copy, then also sits in a later bucket than its claim's. Its
   * claim still goes with its first bucket; the later one only matters if the same tx id comes back after the window
   * and again before that later bucket's sweep (its new claim would be swept up to the gap between the two copies
   * early). If the bucket's write fails the call throws and the batch is claimed again (SADD is idempotent); if the
   * bucket's master dies before replicating it, those claims are never swept (about 100 bytes each, kept for good).
   */
  private async claimSharded(keys: string[], items: Array<{ key: string } & OutcomeMarker>, bucket: number): Promise<Array<number | string>> {
    const gen = await this.redis.get(this.viewKey);
    if (gen === null) return [0];
    const p = this.pipeline();
    keys.forEach((k, i) => p[CLAIM_ONE]!(1, k, encodeMarker(items[i]!)));
    const shards = OutcomeStore.byShard(items, (it) => it.key);
    for (const [s, part] of shards) p.sadd!(this.bucketKey(bucket, s), ...part.map((it) => it.key));
    p.sadd!(this.indexKey, String(bucket));
    const replies = (await p.exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    // A claim only a master held is lost with it (replication is asynchronous): wait for a replica before deciding.
    const w = await waitForReplicas(this.redis, keys, this.o.replicaWaitMs ?? REPLICA_WAIT_MS);
    this.replicaWaitsShort += w.masters - w.acknowledged;
    return [gen, ...replies.slice(0, keys.length).map(([, r]) => r as number | string)];
  }

  /** The claim script's answer on one Redis: the whole batch in one call (CLAIM_LUA). */
  private async claimOne(keys: string[], items: Array<{ key: string } & OutcomeMarker>, bucket: number): Promise<Array<number | string>> {
    const args: unknown[] = [keys.length + 2 + OUTCOME_BUCKET_SHARDS, this.viewKey, this.indexKey];
    for (let s = 0; s < OUTCOME_BUCKET_SHARDS; s++) args.push(this.bucketKey(bucket, s));
    for (const k of keys) args.push(k);
    args.push(bucket, this.prefix.length, OUTCOME_BUCKET_SHARDS);
    for (const it of items) args.push(encodeMarker(it), outcomeShard(it.key));
    return (await this.command(CLAIM).call(this.redis, ...args)) as Array<number | string>;
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

  /**
   * Writes claims read back from the record (never over a live one), each in the bucket of the time its output was
   * written, so it is swept a window after that (what was left of its window when Redis lost it).
   */
  async restore(claims: RestoredClaim[]): Promise<number> {
    const now = this.now();
    const live = claims.filter((c) => c.stage === this.stage && now - c.at < this.ttlSeconds * 1000);
    const byBucket = new Map<number, RestoredClaim[]>();
    for (const c of live) {
      const b = this.bucketOf(c.at);
      const list = byBucket.get(b);
      if (list) list.push(c);
      else byBucket.set(b, [c]);
    }
    for (const [bucket, inBucket] of byBucket) {
      for (const [shard, all] of OutcomeStore.byShard(inBucket, (c) => c.key)) {
        for (let i = 0; i < all.length; i += 500) {
          const part = all.slice(i, i + 500);
          // Read back from committed outputs: committed by definition.
          const markers = part.map((c) => encodeMarker({ source: c.source, hash: c.hash, committed: true }));
          if (this.sharded) {
            const p = this.pipeline();
            part.forEach((c, j) => p[RESTORE_ONE]!(1, this.key(c.key), markers[j]));
            p.sadd!(this.bucketKey(bucket, shard), ...part.map((c) => c.key));
            p.sadd!(this.indexKey, String(bucket));
            for (const [err] of (await p.exec()) ?? []) if (err) throw err;
          } else await this.command(RESTORE).call(this.redis, part.length + 2, this.indexKey, this.bucketKey(bucket, shard), ...part.map((c) => this.key(c.key)), bucket, this.prefix.length, ...markers);
        }
      }
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
        const p = this.pipeline();
        for (const it of part) p[COMMIT]!(1, this.key(it.key), encodeMarker({ source: it.source, hash: it.hash }));
        for (const [err] of (await p.exec()) ?? []) if (err) throw err;
      } else await this.command(COMMIT).call(this.redis, part.length, ...part.map((it) => this.key(it.key)), ...part.map((it) => encodeMarker({ source: it.source, hash: it.hash })));
    }
  }

  /**
   * Gives keys back (their messages were dead-lettered by the stage logic: a later copy may be decided). Each leaves
   * every bucket first, so a later copy's claim, in a later bucket, is not deleted with the bucket of this one.
   */
  async release(keys: string[]): Promise<void> {
    if (!keys.length) return;
    const buckets = await this.redis.smembers(this.indexKey);
    if (buckets.length) {
      const p = this.pipeline();
      const shards = OutcomeStore.byShard(keys, (k) => k);
      for (const b of buckets) {
        p.srem!(this.bucketKey(Number(b)), ...keys);
        for (const [s, part] of shards) p.srem!(this.bucketKey(Number(b), s), ...part);
      }
      for (const [err] of (await p.exec()) ?? []) if (err) throw err;
    }
    await deleteKeys(this.redis, keys.map((k) => this.key(k)));
  }

  /**
   * Deletes the claims of every bucket that ended at least a window ago, `chunk` keys a call, then the bucket and its
   * index entry. Idempotent and safe to run from every member at once (a lock makes them take turns; a member that
   * dies holding it delays the next sweep by at most its TTL). Off the critical path: the runner calls it once a minute.
   */
  async sweep(o: { chunk?: number } = {}): Promise<SweepResult> {
    const chunk = o.chunk ?? 500;
    const lock = outcomeSweepLockKey(this.rootPrefix, this.stage);
    const token = randomUUID();
    // A Redis out of memory refuses the lock (a write) but not the sweep's deletes: then every member sweeps, harmlessly.
    const locked = await this.redis.set(lock, token, 'EX', 120, 'NX').catch((err: Error) => {
      if (/^OOM /.test(err.message)) return 'OOM';
      throw err;
    });
    if (locked === null) return { buckets: 0, deleted: 0, ran: false };
    let buckets = 0;
    let deleted = 0;
    try {
      const now = this.now();
      // A bucket holds claims made before its end: expired once its end is a window old.
      const expired = (await this.redis.smembers(this.indexKey))
        .map(Number)
        .filter((b) => Number.isInteger(b) && ((b + 1) * this.bucketSeconds + this.ttlSeconds) * 1000 <= now)
        .sort((a, b) => a - b);
      for (const b of expired) {
        for (const set of this.bucketKeys(b)) {
          for (;;) {
            const members = await this.redis.srandmember(set, chunk);
            if (members.length === 0) break;
            if (this.sharded) {
              // Claims and bucket live in different slots: delete the claims, then take them out of the bucket (a crash
              // between the two leaves them in it, deleted again next time).
              deleted += await deleteKeys(this.redis, members.map((m) => this.key(m)));
              await this.redis.srem(set, ...members);
            } else deleted += Number(await this.command(SWEEP).call(this.redis, members.length + 1, set, ...members.map((m) => this.key(m)), ...members));
          }
        }
        await this.redis.srem(this.indexKey, String(b));
        buckets += 1;
      }
    } finally {
      if (locked === 'OK') await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, lock, token);
    }
    return { buckets, deleted, ran: true };
  }
}
