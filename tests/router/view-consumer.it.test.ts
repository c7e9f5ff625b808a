/**
 * A view consumer (the case view, the search index) commits what it applied on a timer and when it stops, not after
 * every batch (kafkajs' autoCommit holds each fetch until a commit per partition returned). On the real broker: what
 * was applied is committed within a few ticks, a stop commits what the timer had not, and a new consumer of the same
 * group starts after it (re-reading nothing it had applied and committed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { logger } from '../../core/logger.ts';
import { startViewConsumer, VIEW_COMMIT_EVERY_MS } from '../../router/view-consumer.ts';
import { testConfig } from '../helpers/services.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('view consumer offsets', () => {
  let config: Config;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  const topic = () => config.topics.cases;
  const groupId = () => `${config.groups.detect}-view-test`;

  beforeAll(async () => {
    config = await testConfig('view-consumer');
    kafka = createKafka(config, '-view-test');
    admin = kafka.admin();
    await admin.connect();
    producer = createProducer(kafka);
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await admin?.disconnect();
  });

  const send = (from: number, n: number) => producer.send({ topic: topic(), messages: Array.from({ length: n }, (_, i) => ({ key: `k${from + i}`, value: String(from + i) })) });
  const committed = async () => {
    const [t] = await admin.fetchOffsets({ groupId: groupId(), topics: [topic()] });
    return t!.partitions.reduce((a, p) => a + Math.max(0, Number(p.offset)), 0);
  };
  const end = async () => (await admin.fetchTopicOffsets(topic())).reduce((a, p) => a + Number(p.offset), 0);
  const start = (applied: KafkaMessage[]) =>
    startViewConsumer({ kafka, groupId: groupId(), topic: topic(), name: 'test view', log: logger('test'), maxWaitTimeInMs: 100, apply: async (ms) => void applied.push(...ms) });

  it('commits what it applied on its timer and at stop; the next member of the group starts after it', async () => {
    const applied: KafkaMessage[] = [];
    const view = await start(applied);
    await send(0, 300);
    await until('300 applied', () => applied.length >= 300);
    await until('the timer committed them', async () => (await committed()) === (await end()), 10 * VIEW_COMMIT_EVERY_MS);
    expect(await committed()).toBe(300);

    // Applied just now, then stopped before the next tick: the stop commits them.
    await send(300, 50);
    await until('350 applied', () => applied.length >= 350);
    await view.stop();
    expect(await committed()).toBe(350);

    const again: KafkaMessage[] = [];
    const next = await start(again);
    await send(350, 10);
    await until('the 10 new ones applied', () => again.length >= 10);
    await sleep(300);
    await next.stop();
    expect(again.map((m) => Number(m.value!.toString())).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 350 + i));
  }, 90_000);
});
