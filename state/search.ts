import type { Redis } from 'ioredis';
import { familyPrefix } from '../core/redis.ts';
import { DecisionSchema, type Decision } from '../core/contracts.ts';

/**
 * The console's searchable index of decisions (issue 21): the decisions topic is the record, this is a bounded view
 * of its latest stretch, written where the decisions flow (router/search-indexer.ts, its own consumer group) and by
 * every console's live feed (review-ui/server/live.ts; the same rows, idempotent), read by /api/search.
 *
 * - `<prefix>search:rows`: hash tx id -> the transaction's latest decision (JSON); a final decision replaces the
 *   provisional REVIEW of the same transaction, so two consoles writing the same decisions agree.
 * - `<prefix>search:time`: sorted set of tx ids by decidedAt: the index's order and its bound.
 * - `<prefix>search:card:<cardId>`, `<prefix>search:merchant:<merchantId>`: tx ids by decidedAt per card and per
 *   merchant, each trimmed to SEARCH_PER_ENTITY_KEEP and expiring SEARCH_TTL_SECONDS after its last write.
 * - `<prefix>search:action:<ALLOW|BLOCK|REVIEW>`: tx ids by decidedAt per action, each trimmed to SEARCH_MAX_ROWS.
 *   An id whose row left the index (or whose action changed: a final decision after a REVIEW) is skipped on read.
 *
 * Bound: at most SEARCH_MAX_ROWS rows, none older than SEARCH_TTL_SECONDS (whichever is reached first), both enforced
 * on every write in the same script. Memory and search times: `npx fraudstream bench search` (README "Case work").
 */
export const SEARCH_MAX_ROWS = 50_000;
export const SEARCH_TTL_SECONDS = 30 * 24 * 3600;
export const SEARCH_PER_ENTITY_KEEP = 1_000;
/** A search that cannot use a card, merchant or tx id index reads at most this many rows, newest first, and says so. */
export const SEARCH_SCAN_MAX = 10_000;

export const searchKeys = (prefix: string) => ({
  rows: `${prefix}search:rows`,
  time: `${prefix}search:time`,
  card: (cardId: string): string => `${prefix}search:card:${cardId}`,
  merchant: (merchantId: string): string => `${prefix}search:merchant:${merchantId}`,
  /** tx ids by decidedAt per action (BLOCK and REVIEW are rare: finding them must not read every ALLOW). */
  action: (action: string): string => `${prefix}search:action:${action}`,
});

// KEYS: rows hash, time set, card set, merchant set, action set. ARGV: txId, decidedAt, row JSON, max rows, ttl
// seconds, per-entity keep, now ms. Evicts by count and by age (a few at a time, so one write never does unbounded work).
const STORE = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
local over = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[4])
if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[5], 0, over - 1) end
redis.call('EXPIRE', KEYS[5], ARGV[5])
for i = 3, 4 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
  local extra = redis.call('ZCARD', KEYS[i]) - tonumber(ARGV[6])
  if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[i], 0, extra - 1) end
  redis.call('EXPIRE', KEYS[i], ARGV[5])
end
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[7]) - tonumber(ARGV[5]) * 1000, 'LIMIT', 0, 100)
if #old > 0 then
  redis.call('ZREM', KEYS[2], unpack(old))
  redis.call('HDEL', KEYS[1], unpack(old))
end
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local gone = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
  redis.call('HDEL', KEYS[1], unpack(gone))
end
return 1`;
const STORE_CMD = 'fraudstreamStoreSearchRow';

export interface SearchIndexOptions {
  maxRows?: number;
  ttlSeconds?: number;
  perEntityKeep?: number;
  scanMax?: number;
}

export interface SearchFilter {
  card?: string;
  /** A merchant id (exact) or part of a merchant name (case-insensitive). */
  merchant?: string;
  txId?: string;
  action?: Decision['action'];
  /** decidedAt bounds, inclusive, epoch ms. */
  from?: number;
  to?: number;
  limit: number;
}

export interface SearchResult {
  rows: Decision[];
  /** Rows read to answer. */
  scanned: number;
  /** False when the scan stopped at SEARCH_SCAN_MAX before the time range was exhausted. */
  complete: boolean;
  /** Which index answered: txId, card, merchant (id), action, or time (a scan, newest first). */
  via: 'txId' | 'card' | 'merchant' | 'action' | 'time';
}

export class SearchIndex {
  readonly keys: ReturnType<typeof searchKeys>;
  private readonly maxRows: number;
  private readonly ttlSeconds: number;
  private readonly perEntityKeep: number;
  private readonly scanMax: number;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    options: SearchIndexOptions = {},
  ) {
    // One rows hash and one time index for every decision: on Redis Cluster the family shares their slot (`<prefix>{search}:search:...`).
    this.keys = searchKeys(familyPrefix(redis, prefix, 'search'));
    this.maxRows = options.maxRows ?? SEARCH_MAX_ROWS;
    this.ttlSeconds = options.ttlSeconds ?? SEARCH_TTL_SECONDS;
    this.perEntityKeep = options.perEntityKeep ?? SEARCH_PER_ENTITY_KEEP;
    this.scanMax = options.scanMax ?? SEARCH_SCAN_MAX;
  }

  /** Indexes decisions (one pipeline; each write is one script run by EVALSHA). */
  async store(decisions: readonly Decision[], now = Date.now()): Promise<void> {
    if (decisions.length === 0) return;
    if (!(STORE_CMD in this.redis)) this.redis.defineCommand(STORE_CMD, { numberOfKeys: 5, lua: STORE });
    const p = this.redis.pipeline() as unknown as Record<typeof STORE_CMD, (...args: Array<string | number>) => unknown> & { exec(): Promise<unknown> };
    for (const d of decisions) {
      p[STORE_CMD](this.keys.rows, this.keys.time, this.keys.card(d.cardId), this.keys.merchant(d.tx.merchantId), this.keys.action(d.action), d.txId, d.decidedAt, JSON.stringify(d), this.maxRows, this.ttlSeconds, this.perEntityKeep, now);
    }
    // A pipeline resolves with each command's error in place: a row that failed to write must fail the caller
    // (the indexer then retries its batch rather than commit past it).
    const replies = (await p.exec()) as Array<[Error | null, unknown]> | null;
    const failed = replies?.find(([err]) => err !== null)?.[0];
    if (!replies || failed) throw failed ?? new Error('search index: the Redis pipeline was discarded');
  }

  async size(): Promise<number> {
    return this.redis.zcard(this.keys.time);
  }

  async get(txId: string): Promise<Decision | undefined> {
    return (await this.rowsOf([txId]))[0];
  }

  async search(f: SearchFilter): Promise<SearchResult> {
    const from = f.from ?? 0;
    const to = f.to ?? Number.MAX_SAFE_INTEGER;
    const needle = f.merchant?.toLowerCase();
    const matches = (d: Decision): boolean =>
      (f.txId === undefined || d.txId === f.txId) &&
      (f.card === undefined || d.cardId === f.card) &&
      (needle === undefined || d.tx.merchantId === f.merchant || d.tx.merchantName.toLowerCase().includes(needle)) &&
      (f.action === undefined || d.action === f.action) &&
      d.decidedAt >= from &&
      d.decidedAt <= to;
    if (f.txId !== undefined) {
      const rows = (await this.rowsOf([f.txId])).filter(matches);
      return { rows, scanned: rows.length, complete: true, via: 'txId' };
    }
    let via: SearchResult['via'] = 'time';
    let key = this.keys.time;
    if (f.card !== undefined) {
      via = 'card';
      key = this.keys.card(f.card);
    } else if (f.merchant !== undefined && (await this.redis.exists(this.keys.merchant(f.merchant))) === 1) {
      via = 'merchant';
      key = this.keys.merchant(f.merchant);
    } else if (f.action !== undefined) {
      via = 'action';
      key = this.keys.action(f.action);
    }
    const rows: Decision[] = [];
    let scanned = 0;
    const page = 500;
    for (let offset = 0; ; offset += page) {
      if (scanned >= this.scanMax) return { rows, scanned, complete: false, via };
      const ids = await this.redis.zrevrangebyscore(key, to, from, 'LIMIT', offset, Math.min(page, this.scanMax - scanned));
      if (ids.length === 0) break;
      scanned += ids.length;
      for (const d of await this.rowsOf(ids, matches)) {
        rows.push(d);
        if (rows.length >= f.limit) return { rows, scanned, complete: true, via };
      }
    }
    return { rows, scanned, complete: true, via };
  }

  /** The rows of these ids that `keep` accepts; only those are validated (a scan reads thousands it drops). */
  private async rowsOf(ids: readonly string[], keep: (d: Decision) => boolean = () => true): Promise<Decision[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.hmget(this.keys.rows, ...ids);
    return raws.flatMap((raw) => {
      if (raw === null) return [];
      try {
        const json = JSON.parse(raw) as Decision;
        if (typeof json !== 'object' || json === null || typeof json.tx !== 'object' || json.tx === null || !keep(json)) return [];
        const d = DecisionSchema.safeParse(json);
        return d.success ? [d.data] : [];
      } catch {
        return [];
      }
    });
  }
}
