/**
 * Heartbeats of live processes: each stage member (router/stage-runner.ts) and review UI process (stage "ui",
 * review-ui/server/app.ts) rewrites `<prefix>heartbeat:<stage>:<instance>` (JSON with `at`; TTL 10 s) every few
 * seconds, and scores itself in the index `<prefix>heartbeats` (sorted set, member "<stage>:<instance>", score =
 * last beat). /healthz finds the live ones with one range query instead of SCANning the keyspace, which took
 * seconds on a Redis holding a few hundred thousand keys. Index entries older than a minute are pruned on read,
 * so the index holds about one entry per process that beat in the last minute.
 */
import type { Redis } from 'ioredis';
import { familyPrefix } from '../core/redis.ts';

/** A process that stops beating disappears from /healthz after this long. */
export const HEARTBEAT_TTL_MS = 10_000;
const PRUNE_AFTER_MS = 60_000;

export const heartbeatKey = (prefix: string, stage: string, instance: string): string => `${prefix}heartbeat:${stage}:${instance}`;
export const heartbeatIndexKey = (prefix: string): string => `${prefix}heartbeats`;

/** On Redis Cluster the beats and their index share a slot (`<prefix>{heartbeat}:...`): written in one MULTI. */
const family = (redis: Redis, prefix: string): string => familyPrefix(redis, prefix, 'heartbeat');

export async function beat<V extends { at: number }>(redis: Redis, prefix_: string, stage: string, instance: string, value: V): Promise<void> {
  const prefix = family(redis, prefix_);
  await redis
    .multi()
    .set(heartbeatKey(prefix, stage, instance), JSON.stringify(value), 'PX', HEARTBEAT_TTL_MS)
    .zadd(heartbeatIndexKey(prefix), value.at, `${stage}:${instance}`)
    .exec();
}

export async function removeHeartbeat(redis: Redis, prefix_: string, stage: string, instance: string): Promise<void> {
  const prefix = family(redis, prefix_);
  await redis.multi().del(heartbeatKey(prefix, stage, instance)).zrem(heartbeatIndexKey(prefix), `${stage}:${instance}`).exec();
}

/** The heartbeats written in the last `withinMs`: stage, instance (which may contain ':') and the raw value (undefined once expired). */
export async function readHeartbeats(redis: Redis, prefix_: string, now: number, withinMs = 15_000): Promise<Array<{ stage: string; instance: string; raw: string | undefined }>> {
  const prefix = family(redis, prefix_);
  const [, members] = ((await redis
    .multi()
    .zremrangebyscore(heartbeatIndexKey(prefix), '-inf', now - PRUNE_AFTER_MS)
    .zrangebyscore(heartbeatIndexKey(prefix), now - withinMs, '+inf')
    .exec()) ?? []) as Array<[Error | null, unknown]>;
  const names = (members?.[1] as string[] | undefined) ?? [];
  if (names.length === 0) return [];
  const values = await redis.mget(names.map((m) => `${prefix}heartbeat:${m}`));
  return names.map((m, i) => {
    const at = m.indexOf(':');
    return { stage: m.slice(0, at), instance: m.slice(at + 1), raw: values[i] ?? undefined };
  });
}
