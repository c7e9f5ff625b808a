import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { logger } from '../../core/logger.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { VerdictService } from '../../review-ui/server/verdict.ts';
import { collect, createKafka, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';
import { openCase } from '../router/review-queue-fixtures.ts';

let config: Config;
let redis: Redis;

beforeAll(async () => {
  config = await testConfig('verdict');
  redis = testRedis(config);
});
afterAll(async () => {
  await dropTestKeys(redis, config);
  redis.disconnect();
});

describe('VerdictService', () => {
  it('answers "queued" while Kafka is unreachable, keeps the verdict in the outbox, and publishes it once Kafka answers', async () => {
    const queue = new RedisReviewQueue(redis, config.redis.keyPrefix);
    await queue.enqueue(openCase('v1', 0.7, Date.now()));
    // Nothing listens on port 1: every send fails, as with a broker that is down.
    const deadKafka = new Kafka({ clientId: 'dead', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 200 });
    const down = new VerdictService(config, redis, queue, deadKafka, logger('test'), 'ui-a');
    const started = Date.now();
    const done = await down.decide('v1', 'approve', 'known customer', 'alice');
    expect(Date.now() - started).toBeLessThan(20_000); // bounded wait, not the broker's retry budget
    expect(done?.closed.status).toBe('approved');
    expect(done?.waiting).toBe(3); // the label, the final decision and the closed case's record, still in the outbox

    const up = new VerdictService(config, redis, queue, createKafka(config, '-verdict'), logger('test'), 'ui-b');
    // The first holder's lock may still be held by its failing flush; the next flush after it is released sends.
    await expect.poll(async () => (await up.flush(), redis.llen(up.outboxKey)), { timeout: 90_000, interval: 500 }).toBe(0);
    const labels = await collect(createKafka(config, '-collect'), config.topics.labels, (ms) => ms.some((m) => m.value?.toString().includes('tx-v1')), 30_000);
    expect(labels.filter((m) => m.value?.toString().includes('tx-v1'))).toHaveLength(1);
  });
});
