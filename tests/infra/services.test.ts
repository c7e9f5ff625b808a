import { describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '../../core/errors.ts';
import { findOrStartServices, type ServicePorts } from '../../infra/services.ts';

/** Fakes that answer on the given addresses only and record what was started and stopped. */
function fakePorts(answering: { kafka: string[]; redis: string[] }) {
  const calls: string[] = [];
  const ports: ServicePorts = {
    kafkaAnswers: async (brokers, timeoutMs) => {
      calls.push(`probe kafka ${brokers.join(',')} ${timeoutMs}`);
      return brokers.some((b) => answering.kafka.includes(b));
    },
    redisAnswers: async (url, timeoutMs) => {
      calls.push(`probe redis ${url} ${timeoutMs}`);
      return answering.redis.includes(url);
    },
    startKafka: async (brokers) => {
      calls.push(`start kafka ${brokers.join(',')}`);
      return { brokers, started: true, logFile: '/tmp/broker.log', stop: async () => calls.push('stop kafka') };
    },
    startRedis: async () => {
      calls.push('start redis');
      return { url: 'redis://127.0.0.1:40001', stop: async () => calls.push('stop redis') };
    },
  };
  return { ports, calls };
}

const base = { defaultBrokers: ['127.0.0.1:9092'], defaultRedisUrl: 'redis://127.0.0.1:6379', command: 'bench', say: () => undefined };

describe('bench finds or starts its services (issue 20, item 6)', () => {
  it('starts its own broker and redis-server when nothing is configured or answering, and stops both', async () => {
    const { ports, calls } = fakePorts({ kafka: [], redis: [] });
    const s = await findOrStartServices({ ...base, env: {} }, ports);
    expect(s.brokers).toEqual(['127.0.0.1:9092']);
    expect(s.redisUrl).toBe('redis://127.0.0.1:40001');
    expect(s.kafkaFrom).toMatch(/^started by bench/);
    expect(s.redisFrom).toBe('started by bench');
    expect(calls).toContain('start kafka 127.0.0.1:9092');
    await s.stop();
    expect(calls.slice(-2)).toEqual(['stop redis', 'stop kafka']);
  });

  it('uses services already answering on the default ports and starts nothing', async () => {
    const { ports, calls } = fakePorts({ kafka: ['127.0.0.1:9092'], redis: ['redis://127.0.0.1:6379'] });
    const s = await findOrStartServices({ ...base, env: {} }, ports);
    expect([s.kafkaFrom, s.redisFrom]).toEqual(['already running', 'already running']);
    expect(calls.filter((c) => c.startsWith('start'))).toEqual([]);
    await s.stop();
    expect(calls.filter((c) => c.startsWith('stop'))).toEqual([]);
  });

  it('fails within seconds, naming the variable, when a configured broker does not answer', async () => {
    const { ports, calls } = fakePorts({ kafka: [], redis: [] });
    const err = await findOrStartServices({ ...base, env: { KAFKA_BROKERS: '127.0.0.1:1' }, configuredTimeoutMs: 2_000 }, ports).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect((err as Error).message).toMatch(/KAFKA_BROKERS=127\.0\.0\.1:1: no broker answered within 2 s.*unset KAFKA_BROKERS/);
    expect(calls).toEqual(['probe kafka 127.0.0.1:1 2000']);
  });

  it('stops the broker it started when the configured Redis does not answer', async () => {
    const { ports, calls } = fakePorts({ kafka: [], redis: [] });
    const err = await findOrStartServices({ ...base, env: { REDIS_URL: 'redis://:secret@127.0.0.1:2' } }, ports).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^REDIS_URL: no Redis answered/);
    expect((err as Error).message).not.toContain('secret');
    expect(calls).toContain('start kafka 127.0.0.1:9092');
    expect(calls.at(-1)).toBe('stop kafka');
  });
});
