/**
 * Card history on the case page (keys and bounds in ui.ts): the row kept per past transaction and the one write of
 * it, from the console's live feed (review-ui/server/live.ts) and measured by `bench --redis-memory`.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Decision } from '../core/contracts.ts';
import { isCluster } from '../core/redis.ts';
import { CARD_HISTORY_KEEP, CARD_HISTORY_TTL_SECONDS, cardHistoryKey, cardRowsKey } from './ui.ts';

/**
 * The card's id set and rows hash on this client. On Redis Cluster both are hash-tagged by card
 * (`<prefix>ui:card:{<cardId>}`, `<prefix>ui:card-rows:{<cardId>}`): one slot per card, as the script that trims
 * them together needs, and the cards spread over every master. On a single Redis the names are as they always were.
 */
export function cardHistoryKeysOf(redis: Redis, prefix: string, cardId: string): { ids: string; rows: string } {
  const id = isCluster(redis) ? `{${cardId}}` : cardId;
  return { ids: cardHistoryKey(prefix, id), rows: cardRowsKey(prefix, id) };
}

/** What the card-history panel needs of a past transaction (kept in Redis per card). */
export const CardTxSchema = z.object({
  txId: z.string(),
  ts: z.number(),
  amountMinor: z.number(),
  currency: z.string(),
  merchantId: z.string(),
  merchantName: z.string(),
  mcc: z.string(),
  country: z.string(),
  channel: z.string(),
  lat: z.number(),
  lon: z.number(),
  deviceId: z.string().nullable(),
  action: z.string(),
  stage: z.string(),
  decidedAt: z.number(),
});
export type CardTx = z.infer<typeof CardTxSchema>;

// KEYS: the card's id set, its rows hash. ARGV: ts, txId, row JSON, keep, ttl. Trims both together.
const STORE_CARD_ROW = `
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
  redis.call('HDEL', KEYS[2], unpack(old))
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1`;

const STORE_CARD_ROW_CMD = 'fraudstreamStoreCardRow';

/** Writes each decision's row into its card's bounded history (one pipeline). The bench measures this too. */
export async function storeCardHistory(redis: Redis, prefix: string, decisions: ReadonlyArray<Pick<Decision, 'txId' | 'cardId' | 'tx' | 'action' | 'stage' | 'decidedAt'>>): Promise<void> {
  // A defined command runs by EVALSHA: the script is sent once per connection, not with every decision.
  if (!(STORE_CARD_ROW_CMD in redis)) redis.defineCommand(STORE_CARD_ROW_CMD, { numberOfKeys: 2, lua: STORE_CARD_ROW });
  const p = redis.pipeline() as unknown as Record<typeof STORE_CARD_ROW_CMD, (...args: Array<string | number>) => unknown> & { exec(): Promise<unknown> };
  for (const d of decisions) {
    const x = d.tx;
    const row: CardTx = {
      txId: d.txId, ts: x.ts, amountMinor: x.amountMinor, currency: x.currency, merchantId: x.merchantId,
      merchantName: x.merchantName, mcc: x.mcc, country: x.country, channel: x.channel, lat: x.lat, lon: x.lon,
      deviceId: x.deviceId, action: d.action, stage: d.stage, decidedAt: d.decidedAt,
    };
    // Keyed by tx id, so a later final decision replaces the provisional one and two UI processes agree.
    const k = cardHistoryKeysOf(redis, prefix, d.cardId);
    p[STORE_CARD_ROW_CMD](k.ids, k.rows, x.ts, d.txId, JSON.stringify(row), CARD_HISTORY_KEEP, CARD_HISTORY_TTL_SECONDS);
  }
  await p.exec();
}
