import { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { logger } from './logger.ts';

/**
 * A Redis client that keeps retrying while Redis is down instead of failing the process:
 * commands queue (offline queue) and stages wait; see README "When Redis is down".
 */
export function createRedis(config: Config, name = 'redis'): Redis {
  const log = logger(name);
  const client = new Redis(config.redis.url, {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(200 * times, 2_000),
    lazyConnect: false,
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message }, 'redis unavailable; retrying');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info('redis reconnected');
    down = false;
  });
  return client;
}
