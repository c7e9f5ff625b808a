import type { Redis } from 'ioredis';
import { familyPrefix } from '../core/redis.ts';
import { CaseSchema, type Case } from '../core/contracts.ts';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import type { ReviewQueue } from './types.ts';
import { OUTBOX_MAX } from './ui.ts';
import type { Restored } from './view.ts';

/**
 * Review queue: `<prefix>review:open` (sorted set, the queue), `review:opened` (the same open cases scored by
 * creation time, so the oldest one's age against the SLA is one read), `review:closed` (sorted
 * set of recent verdicts, capped at REVIEW_CLOSED_KEEP by default), `review:case:<caseId>` (each case's JSON).
 * The open queue is bounded by the policy's review capacity, enforced by the escalate stage.
 */
export const REVIEW_CLOSED_KEEP = 1000;
/**
 * A case's JSON lives while it is open (the open queue is bounded by review capacity) and this long after its
 * verdict: the audit, the labels topic and the decisions topic keep the lasting record. It is a record view, so it has
 * no TTL (Redis' volatile-lru would evict it, and nothing would bring it back while the view's marker stays): the ops
 * service's case sweep (router/ops/case-records.ts) tombstones it in the record past this time and deletes it here.
 */
export const CLOSED_CASE_TTL_SECONDS = 30 * 24 * 3600;

/**
 * A closed case past CLOSED_CASE_TTL_SECONDS since its verdict (or with no verdict time) is gone from the view, and from
 * the record too: the ops service tombstones it in the case-state topic (router/ops/case-records.ts), so compaction
 * removes it and the record holds the open cases and the verdicts of the last CLOSED_CASE_TTL_SECONDS, not every case ever.
 */
export const closedCaseOutlived = (c: Pick<Case, 'status' | 'closedAt'>, now: number): boolean => c.status !== 'open' && (c.closedAt ?? 0) + CLOSED_CASE_TTL_SECONDS * 1000 <= now;

/** The review family's keys on this client: on Redis Cluster in one slot (`<prefix>{review}:review:...`), as CLOSE needs. */
export const reviewKeysOf = (redis: Redis, prefix: string) => reviewKeys(familyPrefix(redis, prefix, 'review'));

export const reviewKeys = (prefix: string) => ({
  open: `${prefix}review:open`,
  opened: `${prefix}review:opened`,
  closed: `${prefix}review:closed`,
  case: (caseId: string): string => `${prefix}review:case:${caseId}`,
  /** Who works a case now: the holder's name, expiring CLAIM_TTL_MS after the last claim or renewal (state/case-claims.ts). */
  claim: (caseId: string): string => `${prefix}review:claim:${caseId}`,
  /**
   * The ground truth that came back for a case's transaction (a chargeback label: "1|labeledAt" fraud, "0|labeledAt"
   * legitimate), kept as long as a closed case (CLOSED_CASE_TTL_SECONDS) and only for transactions that have a case:
   * what the Shift page compares analysts' verdicts with.
   */
  truth: (caseId: string): string => `${prefix}review:truth:${caseId}`,
  /** Held (SET NX PX) by the ops member that sweeps the case record this period: one sweep per period for all members. */
  recordSweep: `${prefix}review:record-sweep`,
});

/** Escalate names a transaction's case `case-<txId>` (router/escalate-stage.ts); labels and decisions carry only the tx id. */
export const caseIdOfTx = (txId: string): string => `case-${txId}`;

// KEYS: case key, truth key. ARGV: value, ttl. Only for a transaction that has a case.
const TRUTH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1`;

/**
 * Queue order in one sorted-set score, ascending = most urgent first: expected loss (higher first), then creation
 * time in ms (older first). The loss goes into one of LOSS_BUCKETS log-scale buckets (25 per doubling: cases
 * within ~3% of each other share a bucket and are taken oldest first; 2^40 minor units tops the scale), so
 * 1001 buckets * 2^41 ms stays below 2^53 and the score is exact (until 2039).
 */
const AGE_SPAN = 2 ** 41;
const LOSS_BUCKETS = 1000;
const BUCKETS_PER_DOUBLING = 25;
export function queueScore(expectedLossMinor: number, createdAt: number): number {
  const bucket = Math.min(LOSS_BUCKETS, Math.round(Math.log2(1 + Math.max(0, expectedLossMinor)) * BUCKETS_PER_DOUBLING));
  return (LOSS_BUCKETS - bucket) * AGE_SPAN + Math.min(createdAt, AGE_SPAN - 1);
}

/** What a case's place in the queue rests on: its expected loss, or for a case opened before it was recorded, p x amount. */
export const queueLoss = (c: Pick<Case, 'expectedLoss' | 'risk' | 'tx'>): number => c.expectedLoss ?? c.risk * c.tx.amountMinor;

// KEYS: case key, open set, opened set. ARGV: case JSON, score, caseId, createdAt. Idempotent per caseId: a known
// case (open or closed) is left alone.
const ENQUEUE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  return 1
end
return 0`;

// KEYS: open set, case key, closed set, opened set, claim key[, outbox list]. ARGV: caseId, closed case JSON, closedAt,
// outbox cap, analyst[, outbox items...]. The closed case has no TTL (a record view: swept by the ops service). ZREM
// is the once-only gate: of two concurrent verdicts exactly one removes the member and writes. A case another analyst holds (state/case-claims.ts) is refused before anything
// changes: {-2, holder}; an unheld case may be decided by anyone (its claim lapsed or it was never opened). A full
// outbox (Kafka gone for long) refuses the verdict before anything changes: {-1}. The claim goes with the case.
const CLOSE = `
if #KEYS >= 6 and redis.call('LLEN', KEYS[6]) >= tonumber(ARGV[4]) then return {-1, ''} end
local holder = redis.call('GET', KEYS[5])
if holder and holder ~= ARGV[5] and redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {-2, holder} end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('DEL', KEYS[5])
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  if #KEYS >= 6 then
    for i = 6, #ARGV do redis.call('RPUSH', KEYS[6], ARGV[i]) end
  end
  return {1, ''}
end
return {0, ''}`;

// KEYS: case key, open set, opened set, closed set. ARGV: case JSON, status, queue score, caseId, createdAt, closedAt.
// No TTL, open or closed (record views). A recorded case written back after a wipe: only when Redis does not hold the
// case (NX), so a case opened or decided since the restore read its topic is never overwritten. A case Redis holds open is put back in the
// queue's sets if a partial loss took it out of them (state/view.ts restores again then).
const RESTORE = `
if ARGV[2] == 'open' then
  if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
    redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
    return 1
  end
  local ok, c = pcall(cjson.decode, redis.call('GET', KEYS[1]) or '')
  if ok and type(c) == 'table' and c.status == 'open' then
    if redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[4]) + redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[4]) > 0 then return 1 end
  end
  return 0
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[4])
  return 1
end
return 0`;

/**
 * Writes recorded cases (the compacted case-state topic: each case as last written, open by escalate or closed by a
 * verdict) back into the review queue: every open case, and the closed ones still within CLOSED_CASE_TTL_SECONDS
 * (the newest `closedKeep` in the recent list). Returns how many were written, and the keys of the open cases (the view
 * keeper checks they stay, state/view.ts). Claims and ground truth are not recorded: after a wipe nobody holds a case,
 * and chargebacks arriving from then on are recorded again.
 */
export async function restoreCases(redis: Redis, prefix: string, entries: ReadonlyArray<{ value: string }>, now = Date.now(), closedKeep = REVIEW_CLOSED_KEEP): Promise<Restored> {
  const k = reviewKeysOf(redis, prefix);
  let n = 0;
  const batch: Array<{ c: Case; raw: string }> = [];
  for (const e of entries) {
    let c: Case | undefined;
    try {
      c = CaseSchema.safeParse(JSON.parse(e.value)).data;
    } catch {
      c = undefined;
    }
    if (!c) continue;
    if (closedCaseOutlived(c, now)) continue;
    batch.push({ c, raw: e.value });
  }
  for (let i = 0; i < batch.length; i += 500) {
    const p = redis.pipeline();
    for (const { c, raw } of batch.slice(i, i + 500)) {
      p.eval(RESTORE, 4, k.case(c.caseId), k.open, k.opened, k.closed, raw, c.status, String(queueScore(queueLoss(c), c.createdAt)), c.caseId, String(c.createdAt), String(c.closedAt ?? now));
    }
    for (const [err, v] of (await p.exec()) ?? []) {
      if (err) throw err;
      if (v === 1) n += 1;
    }
  }
  if (closedKeep > 0) await redis.zremrangebyrank(k.closed, 0, -closedKeep - 1);
  // Held (checked for a partial loss, state/view.ts): the open cases only. A closed case is deleted on purpose once its
  // time is up (the ops sweep, the case view writer reading its tombstone): held, that would look like a loss.
  const keys = batch.filter(({ c }) => c.status === 'open').map(({ c }) => k.case(c.caseId));
  return { restored: n, keys };
}

// KEYS: case key, open set, opened set, closed set. ARGV: closed case JSON, caseId, closedAt. No TTL (a record view).
// A closed case read from the record: the view follows it unless the view already holds the case closed (the console
// closed it there first). Replaying a topic from its start (an open record, then its verdict) so ends closed, never
// reopened.
const APPLY_CLOSED = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, c = pcall(cjson.decode, cur)
  if ok and type(c) == 'table' and c.status ~= 'open' then return 0 end
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
return 1`;

// KEYS: case key, open set, opened set, closed set. ARGV: caseId. A closed record past CLOSED_CASE_TTL_SECONDS: the case
// leaves every set and its JSON goes (a replay's earlier open record of it included). Answers 1 when Redis held it.
const DROP_OUTLIVED = `
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return redis.call('DEL', KEYS[1])`;

/**
 * Applies committed case records (the case-state topic, read in order by the case view writer, router/case-view.ts)
 * to the review queue: an open case is enqueued unless Redis knows it already (open or closed); a closed one closes
 * the view's copy unless the view holds it closed already; one past CLOSED_CASE_TTL_SECONDS is forgotten instead.
 * Each is stored as the record's bytes (as the restore does). Redelivery writes nothing new. Returns how many cases
 * changed in Redis.
 */
export async function applyCaseRecords(redis: Redis, prefix: string, values: ReadonlyArray<string>, now = Date.now(), closedKeep = REVIEW_CLOSED_KEEP): Promise<number> {
  const records: CaseRecord[] = [];
  for (const raw of values) {
    let c: Case | undefined;
    try {
      c = CaseSchema.safeParse(JSON.parse(raw)).data;
    } catch {
      c = undefined;
    }
    if (c) records.push({ c, raw });
  }
  return applyCases(redis, prefix, records, now, closedKeep);
}

/** A case and the bytes of its record (what the view stores). */
export interface CaseRecord {
  c: Case;
  raw: string;
}

/**
 * applyCaseRecords for cases already in hand with their record's bytes (escalate after its commit: the cases it built,
 * not parsed back from its own output).
 */
export async function applyCases(redis: Redis, prefix: string, records: ReadonlyArray<CaseRecord>, now = Date.now(), closedKeep = REVIEW_CLOSED_KEEP): Promise<number> {
  if (records.length === 0) return 0;
  const k = reviewKeysOf(redis, prefix);
  const p = redis.pipeline();
  let closed = 0;
  for (const { c, raw } of records) {
    if (c.status === 'open') {
      p.eval(ENQUEUE, 3, k.case(c.caseId), k.open, k.opened, raw, String(queueScore(queueLoss(c), c.createdAt)), c.caseId, String(c.createdAt));
      continue;
    }
    closed += 1;
    const closedAt = c.closedAt ?? now;
    // Past its time (a topic replayed from its start before the sweep's tombstone): out of the view, as the sweep would.
    if (closedCaseOutlived({ status: c.status, closedAt }, now)) p.eval(DROP_OUTLIVED, 4, k.case(c.caseId), k.open, k.opened, k.closed, c.caseId);
    else p.eval(APPLY_CLOSED, 4, k.case(c.caseId), k.open, k.opened, k.closed, raw, c.caseId, String(closedAt));
  }
  let n = 0;
  for (const [err, v] of (await p.exec()) ?? []) {
    if (err) throw err;
    if (v === 1) n += 1;
  }
  if (closed > 0 && closedKeep > 0) await redis.zremrangebyrank(k.closed, 0, -closedKeep - 1);
  return n;
}

// KEYS: case key, closed set. ARGV: caseId. A tombstone in the record: the case is gone, unless the view holds it open
// (a record written after the tombstone, applied by escalate itself before this writer read the tombstone).
const FORGET = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, c = pcall(cjson.decode, cur)
  if ok and type(c) == 'table' and c.status == 'open' then return 0 end
end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])`;

/** Applies tombstones of the case-state topic (closed cases past their time) to the view: returns how many it removed. */
export async function forgetCases(redis: Redis, prefix: string, caseIds: ReadonlyArray<string>): Promise<number> {
  if (caseIds.length === 0) return 0;
  const k = reviewKeysOf(redis, prefix);
  const p = redis.pipeline();
  for (const id of caseIds) p.eval(FORGET, 2, k.case(id), k.closed, id);
  let n = 0;
  for (const [err, v] of (await p.exec()) ?? []) {
    if (err) throw err;
    n += Number(v);
  }
  return n;
}

/** A verdict (or a claim) on a case another analyst holds: the route answers 409 with the holder's name. */
export class CaseHeldError extends Error {
  constructor(
    readonly caseId: string,
    readonly holder: string,
  ) {
    super(`case ${caseId} is being worked by ${holder}; only the holder can decide it (an admin can release it)`);
    this.name = 'CaseHeldError';
  }
}

export interface CloseOptions {
  /**
   * Messages appended to a Redis list in the same atomic step as the close, so what must follow a verdict
   * (a label, a final decision) cannot be lost between closing the case and publishing it.
   */
  outbox?: { key: string; items: (closed: Case) => string[]; max?: number };
}

export interface ReviewQueueOptions {
  /** Closed cases kept for the UI's "recently closed" list. */
  closedKeep?: number;
}

/** Cases as JSON strings in Redis (keys: state/review.ts): the open sorted set is the queue, the closed one the recent verdicts. */
export class RedisReviewQueue implements ReviewQueue {
  private readonly openKey: string;
  private readonly closedKey: string;
  private readonly closedKeep: number;
  private readonly keys: ReturnType<typeof reviewKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    options: ReviewQueueOptions = {},
  ) {
    this.keys = reviewKeysOf(redis, prefix);
    this.openKey = this.keys.open;
    this.closedKey = this.keys.closed;
    this.closedKeep = options.closedKeep ?? REVIEW_CLOSED_KEEP;
  }

  private caseKey(caseId: string): string {
    return this.keys.case(caseId);
  }

  async enqueue(c: Case): Promise<void> {
    const parsed = CaseSchema.parse(c);
    if (parsed.status !== 'open') throw new Error(`enqueue takes open cases; ${parsed.caseId} is ${parsed.status}`);
    await this.redis.eval(
      ENQUEUE,
      3,
      this.caseKey(parsed.caseId),
      this.openKey,
      this.keys.opened,
      JSON.stringify(parsed),
      String(queueScore(queueLoss(parsed), parsed.createdAt)),
      parsed.caseId,
      String(parsed.createdAt),
    );
  }

  async listOpen(limit: number): Promise<Case[]> {
    const ids = await this.redis.zrange(this.openKey, 0, Math.max(0, limit) - 1);
    return this.getMany(ids);
  }

  /** Most recently closed first. */
  async listClosed(limit: number): Promise<Case[]> {
    const ids = await this.redis.zrevrange(this.closedKey, 0, Math.max(0, limit) - 1);
    return this.getMany(ids);
  }

  async openCount(): Promise<number> {
    return this.redis.zcard(this.openKey);
  }

  /**
   * When the oldest open case was opened (undefined when none is open): what the Live page measures against the
   * SLA. Cases enqueued before `review:opened` existed are not in it; while any are open, the open cases are read.
   */
  async oldestOpenAt(): Promise<number | undefined> {
    const [open, opened, oldest] = await Promise.all([this.redis.zcard(this.openKey), this.redis.zcard(this.keys.opened), this.redis.zrange(this.keys.opened, 0, 0, 'WITHSCORES')]);
    if (open === 0) return undefined;
    if (opened >= open && oldest[1] !== undefined) return Number(oldest[1]);
    const all = await this.listOpen(open);
    return all.length ? Math.min(...all.map((c) => c.createdAt)) : undefined;
  }

  async get(caseId: string): Promise<Case | undefined> {
    const raw = await this.redis.get(this.caseKey(caseId));
    return raw === null ? undefined : CaseSchema.parse(JSON.parse(raw));
  }

  async close(
    caseId: string,
    status: 'approved' | 'confirmed_fraud',
    by: string,
    note: string,
    options: CloseOptions = {},
  ): Promise<Case | undefined> {
    // Refused with CaseHeldError when another analyst holds the case (state/case-claims.ts).
    const current = await this.get(caseId);
    if (!current || current.status !== 'open') return undefined;
    const closedAt = Date.now();
    const closed: Case = { ...current, status, closedAt, closedBy: by, ...(note ? { note } : {}) };
    const outbox = options.outbox;
    const keys = [this.openKey, this.caseKey(caseId), this.closedKey, this.keys.opened, this.keys.claim(caseId), ...(outbox ? [outbox.key] : [])];
    const args = [caseId, JSON.stringify(CaseSchema.parse(closed)), String(closedAt), String(outbox?.max ?? OUTBOX_MAX), by, ...(outbox ? outbox.items(closed) : [])];
    const [won, holder] = (await this.redis.eval(CLOSE, keys.length, ...keys, ...args)) as [number, string];
    if (won === -2) throw new CaseHeldError(caseId, holder);
    if (won === -1) {
      throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `verdict not recorded: ${outbox?.max ?? OUTBOX_MAX} verdicts already wait for Kafka (is it down?); try again once they are published`);
    }
    if (won !== 1) return undefined;
    if (this.closedKeep > 0) await this.redis.zremrangebyrank(this.closedKey, 0, -this.closedKeep - 1);
    return closed;
  }

  /** Records chargeback labels of transactions that have a case (others are ignored); returns how many were kept. */
  async recordGroundTruth(labels: ReadonlyArray<{ txId: string; isFraud: boolean; labeledAt: number; source: string }>): Promise<number> {
    const chargebacks = labels.filter((l) => l.source === 'chargeback');
    if (chargebacks.length === 0) return 0;
    const p = this.redis.pipeline();
    for (const l of chargebacks) {
      const caseId = caseIdOfTx(l.txId);
      p.eval(TRUTH, 2, this.caseKey(caseId), this.keys.truth(caseId), `${l.isFraud ? 1 : 0}|${l.labeledAt}`, CLOSED_CASE_TTL_SECONDS);
    }
    const res = (await p.exec()) ?? [];
    return res.filter(([, v]) => v === 1).length;
  }

  /** The ground truth recorded for these cases (absent: none came back yet). */
  async groundTruth(caseIds: readonly string[]): Promise<Map<string, { isFraud: boolean; labeledAt: number }>> {
    const out = new Map<string, { isFraud: boolean; labeledAt: number }>();
    if (caseIds.length === 0) return out;
    const raws = await this.redis.mget(caseIds.map((id) => this.keys.truth(id)));
    raws.forEach((raw, i) => {
      if (!raw) return;
      const [flag, at] = raw.split('|');
      out.set(caseIds[i] as string, { isFraud: flag === '1', labeledAt: Number(at) });
    });
    return out;
  }

  private async getMany(ids: string[]): Promise<Case[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.caseKey(id)));
    return raws.flatMap((raw) => (raw === null ? [] : [CaseSchema.parse(JSON.parse(raw))]));
  }
}
