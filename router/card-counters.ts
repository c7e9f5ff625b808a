import type { Redis } from 'ioredis';
import type { Transaction } from '../core/contracts.ts';

/**
 * Per-card running counters (count, amount sum) kept by detect: the card's norm the review UI shows.
 * Counted once per tx id, even when a batch is replayed after a crash.
 */
const SCRIPT = `
local n = 0
for i = 1, #KEYS, 2 do
  local j = (i + 1) / 2
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('HINCRBY', KEYS[i + 1], 'count', 1)
    redis.call('HINCRBY', KEYS[i + 1], 'amountSum', ARGV[j + 1])
    redis.call('HSET', KEYS[i + 1], 'lastTs', ARGV[j + 1 + (#KEYS / 2)])
    n = n + 1
  end
end
return n`;

export interface CardSummary {
  count: number;
  amountSum: number;
  lastTs: number;
}

export function createCardCounters(redis: Redis, prefix: string, ttlSeconds = 30 * 24 * 3600) {
  const cardKey = (cardId: string) => `${prefix}card:{${cardId}}:summary`;
  return {
    /** Applies a batch; returns how many were new. One round trip. */
    async apply(txs: Transaction[]): Promise<number> {
      if (txs.length === 0) return 0;
      const keys = txs.flatMap((t) => [`${prefix}counted:{${t.cardId}}:${t.txId}`, cardKey(t.cardId)]);
      const args = [String(ttlSeconds), ...txs.map((t) => String(t.amountMinor)), ...txs.map((t) => String(t.ts))];
      return Number(await redis.eval(SCRIPT, keys.length, ...keys, ...args));
    },
    async get(cardId: string): Promise<CardSummary> {
      const h = await redis.hgetall(cardKey(cardId));
      return { count: Number(h.count ?? 0), amountSum: Number(h.amountSum ?? 0), lastTs: Number(h.lastTs ?? 0) };
    },
  };
}
export type CardCounters = ReturnType<typeof createCardCounters>;
