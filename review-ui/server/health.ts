import type { Redis } from 'ioredis';
import { readDecisionStats } from '../../state/decision-stats.ts';
import { readHeartbeats } from '../../state/heartbeats.ts';
import { PIPELINE_STAGES } from '../../core/contracts.ts';

export interface StageHealth {
  /** Some member heartbeats and says it is deciding (or has nothing to decide). */
  up: boolean;
  /** up; stalled (lag without progress); down (members heartbeat but none decides, or none heartbeats). */
  status: 'up' | 'stalled' | 'down';
  instances: Array<{ instance: string; ageMs: number; status?: string; lag?: number; reason?: string }>;
}

export interface Health {
  status: 'ok' | 'degraded';
  at: number;
  redis: 'up' | 'down';
  kafka: 'up' | 'down';
  stages: Record<string, StageHealth>;
  decisions: { byStages: Record<string, number>; seenByUi: Record<string, number> };
}


function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** Heartbeats (state/heartbeats.ts) hold {instance, at, status, lag, ...} with a ~10 s TTL, found through their index. */
export async function readHealth(
  redis: Redis,
  prefix: string,
  seenByUi: Record<string, number>,
  kafkaUp: boolean,
  now = Date.now(),
): Promise<Health> {
  // Every pipeline stage is listed (down until it heartbeats); any other that heartbeats (e.g. "ui") is listed too.
  const stages: Record<string, StageHealth> = Object.fromEntries(PIPELINE_STAGES.map((s) => [s, { up: false, status: 'down', instances: [] }]));
  let byStages: Record<string, number> = {};
  let redisUp = true;
  try {
    await withTimeout(
      (async () => {
        const beats = await readHeartbeats(redis, prefix, now);
        beats.forEach(({ stage, instance: name, raw }) => {
          if (!stage || raw === undefined) return;
          let at = now;
          let instance = name;
          let status: string | undefined;
          let lag: number | undefined;
          let reason: string | undefined;
          try {
            const v = JSON.parse(raw) as { at?: unknown; instance?: unknown; status?: unknown; lag?: unknown; reason?: unknown } | null;
            if (typeof v?.at === 'number') at = v.at;
            if (typeof v?.instance === 'string') instance = v.instance;
            if (typeof v?.status === 'string') status = v.status;
            if (typeof v?.lag === 'number') lag = v.lag;
            if (typeof v?.reason === 'string') reason = v.reason;
          } catch {
            // A heartbeat whose value does not parse still proves the stage wrote within its TTL.
          }
          const s = (stages[stage] ??= { up: false, status: 'down', instances: [] });
          s.instances.push({ instance, ageMs: Math.max(0, now - at), ...(status ? { status } : {}), ...(lag === undefined ? {} : { lag }), ...(reason ? { reason } : {}) });
          if (now - at >= 15_000) return;
          // A heartbeat says what the member found when it last read its lag from the broker; one without a status
          // (the UI's own) only proves the process is alive.
          if (status === undefined || status === 'up') {
            s.up = true;
            s.status = 'up';
          } else if (status === 'stalled' && s.status !== 'up') s.status = 'stalled';
        });
        byStages = await readDecisionStats(redis, prefix);
      })(),
      1_500,
    );
  } catch {
    redisUp = false;
  }
  const allUp = redisUp && kafkaUp && PIPELINE_STAGES.every((s) => stages[s]?.up);
  return {
    status: allUp ? 'ok' : 'degraded',
    at: now,
    redis: redisUp ? 'up' : 'down',
    kafka: kafkaUp ? 'up' : 'down',
    stages,
    decisions: { byStages, seenByUi: { ...seenByUi } },
  };
}
