import type { Redis } from 'ioredis';
import type { Transaction } from '../../core/contracts.ts';
import { FraudstreamError, ErrorCodes } from '../../core/errors.ts';
import type { FeatureStore, FeatureVector } from '../types.ts';
import { LIMITS, cardStateSize, decodeCardStateAt, emptyCardState, encodeCardStateInto, resetCardState, type CardState } from '../pure/card-state.ts';
import { decodeHistoryEntry, encodeHistoryEntryInto, historyEntrySize, lastBefore, runBatch, type HistoryEntry } from '../pure/batch.ts';
import { defaultFeatureContext, featureVector, type FeatureContext } from '../pure/features.ts';
import { featureCardKey } from '../../state/features.ts';

/**
 * Reads state, version and TTL-refresh time of every card key in one call and returns them packed in one string,
 * per card [version f64][ttl set at f64][state length u32][state]: one reply buffer to slice instead of a nested
 * array of small replies.
 */
const READ_LUA = `
local out = {}
for i, k in ipairs(KEYS) do
  local r = redis.call('HMGET', k, 's', 'v', 'e')
  local s = r[1] or ''
  out[2 * i - 1] = struct.pack('<ddI4', tonumber(r[2]) or 0, tonumber(r[3]) or 0, #s)
  out[2 * i] = s
end
return table.concat(out)
`;

/**
 * Writes each card's new state and history ring slots if nobody wrote the card since we read it (optimistic
 * concurrency on a version counter); returns 1 (written) or 0 (conflict) per key.
 * ARGV[1] = ttl, ARGV[2] = now (s), ARGV[3] = one buffer, per key: [expected version f64][state length u32]
 * [slot count u8][refresh ttl u8][state] then per slot [slot u8][entry length u32][entry]. One argument instead of
 * thousands: the client encodes one buffer and Redis parses one bulk string. The TTL is refreshed (and its time
 * kept in field e) only when the client asks, about every ttl/64, not on every write.
 */
const WRITE_LUA = `
local ttl = tonumber(ARGV[1])
local now = ARGV[2]
local buf = ARGV[3]
local H = {}
for j = 0, 31 do H[j] = 'h' .. j end
local out = {}
local pos = 1
for i, k in ipairs(KEYS) do
  local expected, slen, n, refresh
  expected, slen, n, refresh, pos = struct.unpack('<dI4BB', buf, pos)
  local state = string.sub(buf, pos, pos + slen - 1)
  pos = pos + slen
  local v = tonumber(redis.call('HGET', k, 'v') or '0')
  local ok = v == expected
  if n == 1 and refresh == 0 then
    -- the common case (one new transaction on a card whose TTL is fresh) without building an argument table
    local slot, elen
    slot, elen, pos = struct.unpack('<BI4', buf, pos)
    if ok then redis.call('HSET', k, 'v', v + 1, 's', state, H[slot], string.sub(buf, pos, pos + elen - 1)) end
    pos = pos + elen
  else
    local args = {'v', v + 1, 's', state}
    if refresh == 1 then
      args[#args + 1] = 'e'
      args[#args + 1] = now
    end
    for j = 1, n do
      local slot, elen
      slot, elen, pos = struct.unpack('<BI4', buf, pos)
      args[#args + 1] = H[slot]
      args[#args + 1] = string.sub(buf, pos, pos + elen - 1)
      pos = pos + elen
    end
    if ok then
      redis.call('HSET', k, unpack(args))
      if refresh == 1 then redis.call('EXPIRE', k, ttl) end
    end
  end
  out[i] = ok and 1 or 0
end
return out
`;

const READ = 'fraudstreamFeatureReadV2';
/** Bounds the reused card states kept between passes (a few batches' worth). */
const MAX_SPARE_STATES = 8_192;
const WRITE = 'fraudstreamFeatureWriteV2';

/** ioredis adds a `<name>Buffer` twin to every defined command: replies stay binary. */
const READ_BUFFER = `${READ}Buffer` as const;

/** The defined scripts as pipeline methods (they queue; exec() sends them all). */
interface Scripts {
  [READ_BUFFER](keyCount: number, ...keys: string[]): void;
  [WRITE](keyCount: number, ...args: Array<string | number | Buffer>): void;
}

type Pipe = Scripts & { exec(): Promise<Array<[Error | null, unknown]> | null> };

export interface RedisFeatureStoreOptions {
  /** config.redis.keyPrefix */
  keyPrefix: string;
  ctx?: FeatureContext;
  /**
   * Idle card state expires this many seconds after its last write (0 keeps it forever). The TTL is refreshed at
   * most every ttl/64 (an EXPIRE per write costs more than the rest of it), so a card expires between 98.4% and 100%
   * of this after its last write.
   */
  ttlSeconds?: number;
  /** Wall clock in seconds (tests move it). */
  nowSeconds?: () => number;
  /** Optimistic-write attempts when another writer touched the same card mid-batch. */
  maxAttempts?: number;
  /**
   * Cards per script call. Default: the whole batch in one call (a single Redis). Redis Cluster runs a script only
   * on keys of one hash slot, so there set 1: one call per card, still pipelined into one round trip.
   */
  cardsPerScript?: number;
}

/**
 * The online store. A batch costs two round trips whatever its size (read every card's state, write every changed
 * card), plus one more only when it holds transactions applied by an earlier batch (their first vector is read
 * back from history).
 *
 * One hash per card, `<prefix>feat:{<cardId>}` (hash-tagged by card for Redis Cluster): field s = packed state,
 * v = write version, h0..h31 = a ring of packed [txKey, ts, seq, vector] history entries (slot = seq mod 32).
 */
export class RedisFeatureStore implements FeatureStore {
  private readonly ctx: FeatureContext;
  private readonly ttl: number;
  private readonly refreshAfter: number;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly perScript: number;
  /** Cards whose optimistic write lost to another writer and were recomputed (a metric, not an error). */
  conflicts = 0;
  /** Card state objects from finished passes, decoded into again by the next (concurrent passes take different ones). */
  private readonly spare: CardState[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisFeatureStoreOptions,
  ) {
    this.ctx = opts.ctx ?? defaultFeatureContext;
    this.ttl = opts.ttlSeconds ?? 90 * 24 * 3600;
    this.refreshAfter = Math.max(1, Math.floor(this.ttl / 64));
    this.now = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.perScript = Math.max(1, opts.cardsPerScript ?? Infinity);
    if (!(READ in redis)) redis.defineCommand(READ, { lua: READ_LUA });
    if (!(WRITE in redis)) redis.defineCommand(WRITE, { lua: WRITE_LUA });
  }

  cardKey(cardId: string): string {
    return featureCardKey(this.opts.keyPrefix, cardId);
  }

  async computeAndApply(txs: Transaction[]): Promise<FeatureVector[]> {
    const out: FeatureVector[] = new Array(txs.length);
    let pending = txs.map((_, i) => i);
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > this.maxAttempts) {
        throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `feature store: cards kept changing under us after ${this.maxAttempts} attempts`);
      }
      pending = await this.attempt(txs, pending, out);
    }
    return out;
  }

  /** One optimistic pass over `indices`; returns the indices whose cards must be retried. */
  private async attempt(txs: Transaction[], indices: number[], out: FeatureVector[]): Promise<number[]> {
    const batch = indices.map((i) => txs[i]);
    const slot = new Map<string, number>();
    const cards: string[] = [];
    const keys: string[] = [];
    for (const tx of batch) {
      if (slot.has(tx.cardId)) continue;
      slot.set(tx.cardId, cards.length);
      cards.push(tx.cardId);
      keys.push(this.cardKey(tx.cardId));
    }
    const read = this.redis.pipeline() as unknown as Pipe;
    for (let i = 0; i < keys.length; i += this.perScript) {
      const chunk = this.perScript >= keys.length ? keys : keys.slice(i, i + this.perScript);
      read[READ_BUFFER](chunk.length, ...chunk);
    }
    const states: CardState[] = new Array(cards.length);
    const versions = new Float64Array(cards.length);
    const ttlSetAt = new Float64Array(cards.length);
    let c = 0;
    for (const packed of checked(await read.exec()) as Buffer[]) {
      const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
      for (let o = 0; o < packed.length; c++) {
        versions[c] = packed.readDoubleLE(o);
        ttlSetAt[c] = packed.readDoubleLE(o + 8);
        const len = packed.readUInt32LE(o + 16);
        o += 20;
        const state = this.spare.pop() ?? emptyCardState();
        states[c] = len > 0 ? decodeCardStateAt(dv, o, state) : resetCardState(state);
        o += len;
      }
    }

    try {
      return await this.finish(txs, indices, out, batch, slot, keys, states, versions, ttlSetAt);
    } finally {
      // Card states never leave a pass: their arrays are reused by the next one (less garbage per batch).
      if (this.spare.length < MAX_SPARE_STATES) this.spare.push(...states);
    }
  }

  private async finish(
    txs: Transaction[],
    indices: number[],
    out: FeatureVector[],
    batch: Transaction[],
    slot: Map<string, number>,
    keys: string[],
    states: CardState[],
    versions: Float64Array,
    ttlSetAt: Float64Array,
  ): Promise<number[]> {
    const outcome = runBatch(batch, (cardId) => states[slot.get(cardId)!], this.ctx);

    if (outcome.lookups.length > 0) {
      const lookupCards = [...new Set(outcome.lookups.map((l) => l.cardId))];
      const hist = this.redis.pipeline();
      for (const c of lookupCards) hist.hgetallBuffer(this.cardKey(c));
      const hashes = checked(await hist.exec()) as Array<Record<string, Buffer>>;
      const byCard = new Map(lookupCards.map((c, i) => [c, historyOf(hashes[i])]));
      for (const { index, cardId, key } of outcome.lookups) {
        const found = byCard.get(cardId)?.find((e) => e.key === key);
        outcome.vectors[index] = found ? found.vector : featureVector(states[slot.get(cardId)!], batch[index], this.ctx);
      }
    }

    const changed = [...outcome.changed];
    const write = this.redis.pipeline() as unknown as Pipe;
    const now = this.now();
    for (let from = 0; from < changed.length; from += this.perScript) {
      const to = Math.min(changed.length, from + this.perScript);
      let size = 0;
      for (let j = from; j < to; j++) {
        const change = changed[j][1];
        size += 14 + cardStateSize(change.state);
        for (const e of change.appended) size += 5 + historyEntrySize(e);
      }
      const buf = Buffer.allocUnsafe(size);
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let o = 0;
      const args: Array<string | number | Buffer> = new Array(to - from + 3);
      for (let j = from; j < to; j++) {
        const [cardId, change] = changed[j];
        const c = slot.get(cardId)!;
        args[j - from] = keys[c];
        const stateStart = o + 14;
        const stateEnd = encodeCardStateInto(change.state, dv, stateStart);
        dv.setFloat64(o, versions[c], true);
        dv.setUint32(o + 8, stateEnd - stateStart, true);
        dv.setUint8(o + 12, change.appended.length);
        dv.setUint8(o + 13, this.ttl > 0 && !(now - ttlSetAt[c] < this.refreshAfter) ? 1 : 0);
        o = stateEnd;
        for (const e of change.appended) {
          dv.setUint8(o, e.seq % LIMITS.applied);
          const end = encodeHistoryEntryInto(e, dv, o + 5);
          dv.setUint32(o + 1, end - o - 5, true);
          o = end;
        }
      }
      args[to - from] = this.ttl;
      args[to - from + 1] = now;
      args[to - from + 2] = buf;
      write[WRITE](to - from, ...args);
    }
    const replies = changed.length > 0 ? (checked(await write.exec()) as number[][]) : [];
    let conflicted: Set<string> | undefined;
    let j = 0;
    for (const reply of replies) {
      for (const ok of reply) {
        if (ok !== 1) (conflicted ??= new Set()).add(changed[j][0]);
        j++;
      }
    }
    const retry: number[] = [];
    if (conflicted) this.conflicts += conflicted.size;
    for (let k = 0; k < indices.length; k++) {
      const txIndex = indices[k];
      if (conflicted?.has(txs[txIndex].cardId)) retry.push(txIndex);
      else out[txIndex] = outcome.vectors[k]!;
    }
    return retry;
  }

  async history(cardId: string, k: number, beforeTs?: number): Promise<FeatureVector[]> {
    if (k <= 0) return [];
    const hash = await this.redis.hgetallBuffer(this.cardKey(cardId));
    return lastBefore(historyOf(hash), k, beforeTs).map((e) => e.vector);
  }
}

/** The history ring of a card's hash, oldest first. */
function historyOf(hash: Record<string, Buffer>): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const [field, value] of Object.entries(hash)) if (field.startsWith('h')) entries.push(decodeHistoryEntry(value));
  return entries.sort((a, b) => a.seq - b.seq);
}

function checked(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, 'redis pipeline was discarded');
  return results.map(([err, value]) => {
    if (err) throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `feature store: ${err.message}`, { cause: err });
    return value;
  });
}
