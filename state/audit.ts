import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { familyPrefix } from '../core/redis.ts';
import type { Kafka } from 'kafkajs';
import { z } from 'zod';
import { auditHmacKey } from '../core/audit-key.ts';
import type { Config } from '../core/config.ts';
import { lazyTopicClients } from '../core/changelog.ts';
import { readRanges, wholeTopic, withLeaderRetry } from '../core/topic-reader.ts';
import { AUDIT_KEEP, AUDIT_LOCK_TTL_MS, AUDIT_VIEW_RESTORE, AUTH_EVENTS_KEEP, auditHeadKey, auditKey, auditLockKey, auditPendingKey, authEventsKey } from './ui.ts';

export const AuditEntrySchema = z.object({
  id: z.string(),
  at: z.number(),
  who: z.string(),
  /** e.g. "case.approve", "case.confirm_fraud", "policy.update", "policy.rollback", "replay.start", "login", "users.add". */
  action: z.string(),
  target: z.string(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  ip: z.string().optional(),
  /** Position in the chain of actions (1 = first); absent on authentication events and on an entry still waiting for Kafka. */
  seq: z.number().int().positive().optional(),
  /** MAC of the previous action ('' for the first). */
  prev: z.string().optional(),
  /** HMAC-SHA256 (AUDIT_HMAC_KEY) over prev and this entry without it: change, drop or reorder one and every later one disagrees. */
  hash: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export type AuditInput = Omit<AuditEntry, 'id' | 'at' | 'seq' | 'prev' | 'hash'>;

/** The MAC an entry must carry: over its fields in a fixed order (JSON key order does not matter), keyed, so only a key holder can re-sign an edit. */
export function entryHash(e: Omit<AuditEntry, 'hash'>, key: Buffer): string {
  const fields = [e.seq, e.prev, e.id, e.at, e.who, e.action, e.target, e.before ?? null, e.after ?? null, e.ip ?? null];
  return createHmac('sha256', key).update(JSON.stringify(fields)).digest('hex');
}

function macEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function parseEntry(raw: string | null): AuditEntry | undefined {
  if (raw === null) return undefined;
  try {
    return AuditEntrySchema.safeParse(JSON.parse(raw)).data;
  } catch {
    return undefined;
  }
}

export interface AuditVerdict {
  ok: boolean;
  /** Entries checked. */
  checked: number;
  /** The first and last seq read (null when none). */
  firstSeq: number | null;
  lastSeq: number | null;
  /** The record no longer starts at seq 1: entries before firstSeq are gone (reported as a problem for the record). */
  truncated: boolean;
  /** What is wrong, naming the entry: empty when ok. */
  problems: string[];
}

export interface VerifyOptions {
  /** The record must start at seq 1 (the audit topic); a view (the capped Redis list) may start later. */
  complete: boolean;
  /** "<seq> <mac>[ <offset>]" the newest entry must match (the Redis view's head), when known. */
  head?: string | null;
}

/** Checks entries, oldest first: every MAC, every link, and (for the record) that nothing is missing at the old end. */
export function verifyChain(entries: ReadonlyArray<AuditEntry | undefined>, key: Buffer, opts: VerifyOptions): AuditVerdict {
  const problems: string[] = [];
  let prev: AuditEntry | undefined;
  let index = 0;
  for (const e of entries) {
    index += 1;
    if (!e || e.seq === undefined || e.hash === undefined || e.prev === undefined) {
      problems.push(`entry ${index} of ${entries.length}${e ? ` (${e.id})` : ''}: not a chained audit entry (unparseable, or written without seq and MAC)`);
      prev = undefined;
      continue;
    }
    const { hash, ...unsigned } = e;
    if (!macEqual(entryHash(unsigned, key), hash)) problems.push(`seq ${e.seq} (${e.id}): its MAC does not match its content (edited, or signed with another AUDIT_HMAC_KEY)`);
    if (prev === undefined && index === 1) {
      if (e.seq === 1 && e.prev !== '') problems.push(`seq 1 (${e.id}): the first entry names a predecessor`);
    } else if (prev && (e.prev !== prev.hash || e.seq !== (prev.seq ?? 0) + 1)) {
      problems.push(`seq ${e.seq} (${e.id}): does not follow seq ${prev.seq} (entries removed, inserted or reordered)`);
    }
    prev = e;
  }
  const chained = entries.filter((e): e is AuditEntry => e?.seq !== undefined);
  const firstSeq = chained[0]?.seq ?? null;
  const lastSeq = chained.at(-1)?.seq ?? null;
  const truncated = firstSeq !== null && firstSeq > 1;
  if (truncated && opts.complete) problems.push(`the record starts at seq ${firstSeq}: entries 1 to ${firstSeq! - 1} are gone from the old end (retention ran out, or they were deleted)`);
  if (opts.head !== undefined) {
    const newest = chained.at(-1);
    const [headSeq, headMac] = (opts.head ?? '').split(' ');
    const expected = newest ? `${newest.seq} ${newest.hash}` : '';
    if ((opts.head ? `${headSeq} ${headMac}` : '') !== expected) problems.push(`head is ${JSON.stringify(opts.head)} but the newest entry gives ${JSON.stringify(expected || null)} (entries removed or added at the newest end)`);
  }
  return { ok: problems.length === 0, checked: entries.length, firstSeq, lastSeq, truncated, problems };
}

/** The audit topic as the record: one partition, entries in chain order, never compacted. */
export interface AuditRecord {
  readonly topic: string;
  /** [low, high) offsets of the partition now. */
  offsets(): Promise<{ low: bigint; high: bigint }>;
  /** Sends one entry (acknowledged by every in-sync replica) and returns its offset. */
  send(entry: AuditEntry): Promise<bigint>;
  /** Values at offsets [from, to), in order. */
  read(from: bigint, to: bigint): Promise<Array<{ offset: bigint; value: string | null }>>;
  close(): Promise<void>;
}

export function kafkaAuditRecord(kafka: Kafka, topic: string, opts: { ensure?: () => Promise<void>; timeoutMs?: number } = {}): AuditRecord {
  const { ensure, getProducer, getAdmin, close } = lazyTopicClients(kafka, opts.ensure);
  return {
    topic,
    async offsets() {
      await ensure();
      const a = await getAdmin();
      const o = (await withLeaderRetry(() => a.fetchTopicOffsets(topic))).find((x) => x.partition === 0);
      if (!o) throw new Error(`audit topic ${topic} has no partition 0`);
      return { low: BigInt(o.low), high: BigInt(o.high) };
    },
    async send(entry) {
      await ensure();
      const [meta] = await (await getProducer()).send({ topic, acks: -1, messages: [{ key: String(entry.seq), value: JSON.stringify(entry), partition: 0 }] });
      if (!meta?.baseOffset) throw new Error(`audit topic ${topic}: the broker gave no offset for seq ${entry.seq}`);
      return BigInt(meta.baseOffset);
    },
    async read(from, to) {
      await ensure();
      const a = await getAdmin();
      const out: Array<{ offset: bigint; value: string | null }> = [];
      const ranges = (await wholeTopic(a, topic)).map((r) => ({ ...r, start: from > r.start ? from : r.start, end: to < r.end ? to : r.end }));
      await readRanges({ kafka, admin: a, label: `fraudstream.audit.${topic}`, timeoutMs: opts.timeoutMs ?? 5 * 60_000 }, ranges, async (_t, _p, messages) => {
        // A fetched batch may reach past `to` (or start before `from`): only the range asked for.
        for (const m of messages) {
          const offset = BigInt(m.offset);
          if (offset >= from && offset < to) out.push({ offset, value: m.value === null ? null : m.value.toString() });
        }
      });
      return out.sort((x, y) => (x.offset < y.offset ? -1 : x.offset > y.offset ? 1 : 0));
    },
    close,
  };
}

// Redis-only chain (no record: unit tests, tools): appends only when the head is still the one the entry was chained
// to; otherwise another writer got there first and the caller re-chains.
const APPEND = `
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[3])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[4]) - 1)
redis.call('SET', KEYS[2], ARGV[2])
return 1`;

// KEYS: view list, head, pending. ARGV: entry JSON, head value, view cap, the pending item that was sent. The sent entry
// joins the view and leaves the pending list (only if it is still that list's first item: a wipe meanwhile left nothing to pop).
const SENT = `
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
redis.call('SET', KEYS[2], ARGV[2])
if redis.call('LINDEX', KEYS[3], 0) == ARGV[4] then redis.call('LPOP', KEYS[3]) end
return 1`;

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export interface AuditLogOptions {
  /** The chain's HMAC key (core/audit-key.ts auditHmacKey). */
  key: Buffer;
  /** The audit topic; without one (unit tests) the Redis list alone holds the chain. */
  record?: AuditRecord;
  /** Entries the Redis view keeps (newest). */
  keep?: number;
  keepAuth?: number;
  /** How long record() waits for Kafka before it answers with the entry still pending (it is sent later). */
  waitMs?: number;
  instanceId?: string;
}

/**
 * Actions (verdicts, policy, models, replay, users, logins that succeeded) form an HMAC chain. With a record (the
 * [audit] topic) the topic is the chain: an action waits in a Redis pending list, and one process at a time (a Redis
 * lock) chains it onto the newest entry of the topic and sends it, acknowledged by every in-sync replica, before it
 * joins the Redis view (the newest `keep` entries, what the pages read). The view's head carries the topic offset of
 * its entry: a head that does not match the topic's end (a send whose answer was lost, a wiped Redis) is re-read
 * from the topic before the next entry is chained, so the topic never forks. The view's cap trims only the view: a
 * flood of logins cannot push anything out of the record. Authentication events (failed logins) go to their own
 * capped list, apart from the chain.
 */
export class AuditLog {
  readonly key: string;
  readonly authKey: string;
  readonly headKey: string;
  private readonly pendingKey: string;
  private readonly lockKey: string;
  private readonly keep: number;
  private readonly keepAuth: number;
  private readonly mac: Buffer;
  private readonly instance: string;
  /** Redis-only appends from this process go one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  private flushing: Promise<void> | undefined;
  private readonly sent = new Map<string, AuditEntry>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly opts: AuditLogOptions,
  ) {
    // On Redis Cluster the view, its head and the pending list share a slot (the scripts and MULTIs use them together).
    const family = familyPrefix(redis, prefix, 'audit');
    this.key = auditKey(family);
    this.authKey = authEventsKey(prefix);
    this.headKey = auditHeadKey(family);
    this.pendingKey = auditPendingKey(family);
    this.lockKey = auditLockKey(family);
    this.keep = opts.keep ?? AUDIT_KEEP;
    this.keepAuth = opts.keepAuth ?? AUTH_EVENTS_KEEP;
    this.mac = opts.key;
    this.instance = opts.instanceId ?? randomUUID();
  }

  /** Appends an action to the chain; the entry comes back without seq when Kafka did not take it within waitMs (it is sent later, in order). */
  record(entry: AuditInput): Promise<AuditEntry> {
    return this.recordAction(entry);
  }

  private async recordAction(input: AuditInput): Promise<AuditEntry> {
    const base: AuditEntry = { id: randomUUID(), at: Date.now(), ...input };
    if (!this.opts.record) {
      const next = this.tail.then(() => this.appendRedisOnly(base));
      this.tail = next.catch(() => undefined);
      return next;
    }
    await this.redis.rpush(this.pendingKey, JSON.stringify(base));
    const waitMs = this.opts.waitMs ?? 3_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flushUntilSent(base.id), new Promise((r) => (timer = setTimeout(r, waitMs)))]).finally(() => clearTimeout(timer));
    const done = this.sent.get(base.id);
    this.sent.delete(base.id);
    return done ?? base;
  }

  private async flushUntilSent(id: string): Promise<void> {
    for (let wait = 25; !this.sent.has(id); wait = Math.min(wait * 2, 500)) {
      await this.flush().catch(() => undefined);
      if (this.sent.has(id)) return;
      // Another process holds the lock (it sends this entry too) or Kafka refused: look again shortly.
      const stillPending = (await this.redis.lrange(this.pendingKey, 0, -1)).some((raw) => raw.includes(id));
      if (!stillPending) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Retries pending entries every intervalMs (Kafka was down when they were recorded). */
  startRetrying(intervalMs = 5_000): void {
    if (!this.opts.record) return;
    this.timer = setInterval(() => void this.flush().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Sends every pending entry, in order, under the lock; one flush at a time per process. */
  flush(): Promise<void> {
    this.flushing ??= this.locked(async () => {
      await this.sync(false);
      for (;;) {
        const raw = await this.redis.lindex(this.pendingKey, 0);
        if (raw === null) return;
        const base = parseEntry(raw);
        if (!base) {
          await this.redis.lpop(this.pendingKey);
          continue;
        }
        const headRaw = await this.redis.get(this.headKey);
        const [seqText = '0', prev = ''] = headRaw ? headRaw.split(' ') : [];
        const { seq: _s, prev: _p, hash: _h, ...content } = base;
        const unsigned = { ...content, seq: Number(seqText) + 1, prev };
        const full: AuditEntry = { ...unsigned, hash: entryHash(unsigned, this.mac) };
        const offset = await this.opts.record!.send(full);
        await this.redis.eval(SENT, 3, this.key, this.headKey, this.pendingKey, JSON.stringify(full), `${full.seq} ${full.hash} ${offset}`, this.keep, raw);
        this.sent.set(full.id, full);
      }
    })
      .then(() => undefined)
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /**
   * Restores the Redis view from the record (the newest AUDIT_VIEW_RESTORE entries and the head) when it is missing
   * or behind the topic; returns the entries written back. What the view keeper (state/view.ts) calls after a wipe.
   */
  async restoreView(): Promise<number> {
    if (!this.opts.record) return 0;
    let n = 0;
    await this.locked(async () => {
      n = await this.sync(true);
    });
    return n;
  }

  /** Under the lock: makes the head match the topic's newest entry; `full` (or a missing head) also refills the view. */
  private async sync(full: boolean): Promise<number> {
    const record = this.opts.record!;
    const headRaw = await this.redis.get(this.headKey);
    const { low, high } = await record.offsets();
    const headOffset = headRaw?.split(' ')[2];
    if (headRaw && headOffset !== undefined && BigInt(headOffset) + 1n === high && !full) return 0;
    if (high <= low) {
      if (headRaw) await this.redis.del(this.headKey);
      return 0;
    }
    const refill = full || headRaw === null;
    const from = refill ? (high - BigInt(AUDIT_VIEW_RESTORE) > low ? high - BigInt(AUDIT_VIEW_RESTORE) : low) : high - 1n;
    const got = (await record.read(from, high)).flatMap((m) => {
      const e = parseEntry(m.value);
      return e && e.seq !== undefined && e.hash !== undefined ? [{ e, offset: m.offset, raw: m.value! }] : [];
    });
    const newest = got.at(-1);
    if (!newest) return 0;
    const m = this.redis.multi();
    if (refill) {
      m.del(this.key);
      // Newest first, as appends push them.
      for (let i = 0; i < got.length; i += 1_000) m.lpush(this.key, ...got.slice(i, i + 1_000).map((g) => g.raw));
      m.ltrim(this.key, 0, this.keep - 1);
    } else {
      // The view missed what the topic has past its head (a send whose answer was lost): add it.
      const known = new Set((await this.redis.lrange(this.key, 0, 0)).map((r) => parseEntry(r)?.id));
      if (!known.has(newest.e.id)) m.lpush(this.key, newest.raw).ltrim(this.key, 0, this.keep - 1);
    }
    m.set(this.headKey, `${newest.e.seq} ${newest.e.hash} ${newest.offset}`);
    await m.exec();
    return refill ? got.length : 0;
  }

  private async locked<T>(work: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
      if ((await this.redis.set(this.lockKey, this.instance, 'PX', AUDIT_LOCK_TTL_MS, 'NX')) === 'OK') break;
      if (Date.now() > deadline) throw new Error(`audit: another process has held ${this.lockKey} for over ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, wait));
    }
    const renew = setInterval(() => void this.redis.eval(RENEW, 1, this.lockKey, this.instance, AUDIT_LOCK_TTL_MS).catch(() => undefined), AUDIT_LOCK_TTL_MS / 3);
    try {
      return await work();
    } finally {
      clearInterval(renew);
      await this.redis.eval(UNLOCK, 1, this.lockKey, this.instance).catch(() => undefined);
    }
  }

  private async appendRedisOnly(base: AuditEntry): Promise<AuditEntry> {
    for (;;) {
      const head = (await this.redis.get(this.headKey)) ?? '';
      const [seqText = '0', prev = ''] = head ? head.split(' ') : [];
      const unsigned = { ...base, seq: Number(seqText) + 1, prev };
      const full: AuditEntry = { ...unsigned, hash: entryHash(unsigned, this.mac) };
      const ok = await this.redis.eval(APPEND, 2, this.key, this.headKey, head, `${full.seq} ${full.hash}`, JSON.stringify(full), this.keep);
      if (ok === 1) return full;
    }
  }

  /** Resolves once every action recorded so far is in the record (or Kafka refused it: it stays pending). */
  async flushed(): Promise<void> {
    await this.tail;
    if (this.opts.record && (await this.redis.llen(this.pendingKey)) > 0) await this.flush().catch(() => undefined);
  }

  /** Actions recorded but not yet in the record (Kafka was unreachable). */
  pending(): Promise<number> {
    return this.redis.llen(this.pendingKey);
  }

  /** A failed login or another authentication event: its own capped list, apart from the actions. */
  async recordAuth(entry: AuditInput): Promise<AuditEntry> {
    const full: AuditEntry = { id: randomUUID(), at: Date.now(), ...entry };
    await this.redis.multi().lpush(this.authKey, JSON.stringify(full)).ltrim(this.authKey, 0, this.keepAuth - 1).exec();
    return full;
  }

  /** Actions, newest first (from the view). */
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

  /**
   * With a record: reads the audit topic end to end and checks the whole chain from seq 1 (an old end cut off by
   * retention or deletion is a problem, named). Without: the chain kept in the Redis list, against its head.
   */
  async verify(): Promise<AuditVerdict> {
    const record = this.opts.record;
    if (record) {
      const { low, high } = await record.offsets();
      const values = high > low ? await record.read(low, high) : [];
      return verifyChain(
        values.map((m) => parseEntry(m.value)),
        this.mac,
        { complete: true },
      );
    }
    const snap = await this.redis.multi().get(this.headKey).llen(this.key).exec();
    const head = (snap?.[0]?.[1] as string | null) ?? null;
    const len = Number(snap?.[1]?.[1] ?? 0);
    const entries: Array<AuditEntry | undefined> = [];
    const page = 5_000;
    for (let start = 0; start < len; start += page) {
      const end = Math.min(len, start + page) - 1;
      for (const raw of await this.redis.lrange(this.key, start - len, end - len)) entries.push(parseEntry(raw));
    }
    return verifyChain(entries.reverse(), this.mac, { complete: false, head });
  }
}

/** The audit log as every process of the project opens it: the chain on the [audit] topic, signed with the configured key. */
export function openAuditLog(config: Config, redis: Redis, kafka: Kafka, opts: { ensure?: () => Promise<void>; instanceId?: string } = {}): { audit: AuditLog; close: () => Promise<void> } {
  const record = kafkaAuditRecord(kafka, config.topics.audit, opts.ensure ? { ensure: opts.ensure } : {});
  const audit = new AuditLog(redis, config.redis.keyPrefix, { key: auditHmacKey(config).key, record, ...(opts.instanceId ? { instanceId: opts.instanceId } : {}) });
  return {
    audit,
    close: async () => {
      audit.stop();
      await record.close();
    },
  };
}
