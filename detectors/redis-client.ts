import { Redis } from 'ioredis';
import { redactUrl, type Config } from '../core/config.ts';
import { ServiceUnavailableError } from '../core/errors.ts';
import { createRedis } from '../core/redis.ts';

/**
 * A Redis connection for a one-shot command (drift, warm, bench drift): unlike the stages' client it gives up at
 * start when Redis does not answer, with a message that says what to do. The caller disconnects it.
 */
export async function connectRedisForCommand(config: Config): Promise<Redis> {
  if (config.redis.clusterNodes) return connectClusterForCommand(config);
  const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 2, connectTimeout: 3_000, lazyConnect: true });
  // Without a listener ioredis prints each connection error with its stack; the command's own error says it once.
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => (lastError = err));
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    const why = (lastError ?? (err as Error)).message;
    throw new ServiceUnavailableError(`cannot reach Redis at REDIS_URL ${redactUrl(config.redis.url)} (${why}); start it or set REDIS_URL`, { cause: lastError ?? err });
  }
  return redis;
}

/** The same for REDIS_CLUSTER_NODES: the cluster client, once it is ready (a slot map loaded), or a clear error after 10 s. */
async function connectClusterForCommand(config: Config): Promise<Redis> {
  const redis = createRedis(config, 'redis-command');
  const nodes = (config.redis.clusterNodes ?? []).map((n) => `${n.host}:${n.port}`).join(',');
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no node answered with a slot map within 10 s')), 10_000);
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (err) {
    redis.disconnect();
    throw new ServiceUnavailableError(`cannot reach the Redis Cluster at REDIS_CLUSTER_NODES ${nodes} (${(err as Error).message}); start it or fix REDIS_CLUSTER_NODES`, { cause: err });
  }
  return redis;
}
