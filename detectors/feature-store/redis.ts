import type { Redis } from 'ioredis';
import type { Transaction } from '../../core/contracts.ts';
import { FraudstreamError, ErrorCodes } from '../../core/errors.ts';
import type { FeatureStore, FeatureVector } from '../types.ts';
import { LIMITS, decodeCardState, emptyCardState, encodeCardState, type CardState } from '../pure/card-state.ts';
import { decodeHistoryEntry, encodeHistoryEntry, lastBefore, runBatch, type HistoryEntry } from '../pure/batch.ts';
import { defaultFeatureContext, featureVector, type FeatureContext } from '../pure/features.ts';

/** Reads state and version of every card key in one call: Redis runs N cheap HMGETs, the client sends one command. */
const READ_LUA = `
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HMGET', k, 's', 'v') end
return out
`;

/**
 * Writes each card's new state and history ring slots if nobody wrote the card since we read it (optimistic
 * concurrency on a version counter); returns 1 (written) or 0 (conflict) per key.
 * ARGV: ttl, then per key: expected version, state blob, slot count, slot field/value pairs.
 */
const WRITE_LUA = `
local ttl = tonumber(ARGV[1])
local out = {}
local a = 2
for i, k in ipairs(KEYS) do
  local n = tonumber(ARGV[a + 2])
  local v = tonumber(redis.call('HGET', k, 'v') or '0')
  if v == tonumber(ARGV[a]) then
    redis.call('HSET', k, 'v', v + 1, 's', ARGV[a + 1], unpack(ARGV, a + 3, a + 2 + 2 * n))
    if ttl > 0 then redis.call('EXPIRE', k, ttl) end
    out[i] = 1
  else
    out[i] = 0
  end
  a = a + 3 + 2 * n
end
return out
`;

const READ = 'fraudstreamFeatureRead';
const WRITE = 'fraudstreamFeatureWrite';

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
  /** Idle card state expires after this many seconds (0 keeps it forever). */
  ttlSeconds?: number;
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
  private readonly maxAttempts: number;
  private readonly perScript: number;
  /** Cards whose optimistic write lost to another writer and were recomputed (a metric, not an error). */
  conflicts = 0;

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisFeatureStoreOptions,
  ) {
    this.ctx = opts.ctx ?? defaultFeatureContext;
    this.ttl = opts.ttlSeconds ?? 90 * 24 * 3600;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.perScript = Math.max(1, opts.cardsPerScript ?? Infinity);
    if (!(READ in redis)) redis.defineCommand(READ, { lua: READ_LUA });
    if (!(WRITE in redis)) redis.defineCommand(WRITE, { lua: WRITE_LUA });
  }

  cardKey(cardId: string): string {
    return `${this.opts.keyPrefix}feat:{${cardId}}`;
  }

  async computeAndApply(txs: Transaction[]): Promise<FeatureVector[]> {
    const out: FeatureVector[] = new Array(txs.length);
    let pending = txs.map((_, i) => i);
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > this.maxAttempts) {
        throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `feature store: cards kept changing under us after ${this.maxAttempts} attempts`, {
          retryable: true,
        });
      }
      pending = await this.attempt(txs, pending, out);
    }
    return out;
  }

  private chunks<T>(items: T[]): T[][] {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += this.perScript) out.push(items.slice(i, i + this.perScript));
    return out;
  }

  /** One optimistic pass over `indices`; returns the indices whose cards must be retried. */
  private async attempt(txs: Transaction[], indices: number[], out: FeatureVector[]): Promise<number[]> {
    const batch = indices.map((i) => txs[i]);
    const cards = [...new Set(batch.map((t) => t.cardId))];
    const read = this.redis.pipeline() as unknown as Pipe;
        for (const chunk of this.chunks(cards)) read[READ_BUFFER](chunk.length, ...chunk.map((c) => this.cardKey(c)));
    const replies = (checked(await read.exec()) as Array<Array<[Buffer | null, Buffer | null]>>).flat();
    const loaded = new Map<string, { state: CardState; version: number }>();
    cards.forEach((c, i) => {
      const [blob, version] = replies[i];
      loaded.set(c, { state: blob ? decodeCardState(blob) : emptyCardState(), version: version ? Number(version.toString()) : 0 });
    });

    const outcome = runBatch(batch, (cardId) => loaded.get(cardId)!.state, this.ctx);

    if (outcome.lookups.length > 0) {
      const lookupCards = [...new Set(outcome.lookups.map((l) => l.cardId))];
      const hist = this.redis.pipeline();
      for (const c of lookupCards) hist.hgetallBuffer(this.cardKey(c));
      const hashes = checked(await hist.exec()) as Array<Record<string, Buffer>>;
      const byCard = new Map(lookupCards.map((c, i) => [c, historyOf(hashes[i])]));
      for (const { index, cardId, key } of outcome.lookups) {
        const found = byCard.get(cardId)?.find((e) => e.key === key);
        outcome.vectors[index] = found ? found.vector : featureVector(loaded.get(cardId)!.state, batch[index], this.ctx);
      }
    }

    const changed = [...outcome.changed];
    const write = this.redis.pipeline() as unknown as Pipe;
    for (const chunk of this.chunks(changed)) {
      const args: Array<string | number | Buffer> = chunk.map(([cardId]) => this.cardKey(cardId));
      args.push(this.ttl);
      for (const [cardId, change] of chunk) {
        args.push(loaded.get(cardId)!.version, asBuffer(encodeCardState(change.state)), change.appended.length);
        for (const e of change.appended) args.push(`h${e.seq % LIMITS.applied}`, asBuffer(encodeHistoryEntry(e)));
      }
      write[WRITE](chunk.length, ...args);
    }
    const written = changed.length > 0 ? (checked(await write.exec()) as number[][]).flat() : [];
    const conflicted = new Set(changed.filter((_, i) => written[i] !== 1).map(([cardId]) => cardId));
    this.conflicts += conflicted.size;
    const retry: number[] = [];
    indices.forEach((txIndex, j) => {
      if (conflicted.has(txs[txIndex].cardId)) retry.push(txIndex);
      else out[txIndex] = outcome.vectors[j]!;
    });
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

/** A Buffer view of the bytes (no copy). */
function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function checked(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, 'redis pipeline was discarded', { retryable: true });
  return results.map(([err, value]) => {
    if (err) throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `feature store: ${err.message}`, { cause: err, retryable: true });
    return value;
  });
}
