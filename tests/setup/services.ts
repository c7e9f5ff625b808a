/**
 * Finds or starts the real services for integration tests, in this order:
 * 1. KAFKA_BROKERS / REDIS_URL from the environment;
 * 2. testcontainers (Kafka KRaft + Redis) when a Docker engine answers;
 * 3. the project's own local Kafka (Maven jars) on a test port and a redis-server on a free port.
 */
import type { TestProject } from 'vitest/node';
import { startLocalKafka, stopLocalKafka } from '../../infra/kafka-local.ts';
import { startLocalRedis } from '../../infra/redis-local.ts';
import { loadConfig } from '../../core/config.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    redisUrl: string;
  }
}

const stops: Array<() => Promise<unknown>> = [];

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5_000)),
    ]);
    return true;
  } catch {
    return false;
  }
}

async function kafkaFromContainers(): Promise<string> {
  const { KafkaContainer } = await import('@testcontainers/kafka');
  const c = await new KafkaContainer('confluentinc/cp-kafka:7.9.0').withKraft().start();
  stops.push(() => c.stop());
  return `${c.getHost()}:${c.getMappedPort(9093)}`;
}

async function redisFromContainers(): Promise<string> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const c = await new RedisContainer('redis:7-alpine').start();
  stops.push(() => c.stop());
  return c.getConnectionUrl();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let brokers = process.env.KAFKA_BROKERS;
  let redisUrl = process.env.REDIS_URL;
  const docker = (!brokers || !redisUrl) && (await dockerAnswers());
  if (!brokers) {
    if (docker) brokers = await kafkaFromContainers();
    else {
      const dataDir = loadConfig({}).dataDir;
      const k = await startLocalKafka({ dataDir, port: 19092, instance: 'test', onProgress: (l) => console.error(`[kafka] ${l}`) });
      if (k.started) stops.push(() => stopLocalKafka({ dataDir, instance: 'test', wipe: true }));
      brokers = k.brokers.join(',');
    }
  }
  if (!redisUrl) {
    if (docker) redisUrl = await redisFromContainers();
    else {
      const r = await startLocalRedis();
      stops.push(() => r.stop());
      redisUrl = r.url;
    }
  }
  project.provide('kafkaBrokers', brokers);
  project.provide('redisUrl', redisUrl);
  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
}
