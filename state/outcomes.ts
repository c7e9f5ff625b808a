/**
 * Outcomes: what makes at-least-once delivery decide each key once. Key family `<prefix>outcome:<stage>:<key>`,
 * value "partition:offset|contentHash" (about 100 bytes a key with its name), TTL = the dedupe window (24 h).
 *
 * A key is claimed before its message is decided, in one Lua call for the whole batch: SET NX, or answer what
 * holds it. The holder tells the runner what to do:
 * - nobody: decide it;
 * - this very message (same source): an earlier attempt claimed it and never committed (a crash, a fenced or
 *   aborted transaction, or our own claim whose reply was lost and resent by ioredis): decide it again. The
 *   feature store is idempotent per tx id, so the vector, and the decision, are the same;
 * - another message with the same content: an identical duplicate; with other content: a conflicting one.
 * Messages below the partition's committed offset never get here (router/runner/producers.ts), so "same source" never
 * means "published already".
 */
import type { Redis } from 'ioredis';

/** TTL: the stage's dedupe window (config), passed to OutcomeStore by the runner. */
export const outcomeKeyPrefix = (prefix: string, stage: string): string => `${prefix}outcome:${stage}:`;

export interface OutcomeMarker {
  source: string;
  hash: string;
}

export function encodeMarker(o: OutcomeMarker): string {
  return `${o.source}|${o.hash}`;
}

export function decodeMarker(s: string): OutcomeMarker {
  const bar = s.lastIndexOf('|');
  return bar < 0 ? { source: s, hash: '' } : { source: s.slice(0, bar), hash: s.slice(bar + 1) };
}

const CLAIM_LUA = `
local ttl = ARGV[1]
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('SET', k, ARGV[i + 1], 'EX', ttl, 'NX') then
    out[i] = 1
  else
    out[i] = redis.call('GET', k) or 0
  end
end
return out
`;

const CLAIM = 'fraudstreamClaimOutcomeV2';

/** Claimed for this message (new, or held by this very message already), or held by another message. */
export type Claim = { mine: true; again: boolean } | { mine: false; holder: OutcomeMarker };

export class OutcomeStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly ttlSeconds: number;

  constructor(redis: Redis, prefix: string, stage: string, ttlSeconds: number) {
    this.redis = redis;
    this.prefix = outcomeKeyPrefix(prefix, stage);
    this.ttlSeconds = ttlSeconds;
    if (!(CLAIM in redis)) redis.defineCommand(CLAIM, { lua: CLAIM_LUA });
  }

  key(k: string): string {
    return this.prefix + k;
  }

  async claim(items: Array<{ key: string } & OutcomeMarker>): Promise<Claim[]> {
    if (items.length === 0) return [];
    const keys = items.map((i) => this.key(i.key));
    const call = (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<Array<number | string>>>)[CLAIM]!;
    const replies = await call.call(this.redis, keys.length, ...keys, this.ttlSeconds, ...items.map(encodeMarker));
    return replies.map((r, i): Claim => {
      if (r === 1) return { mine: true, again: false };
      // A key that expired between SET and GET is not held by anyone: the next attempt claims it.
      if (typeof r !== 'string') throw new Error(`outcome claim of ${items[i]!.key} answered neither OK nor a holder`);
      const holder = decodeMarker(r);
      return holder.source === items[i]!.source ? { mine: true, again: true } : { mine: false, holder };
    });
  }

  /** Gives keys back (their messages were dead-lettered by the stage logic: a later copy may be decided). */
  async release(keys: string[]): Promise<void> {
    if (keys.length) await this.redis.del(...keys.map((k) => this.key(k)));
  }
}
