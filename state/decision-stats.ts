import type { Redis } from 'ioredis';
import { familyPrefix } from '../core/redis.ts';

/**
 * Decision counts: one hash `<prefix>stats:decisions`, field = action, value = count. Written by the stages
 * (countDecisions, from router/metrics.ts tallyOutputs) and the review UI's outbox (a verdict is a decision), read by /healthz.
 */
// unbounded today: see issue 12 (one field per action, but the counts and the key never reset)
export const decisionStatsKey = (prefix: string): string => `${prefix}stats:decisions`;
/** The key on this client: on Redis Cluster in the review family's slot (the verdict outbox counts verdicts in its MULTI). */
export const decisionStatsKeyOf = (redis: Redis, prefix: string): string => decisionStatsKey(familyPrefix(redis, prefix, 'review'));

/** Adds a batch's decision counts by action; what /healthz reports across processes. */
export async function countDecisions(redis: Redis, prefix: string, counts: Record<string, number>): Promise<void> {
  const entries = Object.entries(counts);
  if (entries.length === 0) return;
  const pipe = redis.pipeline();
  for (const [action, n] of entries) pipe.hincrby(decisionStatsKeyOf(redis, prefix), action, n);
  await pipe.exec();
}

/** Decision counts by action, summed over every process since the key was created. */
export async function readDecisionStats(redis: Redis, prefix: string): Promise<Record<string, number>> {
  const raw = await redis.hgetall(decisionStatsKeyOf(redis, prefix));
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
}
