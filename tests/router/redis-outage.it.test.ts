/** Stages do not crash while Redis is down: they wait, keep their group membership, and decide everything once it is back. */
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { DecisionSchema } from '../../core/contracts.ts';
import { isolatedConfig, loadConfig } from '../../core/config.ts';
import { createKafka, createProducer, ensureTopics } from '../../core/kafka.ts';
import { startLocalRedis } from '../../infra/redis-local.ts';
import { startPipeline } from '../../router/pipeline.ts';
import { metrics } from '../../router/metrics.ts';
import { collect } from '../helpers/services.ts';
import { testTransactions } from '../helpers/transactions.ts';

describe('Redis outage', () => {
  it('a stage waits while Redis is down and decides every transaction once Redis is back', { timeout: 120_000 }, async () => {
    let redis = await startLocalRedis();
    const port = Number(new URL(redis.url).port);
    const config = isolatedConfig(loadConfig({ KAFKA_BROKERS: inject('kafkaBrokers'), REDIS_URL: redis.url, KAFKA_PARTITIONS: '2' }), `outage-${Date.now()}`);
    await ensureTopics(config);
    const kafka = createKafka(config, '-test');
    const pipeline = await startPipeline({ config, stages: ['detect'] });
    try {
      await pipeline.ready;
      const producer = createProducer(kafka);
      await producer.connect();
      const first = testTransactions(50, { prefix: 'pre' });
      await producer.send({ topic: config.topics.transactions, messages: first.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
      await collect(kafka, config.topics.decisions, (seen) => seen.length >= 50);

      await redis.stop();
      const during = testTransactions(200, { prefix: 'during' });
      await producer.send({ topic: config.topics.transactions, messages: during.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
      // Long enough for a crash, an eviction from the group (session timeout 10 s) or a give-up to show.
      await new Promise((r) => setTimeout(r, 12_000));
      const whileDown = await collect(kafka, config.topics.decisions, (seen) => seen.length >= 50, 10_000, 1_000);
      expect(whileDown).toHaveLength(50);

      redis = await startLocalRedis({ port });
      const all = await collect(kafka, config.topics.decisions, (seen) => seen.length >= 250, 60_000, 2_000);
      const ids = all.map((m) => DecisionSchema.parse(JSON.parse(m.value!.toString())).txId);
      expect(ids).toHaveLength(250);
      expect(new Set(ids)).toEqual(new Set([...first, ...during].map((t) => t.txId)));
      await producer.disconnect();
      expect((await metrics.decisions.get()).values.reduce((s, v) => s + v.value, 0)).toBeGreaterThanOrEqual(250);
    } finally {
      await pipeline.stop();
      await redis.stop();
    }
  });
});
