/** GET /healthz: open, for probes. */
import { Router } from 'express';
import type { Redis } from 'ioredis';
import { readHealth } from '../health.ts';
import type { LiveFeed } from '../live.ts';

export interface HealthDeps {
  redis: Redis;
  prefix: string;
  feed: LiveFeed;
  instanceId: string;
  kafkaUp: () => boolean;
}

export function healthRouter(d: HealthDeps): Router {
  const r = Router();
  r.get('/healthz', async (_req, res) => {
    const health = await readHealth(d.redis, d.prefix, d.feed.counts, d.kafkaUp());
    health.stages.ui ??= { up: true, status: 'up', instances: [{ instance: d.instanceId, ageMs: 0 }] };
    res.set('Cache-Control', 'no-store').json(health);
  });
  return r;
}
