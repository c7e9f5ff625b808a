import { describe, expect, it } from 'vitest';
import { configEnv, loadConfig, isolatedConfig, redactEnvValue, redactUrl } from '../../core/config.ts';
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
    ['DEDUPE_WINDOW_HOURS', '0'],
    ['DEDUPE_WINDOW_HOURS', '1.5'],
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

  it('the dedupe window: 24 h by default, in hours, and handed to child processes', () => {
    expect(loadConfig({}).dedupeWindowSeconds).toBe(24 * 3600);
    const c = loadConfig({ DEDUPE_WINDOW_HOURS: '2' });
    expect(c.dedupeWindowSeconds).toBe(7200);
    expect(loadConfig(configEnv(c)).dedupeWindowSeconds).toBe(7200);
  });

  it('isolates topics, groups and Redis keys per suffix', () => {
    const a = isolatedConfig(loadConfig({}), 'a');
    const b = isolatedConfig(loadConfig({}), 'b');
    expect(a.topics.transactions).not.toBe(b.topics.transactions);
    expect(a.groups.detect).not.toBe(b.groups.detect);
    expect(a.redis.keyPrefix).not.toBe(b.redis.keyPrefix);
  });

  it.each([
    ['SESSION_SECRET', 'short-secret', 'short-secret'],
    ['REVIEWER_SEED', 'alice:hunter22xyz,bob', 'hunter22xyz'],
    ['REDIS_URL', 'http://user:s3cret-pw@redis:6379', 's3cret-pw'],
  ])('a bad %s names the variable but never prints the secret', (name, value, secret) => {
    let message = '';
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(`${name}=`);
    expect(message).not.toContain(secret);
  });

  it('redacts URL credentials and whole secrets, leaving other values readable', () => {
    expect(redactUrl('redis://:pw@h:6379/0')).toBe('redis://***@h:6379/0');
    expect(redactUrl('rediss://user:p@ss@h:6379')).toBe('rediss://***@h:6379');
    expect(redactUrl('redis://h:6379')).toBe('redis://h:6379');
    expect(redactEnvValue('SESSION_SECRET', 'abc')).toBe('<redacted, 3 characters>');
    expect(redactEnvValue('UI_PORT', '70000')).toBe('70000');
  });

  it('trusts no proxy unless TRUST_PROXY says which', () => {
    expect(loadConfig({}).ui.trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'loopback' }).ui.trustProxy).toBe('loopback');
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8,fd00::/8' }).ui.trustProxy).toBe('10.0.0.0/8,fd00::/8');
    expect(() => loadConfig({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY=/);
  });
});
