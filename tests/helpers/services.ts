import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { configEnv as baseConfigEnv, isolatedConfig, loadConfig, type Config } from '../../core/config.ts';
import { createKafka, ensureTopics } from '../../core/kafka.ts';

/** A config pointing at the test services, with topics, groups and Redis keys unique to this call. */
/** The audit chain's key in tests (a console under test and the test's own AuditLog must agree). */
export const TEST_AUDIT_KEY = 'test-audit-hmac-key-0123456789abcdef';

export async function testConfig(label: string, env: Record<string, string> = {}): Promise<Config> {
  // MODEL_DIR is never the checkout's ./models: a version trained there by `npm run bench` or `train` would change
  // what a console or stage under test serves (p(fraud), thresholds). A test that needs versions passes its own.
  const modelDir = env.MODEL_DIR ?? join(tmpdir(), `fraudstream-test-no-models-${randomUUID().slice(0, 8)}`);
  const base = loadConfig({ AUDIT_HMAC_KEY: TEST_AUDIT_KEY, ...env, MODEL_DIR: modelDir, KAFKA_BROKERS: inject('kafkaBrokers'), REDIS_URL: inject('redisUrl'), KAFKA_PARTITIONS: env.KAFKA_PARTITIONS ?? '3' });
  const config = isolatedConfig(base, `${label}-${randomUUID().slice(0, 8)}`);
  await ensureTopics(config);
  return config;
}

export function testRedis(config: Config): Redis {
  return new Redis(config.redis.url, { maxRetriesPerRequest: 3 });
}

/**
 * Reads a topic from the beginning until `until` says enough (or the timeout), returning every message seen.
 * Uses its own consumer group so it never disturbs the stages under test.
 */
export async function collect(
  kafka: Kafka,
  topic: string,
  until: (messages: KafkaMessage[]) => boolean,
  timeoutMs = 60_000,
  /** Keep reading this long after `until` is satisfied, so late duplicates are seen too. */
  lingerMs = 0,
): Promise<KafkaMessage[]> {
  const consumer: Consumer = kafka.consumer({ groupId: `collector-${randomUUID()}` });
  const seen: KafkaMessage[] = [];
  let done = false;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs} ms on ${topic}: saw ${seen.length} messages`)), timeoutMs);
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            seen.push(...batch.messages);
            if (!done && until(seen)) {
              done = true;
              clearTimeout(timer);
              setTimeout(resolve, lingerMs);
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

export { createKafka };

/** The environment that makes a child process (a CLI stage) load exactly this config, logging warnings only. */
export function configEnv(config: Config): Record<string, string> {
  return { ...baseConfigEnv(config), LOG_LEVEL: 'warn' };
}

/** Deletes every Redis key under the test's prefix (SCAN, not KEYS, so a shared Redis is not blocked). */
export async function dropTestKeys(redis: Redis, config: Config): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.redis.keyPrefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
