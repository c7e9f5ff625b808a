import type { Redis } from 'ioredis';
import { PolicyInputSchema, PolicySchema, describeZodError, type Policy, type PolicyInput } from '../core/contracts.ts';
import { UserInputError } from '../core/errors.ts';
import type { ModelThresholds } from '../detectors/types.ts';
import { MODELS, coldStartThresholds, type ModelSpec } from '../detectors/registry.ts';
import { logger } from '../core/logger.ts';
import type { PolicyStore } from '../router/types.ts';

/**
 * Policy versions: `<prefix>policy:current` (the current version number),
 * `policy:v:<n>` (each version's JSON), `policy:versions` (sorted set of versions), `policy:counter` (last
 * version number handed out), and the pub/sub channel `policy:changed`.
 */
/** The newest POLICY_KEEP_VERSIONS versions are kept (rollback reaches back that far); older ones are deleted. */
export const POLICY_KEEP_VERSIONS = 1000;

export interface PolicyKeys {
  current: string;
  history: string;
  counter: string;
  doc: (version: number | string) => string;
}

export const policyKeys = (prefix: string): PolicyKeys => ({
  current: `${prefix}policy:current`,
  history: `${prefix}policy:versions`,
  counter: `${prefix}policy:counter`,
  doc: (v) => `${prefix}policy:v:${v}`,
});

/** Channel a store PUBLISHes the new version number on after every change. */
export const policyChannel = (prefix: string): string => `${prefix}policy:changed`;

/**
 * Thresholds before any model version exists, for every process that may create policy v1 (stages, console, demo):
 * whichever starts first writes v1, so they must agree (rules-only mode never reaches them). The values are the
 * registered models' own (detectors/registry.ts).
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

// KEYS: current, doc key, history. ARGV: doc JSON, version, channel, doc key prefix, versions kept.
// current only moves forward: two racing updates cannot leave the older one current.
const COMMIT = `
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2])
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[2]) end
local oldest = tonumber(ARGV[2]) - tonumber(ARGV[5])
if oldest > 0 then
  for _, v in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', oldest)) do redis.call('DEL', ARGV[4] .. v) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', oldest)
end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1`;

export class RedisPolicyStore implements PolicyStore {
  private readonly k: PolicyKeys;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Version 1, used when Redis holds no policy yet (e.g. defaultPolicy(bundle.thresholds, bundle.version)). */
    private readonly defaults: () => Policy,
  ) {
    this.k = policyKeys(prefix);
  }

  async current(): Promise<Policy> {
    const found = await this.readCurrent();
    if (found) return found;
    const initial = PolicySchema.parse({ ...this.defaults(), version: 1 });
    const created = await this.redis.eval(INIT, 4, this.k.current, this.k.doc(1), this.k.history, this.k.counter, JSON.stringify(initial));
    if (created === 1) await this.redis.publish(policyChannel(this.prefix), '1');
    const now = await this.readCurrent();
    if (!now) throw new Error('policy store: no current policy after initialisation');
    return now;
  }

  async get(version: number): Promise<Policy | undefined> {
    const raw = await this.redis.get(this.k.doc(version));
    return raw === null ? undefined : parseStoredPolicy(raw);
  }

  async update(input: PolicyInput, by: string): Promise<Policy> {
    const parsed = PolicyInputSchema.safeParse(input);
    if (!parsed.success) throw new UserInputError(`invalid policy: ${describeZodError(parsed.error)}`);
    await this.current();
    const version = await this.redis.incr(this.k.counter);
    const policy = PolicySchema.parse({ ...parsed.data, version, updatedAt: Date.now(), updatedBy: by });
    await this.redis.eval(
      COMMIT,
      3,
      this.k.current,
      this.k.doc(version),
      this.k.history,
      JSON.stringify(policy),
      String(version),
      policyChannel(this.prefix),
      this.k.doc(''),
      String(POLICY_KEEP_VERSIONS),
    );
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
