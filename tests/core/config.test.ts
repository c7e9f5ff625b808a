import { describe, expect, it } from 'vitest';
import { loadConfig, isolatedConfig } from '../../core/config.ts';
import { FraudstreamError } from '../../core/errors.ts';

describe('config', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(c.kafka.partitions).toBe(6);
    expect(c.topics.dlq).toBe('transactions.dlq');
  });

  it('parses lists and numbers', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:1, b:2', KAFKA_PARTITIONS: '12', UI_PORT: '0' });
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(c.kafka.partitions).toBe(12);
    expect(c.ui.port).toBe(0);
  });

  it.each([
    ['KAFKA_PARTITIONS', 'many'],
    ['KAFKA_PARTITIONS', '0'],
    ['UI_PORT', '70000'],
    ['KAFKA_BROKERS', 'no-port-here'],
    ['REDIS_URL', 'http://x'],
    ['LOG_LEVEL', 'loud'],
    ['TOPIC_DECISIONS', 'bad topic!'],
  ])('a bad %s=%s fails naming the variable', (name, value) => {
    let caught: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FraudstreamError);
    expect((caught as Error).message).toContain(`${name}=`);
    expect((caught as Error).message).toContain(JSON.stringify(value));
  });

  it('isolates topics, groups and Redis keys per suffix', () => {
    const a = isolatedConfig(loadConfig({}), 'a');
    const b = isolatedConfig(loadConfig({}), 'b');
    expect(a.topics.transactions).not.toBe(b.topics.transactions);
    expect(a.groups.detect).not.toBe(b.groups.detect);
    expect(a.redis.keyPrefix).not.toBe(b.redis.keyPrefix);
  });
});
