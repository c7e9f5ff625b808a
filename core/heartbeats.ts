/**
 * Heartbeats of live processes (stage members, UI servers). Key family `<prefix>heartbeat:<stage>:<instance>`
 * (JSON with `at`, 10 s TTL) plus an index `<prefix>heartbeats` (sorted set, member "<stage>:<instance>", score =
 * last beat), so a reader finds the live ones with one range query instead of SCANning the keyspace, which took
 * seconds on a Redis holding a few hundred thousand keys. Index entries older than a minute are pruned on read.
 */
import type { Redis } from 'ioredis';

const TTL_MS = 10_000;
const PRUNE_AFTER_MS = 60_000;

export const heartbeatKey = (prefix: string, stage: string, instance: string) => `${prefix}heartbeat:${stage}:${instance}`;
const indexKey = (prefix: string) => `${prefix}heartbeats`;

export async function beat(redis: Redis, prefix: string, stage: string, instance: string, value: { at: number } & Record<string, unknown>): Promise<void> {
  await redis
    .multi()
    .set(heartbeatKey(prefix, stage, instance), JSON.stringify(value), 'PX', TTL_MS)
    .zadd(indexKey(prefix), value.at, `${stage}:${instance}`)
    .exec();
}

export async function removeHeartbeat(redis: Redis, prefix: string, stage: string, instance: string): Promise<void> {
  await redis.multi().del(heartbeatKey(prefix, stage, instance)).zrem(indexKey(prefix), `${stage}:${instance}`).exec();
}

/** The heartbeats written in the last `withinMs`: stage, instance and the raw value (undefined once expired). */
export async function readHeartbeats(redis: Redis, prefix: string, now: number, withinMs = 15_000): Promise<Array<{ stage: string; instance: string; raw: string | undefined }>> {
  const [, members] = ((await redis
    .multi()
    .zremrangebyscore(indexKey(prefix), '-inf', now - PRUNE_AFTER_MS)
    .zrangebyscore(indexKey(prefix), now - withinMs, '+inf')
    .exec()) ?? []) as Array<[Error | null, unknown]>;
  const names = (members?.[1] as string[] | undefined) ?? [];
  if (names.length === 0) return [];
  const values = await redis.mget(names.map((m) => `${prefix}heartbeat:${m}`));
  return names.map((m, i) => {
    const at = m.indexOf(':');
    return { stage: m.slice(0, at), instance: m.slice(at + 1), raw: values[i] ?? undefined };
  });
}
