import type { Redis } from 'ioredis';
import type { Transaction } from '../../core/contracts.ts';
import { FraudstreamError, ErrorCodes } from '../../core/errors.ts';
import type { FeatureStore, FeatureVector } from '../types.ts';
import { LIMITS, decodeCardState, emptyCardState, encodeCardState, type CardState } from '../pure/card-state.ts';
import { decodeHistoryEntry, encodeHistoryEntry, lastBefore, runBatch } from '../pure/batch.ts';
import { defaultFeatureContext, featureVector, type FeatureContext } from '../pure/features.ts';

/**
 * Writes one card's new state and history entries if nobody else wrote the card since we read it
 * (optimistic concurrency on a version counter). Touches only that card's keys, which share a hash tag,
 * so the script stays valid on Redis Cluster.
 */
const APPLY_LUA = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', v + 1)
local ttl = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
for i = 5, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('LTRIM', KEYS[2], -cap, -1)
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return 1
`;

const COMMAND = 'fraudstreamFeatureApply';

interface ApplyCommand {
  [COMMAND](state: string, history: string, version: number, blob: Buffer, ttl: number, cap: number, ...entries: Buffer[]): unknown;
}

export interface RedisFeatureStoreOptions {
  /** config.redis.keyPrefix */
  keyPrefix: string;
  ctx?: FeatureContext;
  /** Idle card state expires after this many seconds (0 keeps it forever). */
  ttlSeconds?: number;
  /** Optimistic-write attempts when another writer touched the same card mid-batch. */
  maxAttempts?: number;
}

/**
 * The online store. A batch costs two round trips whatever its size (read every card's state in one pipeline,
 * write every changed card in one pipeline), plus one more only when it holds transactions applied by an earlier
 * batch (their first vector is read back from history).
 *
 * Keys, per card: `<prefix>feat:{<cardId>}` hash (s = packed state, v = version) and
 * `<prefix>feat:{<cardId>}:h` list of packed [txKey, ts, vector] entries, newest last, capped at LIMITS.applied.
 */
export class RedisFeatureStore implements FeatureStore {
  private readonly ctx: FeatureContext;
  private readonly ttl: number;
  private readonly maxAttempts: number;
  /** Cards whose optimistic write lost to another writer and were recomputed (a metric, not an error). */
  conflicts = 0;

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisFeatureStoreOptions,
  ) {
    this.ctx = opts.ctx ?? defaultFeatureContext;
    this.ttl = opts.ttlSeconds ?? 90 * 24 * 3600;
    this.maxAttempts = opts.maxAttempts ?? 8;
    if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 2, lua: APPLY_LUA });
  }

  stateKey(cardId: string): string {
    return `${this.opts.keyPrefix}feat:{${cardId}}`;
  }

  historyKey(cardId: string): string {
    return `${this.opts.keyPrefix}feat:{${cardId}}:h`;
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

  /** One optimistic pass over `indices`; returns the indices whose cards must be retried. */
  private async attempt(txs: Transaction[], indices: number[], out: FeatureVector[]): Promise<number[]> {
    const batch = indices.map((i) => txs[i]);
    const cards = [...new Set(batch.map((t) => t.cardId))];
    const read = this.redis.pipeline();
    for (const c of cards) read.hmgetBuffer(this.stateKey(c), 's', 'v');
    const replies = checked(await read.exec()) as Array<[Buffer | null, Buffer | null]>;
    const loaded = new Map<string, { state: CardState; version: number }>();
    cards.forEach((c, i) => {
      const [blob, version] = replies[i];
      loaded.set(c, { state: blob ? decodeCardState(blob) : emptyCardState(), version: version ? Number(version.toString()) : 0 });
    });

    const outcome = runBatch(batch, (cardId) => loaded.get(cardId)!.state, this.ctx);

    if (outcome.lookups.length > 0) {
      const lookupCards = [...new Set(outcome.lookups.map((l) => l.cardId))];
      const hist = this.redis.pipeline();
      for (const c of lookupCards) hist.lrangeBuffer(this.historyKey(c), 0, -1);
      const lists = checked(await hist.exec()) as Buffer[][];
      const byCard = new Map(lookupCards.map((c, i) => [c, lists[i].map(decodeHistoryEntry)]));
      for (const { index, cardId, key } of outcome.lookups) {
        const found = byCard.get(cardId)?.find((e) => e.key === key);
        outcome.vectors[index] = found ? found.vector : featureVector(loaded.get(cardId)!.state, batch[index], this.ctx);
      }
    }

    const changed = [...outcome.changed];
    const write = this.redis.pipeline() as unknown as ApplyCommand & { exec(): ReturnType<ReturnType<Redis['pipeline']>['exec']> };
    for (const [cardId, change] of changed) {
      write[COMMAND](
        this.stateKey(cardId),
        this.historyKey(cardId),
        loaded.get(cardId)!.version,
        Buffer.from(encodeCardState(change.state)),
        this.ttl,
        LIMITS.applied,
        ...change.appended.map((e) => Buffer.from(encodeHistoryEntry(e))),
      );
    }
    const written = changed.length > 0 ? (checked(await write.exec()) as number[]) : [];
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
    // Without beforeTs the last k suffice; with it, read the whole (capped) list and filter by time.
    const entries = await this.redis.lrangeBuffer(this.historyKey(cardId), beforeTs === undefined ? -k : 0, -1);
    return lastBefore(entries.map(decodeHistoryEntry), k, beforeTs).map((e) => e.vector);
  }
}

function checked(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, 'redis pipeline was discarded', { retryable: true });
  return results.map(([err, value]) => {
    if (err) throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `feature store: ${err.message}`, { cause: err, retryable: true });
    return value;
  });
}
