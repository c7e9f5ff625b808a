import type { Redis } from 'ioredis';
import { familyPrefix } from '../core/redis.ts';
import { PolicyInputSchema, PolicySchema, describeZodError, type Policy, type PolicyInput } from '../core/contracts.ts';
import { ConflictError, UserInputError } from '../core/errors.ts';
import { MODELS, coldStartThresholds, type ModelSpec, type ModelThresholds } from '../core/model-registry.ts';
import { logger } from '../core/logger.ts';
import type { PolicyStore } from './types.ts';

/**
 * Policy versions: `<prefix>policy:current` (the current version number),
 * `policy:v:<n>` (each version's JSON), `policy:versions` (sorted set of versions), `policy:counter` (last
 * version number handed out), `policy:saving` (the version being saved, while a save is in flight; TTL
 * POLICY_SAVE_MARK_MS) and the pub/sub channel `policy:changed`.
 *
 * Kafka is the record, Redis the view (issue 18): with a record (the compacted policy topic, core/changelog.ts) every
 * version is appended there, keyed by its number, before Redis holds it. `policy:current` is the view's marker: when
 * it is missing (a FLUSHALL, a redis-server restarted without persistence) the store restores every recorded version
 * (the newest POLICY_KEEP_VERSIONS) before it serves one, and creates version 1 only when the record is empty too.
 */
/** How long a save in flight marks `policy:saving` at most (a process that died mid-save blocks versioned edits this long). */
export const POLICY_SAVE_MARK_MS = 30_000;

/** The newest POLICY_KEEP_VERSIONS versions are kept (rollback reaches back that far); older ones are deleted. */
export const POLICY_KEEP_VERSIONS = 1000;

/** Where policy versions are recorded (core/changelog.ts kafkaChangelog on the policy topic): key = version number. */
export interface PolicyRecord {
  readonly topic: string;
  append(key: string, value: string): Promise<void>;
  readAll(): Promise<Array<{ key: string; value: string }>>;
}

export interface PolicyKeys {
  current: string;
  history: string;
  counter: string;
  /** The version number being saved right now (TTL POLICY_SAVE_MARK_MS): an edit of a given version waits for none. */
  saving: string;
  doc: (version: number | string) => string;
}

export const policyKeys = (prefix: string): PolicyKeys => ({
  current: `${prefix}policy:current`,
  history: `${prefix}policy:versions`,
  counter: `${prefix}policy:counter`,
  saving: `${prefix}policy:saving`,
  doc: (v) => `${prefix}policy:v:${v}`,
});

/** The policy's keys on this client: on Redis Cluster all in one slot (`<prefix>{policy}:policy:...`), as its scripts need. */
export const policyKeysOf = (redis: Redis, prefix: string): PolicyKeys => policyKeys(familyPrefix(redis, prefix, 'policy'));

/** Channel a store PUBLISHes the new version number on after every change. */
export const policyChannel = (prefix: string): string => `${prefix}policy:changed`;

/**
 * Thresholds before any model version exists, for every process that may create policy v1 (stages, console, demo):
 * whichever starts first writes v1, so they must agree (rules-only mode never reaches them). The values are the
 * registered models' own (core/model-registry.ts).
 */
export const COLD_START_THRESHOLDS: ModelThresholds = coldStartThresholds();

/** Policy v1 as any process creates it: the model's thresholds and version when one is loaded, else the cold-start set. */
export function initialPolicy(model?: { thresholds: ModelThresholds; version?: string }): Policy {
  return defaultPolicy(model?.thresholds ?? COLD_START_THRESHOLDS, model?.version);
}

/**
 * Version 1 of the policy: the model card's thresholds, empty lists, and rules that only catch the extreme
 * (100 000.00 blocked, 2 000.00 escalated) so the models decide the ordinary traffic.
 */
export function defaultPolicy(thresholds: ModelThresholds, modelVersion?: string, now = Date.now()): Policy {
  return PolicySchema.parse({
    version: 1,
    updatedAt: now,
    updatedBy: 'system',
    ...(modelVersion ? { modelVersion } : {}),
    thresholds: {
      detect: { ...thresholds.detect },
      escalate: { ...thresholds.escalate },
    },
    rules: {
      blockAmountAbove: 10_000_000,
      escalateAmountAbove: 200_000,
      blockedCountries: [],
      escalateCountries: [],
      blockedMccs: [],
      escalateMccs: [],
    },
    lists: { allowCards: [], blockCards: [], allowMerchants: [], blockMerchants: [] },
    review: { capacity: 500 },
  });
}

/**
 * A stored policy document with every threshold key the registry declares: a key it lacks (a policy stored before
 * that model was registered) gets the model's cold-start value, as a policy stored before issue 13 gets its money
 * and staffing defaults. Without this, registering a detector would make every stored policy unreadable and the
 * stages would stop deciding. Keys already there are kept; anything else is left for PolicySchema to judge.
 */
export function fillMissingThresholds(doc: unknown, models: readonly ModelSpec[] = MODELS): { doc: unknown; filled: string[] } {
  const thresholds = isRecord(doc) ? doc.thresholds : undefined;
  if (!isRecord(thresholds)) return { doc, filled: [] };
  const cold = coldStartThresholds(models) as Record<'detect' | 'escalate', Record<string, number>>;
  const filled: string[] = [];
  const next: Record<string, unknown> = { ...thresholds };
  for (const stage of ['detect', 'escalate'] as const) {
    const held = thresholds[stage];
    if (!isRecord(held)) continue;
    const missing = Object.keys(cold[stage]).filter((k) => held[k] === undefined);
    if (!missing.length) continue;
    next[stage] = { ...held, ...Object.fromEntries(missing.map((k) => [k, cold[stage][k]])) };
    filled.push(...missing.map((k) => `${stage}.${k}`));
  }
  return filled.length ? { doc: { ...(doc as Record<string, unknown>), thresholds: next }, filled } : { doc, filled };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const filledLogged = new Set<string>();

/** A stored version's JSON as a Policy, missing threshold keys filled (logged once per process and key set). */
export function parseStoredPolicy(raw: string): Policy {
  const { doc, filled } = fillMissingThresholds(JSON.parse(raw));
  if (filled.length && !filledLogged.has(filled.join(','))) {
    filledLogged.add(filled.join(','));
    logger('policy').warn({ filled, coldStart: true }, `stored policy lacks threshold ${filled.join(', ')} (registered after it was stored): using the registry's cold-start value until the policy is saved again`);
  }
  return PolicySchema.parse(doc);
}

// KEYS: current, doc key, history, counter. ARGV: doc JSON. Creates version 1 only if no policy exists yet.
const INIT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], '1')
if tonumber(redis.call('GET', KEYS[4]) or '0') < 1 then redis.call('SET', KEYS[4], '1') end
redis.call('ZADD', KEYS[3], 1, '1')
return 1`;

// KEYS: current, doc key, history, counter, saving. ARGV: doc JSON, version, channel, doc key prefix, versions kept.
// current only moves forward: two racing updates cannot leave the older one current. A counter below the version
// means Redis was wiped since the number was handed out: nothing is written (0), the caller restores from the record.
const COMMIT = `
if tonumber(redis.call('GET', KEYS[4]) or '0') < tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2])
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[2]) end
local oldest = tonumber(ARGV[2]) - tonumber(ARGV[5])
if oldest > 0 then
  for _, v in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', oldest)) do redis.call('DEL', ARGV[4] .. v) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', oldest)
end
if redis.call('GET', KEYS[5]) == ARGV[2] then redis.call('DEL', KEYS[5]) end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1`;

// KEYS: current, counter, saving. ARGV: the version the edit was made on ('' = any), mark TTL ms. The next version
// number, or 0 when the view is missing (restore it first), -1 when current is no longer the edited version, -2 when
// another save is in flight (its version would land on top of, or under, this one). Marks this save as in flight.
const NEXT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
  if redis.call('EXISTS', KEYS[3]) == 1 then return -2 end
end
local v = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[3], v, 'PX', ARGV[2])
return v`;

// KEYS: saving. ARGV: version. Ends this save's in-flight mark (a later save's mark is kept).
const UNMARK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

// KEYS: current, history, counter. ARGV: doc key prefix, channel, then version and doc JSON pairs. Writes the recorded
// versions back (a doc already there is kept), moves the counter and current forward only, and announces current.
const RESTORE = `
local maxv = 0
for i = 3, #ARGV, 2 do
  local v = tonumber(ARGV[i])
  redis.call('SET', ARGV[1] .. ARGV[i], ARGV[i + 1], 'NX')
  redis.call('ZADD', KEYS[2], v, ARGV[i])
  if v > maxv then maxv = v end
end
if maxv == 0 then return 0 end
if tonumber(redis.call('GET', KEYS[3]) or '0') < maxv then redis.call('SET', KEYS[3], maxv) end
if tonumber(redis.call('GET', KEYS[1]) or '0') < maxv then redis.call('SET', KEYS[1], maxv) end
redis.call('PUBLISH', ARGV[2], redis.call('GET', KEYS[1]))
return maxv`;

export class RedisPolicyStore implements PolicyStore {
  private readonly k: PolicyKeys;
  private restoring: Promise<number> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Version 1, used when Redis holds no policy yet (e.g. defaultPolicy(bundle.thresholds, bundle.version)). */
    private readonly defaults: () => Policy,
    /** The policy topic; without one (unit tests, tools) Redis alone holds the versions, as before issue 18. */
    private readonly record?: PolicyRecord,
  ) {
    this.k = policyKeysOf(redis, prefix);
  }

  async current(): Promise<Policy> {
    const found = await this.readCurrent();
    if (found) return found;
    // The view is missing: restore it from the record before serving, and create v1 only if nothing was ever recorded.
    if (this.record && (await this.restore()) > 0) {
      const restored = await this.readCurrent();
      if (restored) return restored;
    }
    const initial = PolicySchema.parse({ ...this.defaults(), version: 1 });
    const created = await this.redis.eval(INIT, 4, this.k.current, this.k.doc(1), this.k.history, this.k.counter, JSON.stringify(initial));
    if (created === 1) {
      await this.record?.append('1', JSON.stringify(initial));
      await this.redis.publish(policyChannel(this.prefix), '1');
    }
    const now = await this.readCurrent();
    if (!now) throw new Error('policy store: no current policy after initialisation');
    return now;
  }

  /**
   * Writes every recorded version (the newest POLICY_KEEP_VERSIONS) back into Redis; returns the newest version
   * recorded (0: none). One restore at a time per store; concurrent ones in other processes write the same docs.
   */
  restore(): Promise<number> {
    const record = this.record;
    if (!record) return Promise.resolve(0);
    this.restoring ??= (async () => {
      const entries = (await record.readAll())
        .map((e) => ({ version: Number(e.key), value: e.value }))
        .filter((e) => Number.isSafeInteger(e.version) && e.version > 0)
        .sort((a, b) => a.version - b.version)
        .slice(-POLICY_KEEP_VERSIONS);
      if (entries.length === 0) return 0;
      for (const e of entries) parseStoredPolicy(e.value);
      // One script for all of them (at most POLICY_KEEP_VERSIONS): a wipe cannot leave a current without its history.
      const newest = Number(await this.redis.eval(RESTORE, 3, this.k.current, this.k.history, this.k.counter, this.k.doc(''), policyChannel(this.prefix), ...entries.flatMap((e) => [String(e.version), e.value])));
      logger('policy').warn({ versions: entries.length, newest, topic: record.topic }, 'policy missing in Redis: restored every recorded version from the policy topic');
      return newest;
    })().finally(() => (this.restoring = undefined));
    return this.restoring;
  }

  async get(version: number): Promise<Policy | undefined> {
    let raw = await this.redis.get(this.k.doc(version));
    // Not there because the view is gone (not because the version never was): restore, then look again.
    if (raw === null && this.record && (await this.redis.exists(this.k.current)) === 0) {
      await this.current();
      raw = await this.redis.get(this.k.doc(version));
    }
    return raw === null ? undefined : parseStoredPolicy(raw);
  }

  /**
   * Saves `input` as the next version. With `ifVersion`, only when that version is still current and no other save
   * is in flight (compare-and-set in the numbering script): otherwise a ConflictError naming what is current now.
   */
  async update(input: PolicyInput, by: string, opts: { ifVersion?: number } = {}): Promise<Policy> {
    const parsed = PolicyInputSchema.safeParse(input);
    if (!parsed.success) throw new UserInputError(`invalid policy: ${describeZodError(parsed.error)}`);
    let version = 0;
    for (let attempt = 1; version === 0; attempt++) {
      if (attempt > 3) throw new Error('policy store: Redis keeps losing the policy while a version is being saved');
      await this.current();
      version = Number(await this.redis.eval(NEXT, 3, this.k.current, this.k.counter, this.k.saving, opts.ifVersion === undefined ? '' : String(opts.ifVersion), POLICY_SAVE_MARK_MS));
    }
    if (version < 0) {
      const now = await this.current();
      const by_ = `v${now.version} by ${now.updatedBy} at ${new Date(now.updatedAt).toISOString()}`;
      throw new ConflictError(
        version === -1
          ? `the policy changed since you loaded it: you edited v${opts.ifVersion}, the current one is ${by_}. Reload it, redo your change and save again.`
          : `another change to the policy (on top of v${now.version}) is being saved right now. Reload in a moment, redo your change and save again.`,
        { baseVersion: opts.ifVersion, currentVersion: now.version, currentBy: now.updatedBy, currentAt: now.updatedAt },
      );
    }
    try {
      return await this.commit(parsed.data, by, version);
    } finally {
      await this.redis.eval(UNMARK, 1, this.k.saving, String(version)).catch(() => undefined);
    }
  }

  private async commit(input: PolicyInput, by: string, version: number): Promise<Policy> {
    const policy = PolicySchema.parse({ ...input, version, updatedAt: Date.now(), updatedBy: by });
    // Recorded before Redis serves it: a version Redis has is never one a wipe can lose.
    await this.record?.append(String(version), JSON.stringify(policy));
    const committed = await this.redis.eval(
      COMMIT,
      5,
      this.k.current,
      this.k.doc(version),
      this.k.history,
      this.k.counter,
      this.k.saving,
      JSON.stringify(policy),
      String(version),
      policyChannel(this.prefix),
      this.k.doc(''),
      String(POLICY_KEEP_VERSIONS),
    );
    // Wiped between numbering and saving: the record has this version already, so restoring brings it back.
    if (committed === 0) {
      if (!this.record) throw new Error(`policy store: Redis lost the policy while version ${version} was being saved; save it again`);
      await this.restore();
    }
    return policy;
  }

  /** Newest first. */
  async history(limit: number): Promise<Policy[]> {
    await this.current();
    const versions = await this.redis.zrevrange(this.k.history, 0, Math.max(0, limit) - 1);
    if (versions.length === 0) return [];
    const raws = await this.redis.mget(versions.map((v) => this.k.doc(Number(v))));
    return raws.flatMap((raw) => (raw === null ? [] : [parseStoredPolicy(raw)]));
  }

  async rollback(version: number, by: string): Promise<Policy> {
    const old = await this.get(version);
    if (!old) throw new UserInputError(`policy version ${version} does not exist`);
    const { version: _v, updatedAt: _u, updatedBy: _b, ...content } = old;
    return this.update(content, by);
  }

  /**
   * Calls onChange with each new current policy, as published by any process. `subscriber` must be a
   * dedicated connection (a subscribed ioredis client cannot run other commands). Returns an unsubscribe.
   */
  async watch(subscriber: Redis, onChange: (p: Policy) => void, onError: (err: unknown) => void = () => undefined): Promise<() => Promise<void>> {
    const channel = policyChannel(this.prefix);
    const listener = (ch: string) => {
      if (ch !== channel) return;
      this.readCurrent().then((p) => p && onChange(p), onError);
    };
    subscriber.on('message', listener);
    await subscriber.subscribe(channel);
    return async () => {
      subscriber.off('message', listener);
      await subscriber.unsubscribe(channel);
    };
  }

  private async readCurrent(): Promise<Policy | undefined> {
    const v = await this.redis.get(this.k.current);
    return v === null ? undefined : this.get(Number(v));
  }
}
