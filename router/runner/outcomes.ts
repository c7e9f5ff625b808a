/**
 * Outcomes: what makes at-least-once delivery decide each key once. Key family `<prefix>outcome:<stage>:<key>`,
 * TTL = the dedupe window (24 h by default).
 *
 * An outcome names the message that produced it (source "partition:offset") and that message's content hash.
 * Until the Kafka transaction publishing it commits, it also holds the outputs (a crash in between republishes
 * exactly those); after the commit it is shrunk to the marker (~40 bytes).
 *
 * The claim is one Lua call: SET NX, or return what is there. A reply lost on a dropped connection is resent
 * by ioredis and answered with our own outcome (same source): the runner publishes what is stored.
 */
import type { Redis } from 'ioredis';
import type { OutMessage } from './batch.ts';

export interface StoredOutcome {
  source: string;
  hash: string;
  /** Present until the publishing transaction committed. */
  out?: OutMessage[];
}

/** Line format (no JSON inside JSON): "source|hash" then per output a JSON header line and its value line. */
export function encodeOutcome(o: StoredOutcome): string {
  let s = `${o.source}|${o.hash}`;
  if (!o.out) return s;
  s += '\n*';
  for (const m of o.out) {
    const multiline = m.value.includes('\n');
    s += `\n${JSON.stringify([m.topic, m.key, m.action ?? null, multiline ? 1 : 0])}\n${multiline ? JSON.stringify(m.value) : m.value}`;
  }
  return s;
}

export function decodeOutcome(s: string): StoredOutcome {
  const nl = s.indexOf('\n');
  const head = nl < 0 ? s : s.slice(0, nl);
  const bar = head.lastIndexOf('|');
  const source = bar < 0 ? head : head.slice(0, bar);
  const hash = bar < 0 ? '' : head.slice(bar + 1);
  if (nl < 0) return { source, hash };
  const lines = s.slice(nl + 1).split('\n');
  if (lines[0] !== '*') throw new Error(`stored outcome of ${source} is not in the expected format`);
  const out: OutMessage[] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    const [topic, key, action, multiline] = JSON.parse(lines[i]!) as [string, string, string | null, number];
    const value = multiline ? (JSON.parse(lines[i + 1]!) as string) : lines[i + 1]!;
    out.push(action === null ? { topic, key, value } : { topic, key, value, action });
  }
  return { source, hash, out };
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

const CLAIM = 'fraudstreamClaimOutcomeV1';

export type ClaimResult = { claimed: true } | { claimed: false; existing: StoredOutcome | undefined };

export class OutcomeStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly ttlSeconds: number;

  constructor(redis: Redis, prefix: string, stage: string, ttlSeconds: number) {
    this.redis = redis;
    this.prefix = `${prefix}outcome:${stage}:`;
    this.ttlSeconds = ttlSeconds;
    if (!(CLAIM in redis)) redis.defineCommand(CLAIM, { lua: CLAIM_LUA });
  }

  key(k: string): string {
    return this.prefix + k;
  }

  async lookup(keys: string[]): Promise<Array<StoredOutcome | undefined>> {
    if (keys.length === 0) return [];
    const raw = await this.redis.mget(...keys.map((k) => this.key(k)));
    return raw.map((r) => (r ? decodeOutcome(r) : undefined));
  }

  /** Claims each key for its outcome; a key held already answers with what holds it. */
  async claim(items: Array<{ key: string; outcome: StoredOutcome }>): Promise<ClaimResult[]> {
    if (items.length === 0) return [];
    const keys = items.map((i) => this.key(i.key));
    const args = items.map((i) => encodeOutcome(i.outcome));
    const call = (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<Array<number | string>>>)[CLAIM]!;
    const replies = await call.call(this.redis, keys.length, ...keys, this.ttlSeconds, ...args);
    return replies.map((r) => (r === 1 ? { claimed: true } : { claimed: false, existing: typeof r === 'string' ? decodeOutcome(r) : undefined }));
  }

  /** After the publishing transaction committed: keep only the marker (XX: never recreate an expired key). */
  async shrink(items: Array<{ key: string; source: string; hash: string }>): Promise<void> {
    if (items.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const i of items) pipe.set(this.key(i.key), `${i.source}|${i.hash}`, 'EX', this.ttlSeconds, 'XX');
    const results = (await pipe.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }
}
