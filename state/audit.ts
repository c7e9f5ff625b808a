import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Logger } from '../core/logger.ts';
import { z } from 'zod';
import { AUDIT_KEEP, AUTH_EVENTS_KEEP, auditHeadKey, auditKey, authEventsKey } from './ui.ts';

export const AuditEntrySchema = z.object({
  id: z.string(),
  at: z.number(),
  who: z.string(),
  /** e.g. "case.approve", "case.confirm_fraud", "policy.update", "policy.rollback", "replay.start", "login". */
  action: z.string(),
  target: z.string(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  ip: z.string().optional(),
  /** Position in the chain of actions (1 = first); absent on authentication events and pre-chain entries. */
  seq: z.number().int().positive().optional(),
  /** Hash of the previous action ('' for the first). */
  prev: z.string().optional(),
  /** sha256 over prev and this entry without hash: change, drop or reorder one and every later hash disagrees. */
  hash: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export type AuditInput = Omit<AuditEntry, 'id' | 'at' | 'seq' | 'prev' | 'hash'>;

/** The hash an entry must carry: over its fields in a fixed order, so JSON key order in Redis does not matter. */
export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  const fields = [e.seq, e.prev, e.id, e.at, e.who, e.action, e.target, e.before ?? null, e.after ?? null, e.ip ?? null];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

// Appends only when the head is still the one the entry was chained to; otherwise another writer got there
// first and the caller re-chains. Optimistic, so no connection-scoped WATCH on the shared client.
const APPEND = `
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[3])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[4]) - 1)
redis.call('SET', KEYS[2], ARGV[2])
return 1`;

function parseEntry(raw: string): AuditEntry | undefined {
  try {
    return AuditEntrySchema.safeParse(JSON.parse(raw)).data;
  } catch {
    return undefined;
  }
}

export interface AuditVerdict {
  ok: boolean;
  /** Chained entries checked (newest first, down to the oldest kept). */
  checked: number;
  /** Entries from before the chain existed (no hash), at the old end of the list. */
  unchained: number;
  /** What is wrong, naming the entry: empty when ok. */
  problems: string[];
}

/** Checks a list of entries, newest first, against the head "<seq> <hash>" (null when none is stored). */
export function verifyChain(entries: AuditEntry[], head: string | null): AuditVerdict {
  const problems: string[] = [];
  const chained = entries.filter((e) => e.hash !== undefined);
  const firstUnchained = entries.findIndex((e) => e.hash === undefined);
  if (firstUnchained >= 0 && entries.slice(firstUnchained).some((e) => e.hash !== undefined)) {
    problems.push(`entry ${entries[firstUnchained]?.id} has no hash but newer-than-chain entries follow it`);
  }
  const newest = chained[0];
  const expectedHead = newest ? `${newest.seq} ${newest.hash}` : null;
  if ((head ?? null) !== expectedHead) problems.push(`head is ${JSON.stringify(head)} but the newest entry gives ${JSON.stringify(expectedHead)} (entries removed or added at the newest end)`);
  chained.forEach((e, i) => {
    if (entryHash(e) !== e.hash) problems.push(`seq ${e.seq} (${e.id}): content does not match its hash (edited)`);
    const older = chained[i + 1];
    if (older && (e.prev !== older.hash || e.seq !== (older.seq ?? 0) + 1)) problems.push(`seq ${e.seq} (${e.id}): does not follow seq ${older.seq} (entries removed, inserted or reordered)`);
  });
  return { ok: problems.length === 0, checked: chained.length, unchained: entries.length - chained.length, problems };
}

/**
 * Two records. Actions (verdicts, policy, models, replay, logins that succeeded) form a hash chain in Redis,
 * capped only by AUDIT_KEEP: nobody without a session can add to it, so traffic cannot push entries out, and
 * an edit shows in verify(). Authentication events (failed logins) go to their own capped list, which a flood
 * of guesses can only turn over itself. `sink` gets every action after it is stored (the [audit] topic).
 */
export class AuditLog {
  readonly key: string;
  readonly authKey: string;
  private readonly headKey: string;
  /** Appends from this process go one at a time; other processes are handled by the script's head check. */
  private tail: Promise<unknown> = Promise.resolve();
  private sinkTail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly keep = AUDIT_KEEP,
    private readonly sink?: (entry: AuditEntry) => Promise<void>,
    private readonly keepAuth = AUTH_EVENTS_KEEP,
  ) {
    this.key = auditKey(prefix);
    this.authKey = authEventsKey(prefix);
    this.headKey = auditHeadKey(prefix);
  }

  /** Appends an action to the chain. */
  record(entry: AuditInput): Promise<AuditEntry> {
    const next = this.tail.then(() => this.append(entry));
    this.tail = next.catch(() => undefined);
    return next;
  }

  private async append(input: AuditInput): Promise<AuditEntry> {
    const base = { id: randomUUID(), at: Date.now(), ...input };
    for (;;) {
      const head = (await this.redis.get(this.headKey)) ?? '';
      const [seqText = '0', prev = ''] = head ? head.split(' ') : [];
      const unsigned = { ...base, seq: Number(seqText) + 1, prev };
      const full: AuditEntry = { ...unsigned, hash: entryHash(unsigned) };
      const ok = await this.redis.eval(APPEND, 2, this.key, this.headKey, head, `${full.seq} ${full.hash}`, JSON.stringify(full), this.keep);
      if (ok === 1) {
        // In order, but not awaited: a slow or absent Kafka must not hold up the action being answered.
        const sink = this.sink;
        if (sink) this.sinkTail = this.sinkTail.then(() => sink(full)).catch(() => undefined);
        return full;
      }
    }
  }

  /** Resolves once every action recorded so far has been handed to the sink. */
  async flushed(): Promise<void> {
    await this.tail;
    await this.sinkTail;
  }

  /** A failed login or another authentication event: its own capped list, apart from the actions. */
  async recordAuth(entry: AuditInput): Promise<AuditEntry> {
    const full: AuditEntry = { id: randomUUID(), at: Date.now(), ...entry };
    await this.redis.multi().lpush(this.authKey, JSON.stringify(full)).ltrim(this.authKey, 0, this.keepAuth - 1).exec();
    return full;
  }

  /** Actions, newest first. */
  async list(limit: number, filter: { target?: string; who?: string } = {}): Promise<AuditEntry[]> {
    return this.read(this.key, limit, filter);
  }

  /** Authentication events, newest first. */
  async listAuth(limit: number, filter: { target?: string; who?: string } = {}): Promise<AuditEntry[]> {
    return this.read(this.authKey, limit, filter);
  }

  private async read(key: string, limit: number, filter: { target?: string; who?: string }): Promise<AuditEntry[]> {
    const raws = await this.redis.lrange(key, 0, filter.target || filter.who ? 4_999 : limit - 1);
    const out: AuditEntry[] = [];
    for (const raw of raws) {
      const e = parseEntry(raw);
      if (!e || (filter.target && e.target !== filter.target) || (filter.who && e.who !== filter.who)) continue;
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Walks the whole chain of actions kept in Redis (in pages) and says whether it is intact. */
  async verify(): Promise<AuditVerdict> {
    const snap = await this.redis.multi().get(this.headKey).llen(this.key).exec();
    const head = (snap?.[0]?.[1] as string | null) ?? null;
    const len = Number(snap?.[1]?.[1] ?? 0);
    const entries: AuditEntry[] = [];
    const page = 5_000;
    // Indexed from the old end: appends made while this runs (at the new end) do not shift the pages.
    for (let start = 0; start < len; start += page) {
      const end = Math.min(len, start + page) - 1;
      for (const raw of await this.redis.lrange(this.key, start - len, end - len)) {
        entries.push(parseEntry(raw) ?? { id: '?', at: 0, who: '?', action: '?', target: '?', hash: 'unparseable' });
      }
    }
    return verifyChain(entries, head);
  }
}

/**
 * A sink that copies each action to the [audit] topic (one partition, years of retention), keyed by its seq.
 * Best effort: the action is already in the Redis chain, so a Kafka outage is logged, not failed.
 */
export function auditToKafka(producer: Producer, topic: string, log: Logger): (entry: AuditEntry) => Promise<void> {
  return async (entry) => {
    try {
      await producer.send({ topic, messages: [{ key: String(entry.seq), value: JSON.stringify(entry) }] });
    } catch (err) {
      log.warn({ err: (err as Error).message, seq: entry.seq, action: entry.action }, 'audit entry not copied to Kafka (kept in Redis)');
    }
  };
}
