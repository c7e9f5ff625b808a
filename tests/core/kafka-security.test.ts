import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configEnv, kafkaSecurityEnv, loadConfig } from '../../core/config.ts';
import { FraudstreamError, ErrorCodes } from '../../core/errors.ts';
import { kafkaConnection, kafkaRefusal, resolveReplication, topicSpecs } from '../../core/kafka.ts';

const dir = mkdtempSync(join(tmpdir(), 'fs-kafka-sec-'));
const ca = join(dir, 'ca.pem');
const cert = join(dir, 'client.pem');
const key = join(dir, 'client.key');
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
writeFileSync(cert, 'CERT');
writeFileSync(key, 'KEY');

const sasl = { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD: 's3cret-pw' };

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(FraudstreamError);
    expect((err as FraudstreamError).code).toBe(ErrorCodes.CONFIG_INVALID);
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

describe('Kafka security settings', () => {
  it('plaintext by default: no ssl, no sasl in the client options', () => {
    const c = loadConfig({});
    expect(c.kafka.security).toEqual({ protocol: 'PLAINTEXT' });
    expect(kafkaConnection({ brokers: ['h:1'], security: c.kafka.security })).toEqual({ brokers: ['h:1'] });
  });

  it('SASL_SSL with a CA and a client certificate becomes kafkajs ssl and sasl options', () => {
    const c = loadConfig({ ...sasl, KAFKA_SSL_CA_FILE: ca, KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: key, KAFKA_SSL_KEY_PASSWORD: 'kp' });
    const o = kafkaConnection({ brokers: c.kafka.brokers, security: c.kafka.security });
    expect(o.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'app', password: 's3cret-pw' });
    expect(o.ssl).toMatchObject({ ca: [expect.stringContaining('BEGIN CERTIFICATE')], cert: 'CERT', key: 'KEY', passphrase: 'kp' });
  });

  it.each([
    ['PLAIN', 'plain'],
    ['SCRAM-SHA-256', 'scram-sha-256'],
  ])('mechanism %s is kafkajs %s; SSL alone trusts the system CAs', (mechanism, kafkajs) => {
    const c = loadConfig({ ...sasl, KAFKA_SASL_MECHANISM: mechanism });
    expect(kafkaConnection({ brokers: ['h:1'], security: c.kafka.security })).toMatchObject({ ssl: true, sasl: { mechanism: kafkajs } });
    const s = loadConfig({ KAFKA_SECURITY_PROTOCOL: 'ssl' });
    expect(kafkaConnection({ brokers: ['h:1'], security: s.kafka.security })).toEqual({ brokers: ['h:1'], ssl: true });
  });

  it.each([
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }, /KAFKA_SASL_MECHANISM: required with KAFKA_SECURITY_PROTOCOL=SASL_SSL/],
    [{ ...sasl, KAFKA_SASL_PASSWORD: '' }, /KAFKA_SASL_PASSWORD: required/],
    [{ KAFKA_SASL_USERNAME: 'app' }, /KAFKA_SASL_USERNAME is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use SASL/],
    [{ KAFKA_SSL_CA_FILE: ca }, /KAFKA_SSL_CA_FILE is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS/],
    [{ ...sasl, KAFKA_SSL_CERT_FILE: cert }, /a client certificate needs its key/],
    [{ ...sasl, KAFKA_SSL_CA_FILE: join(dir, 'missing.pem') }, /KAFKA_SSL_CA_FILE=.*missing\.pem.*no readable file/],
    [{ KAFKA_SECURITY_PROTOCOL: 'TLS' }, /KAFKA_SECURITY_PROTOCOL="TLS": one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/],
    [{ ...sasl, KAFKA_SASL_MECHANISM: 'GSSAPI' }, /KAFKA_SASL_MECHANISM="GSSAPI": one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/],
    [{ KAFKA_REPLICATION_FACTOR: 'three' }, /KAFKA_REPLICATION_FACTOR="three": auto or a whole number/],
    [{ KAFKA_REPLICATION_FACTOR: '2', KAFKA_MIN_INSYNC_REPLICAS: '3' }, /KAFKA_MIN_INSYNC_REPLICAS=3: at most KAFKA_REPLICATION_FACTOR \(2\)/],
  ])('%o is refused saying what to fix', (env, message) => {
    expect(configError(env as Record<string, string>)).toMatch(message);
  });

  it('never prints the SASL password or the key password in a config error', () => {
    const m = configError({ ...sasl, KAFKA_SASL_PASSWORD: 'hunter2-secret', KAFKA_SSL_KEY_PASSWORD: 'key-pass-xyz', KAFKA_PARTITIONS: 'x', KAFKA_SASL_MECHANISM: 'bogus' });
    expect(m).toContain('KAFKA_SASL_MECHANISM=');
    expect(m).not.toContain('hunter2-secret');
    expect(m).not.toContain('key-pass-xyz');
  });

  it('a child process gets the same security through configEnv', () => {
    const c = loadConfig({ ...sasl, KAFKA_SSL_CA_FILE: ca, KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '2' });
    const again = loadConfig(configEnv(c));
    expect(again.kafka.security).toEqual(c.kafka.security);
    expect(again.kafka.replication).toEqual({ factor: 3, minInsync: 2 });
    expect(kafkaSecurityEnv({ protocol: 'PLAINTEXT' })).toEqual({ KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT' });
  });

  it('calls a broker that refused the credentials or the certificate a refusal, and a refused connection not', () => {
    const target = { brokers: ['h:1'], security: loadConfig(sasl).kafka.security };
    const auth = Object.assign(new Error('SASL SCRAM SHA512 authentication failed: invalid credentials'), { name: 'KafkaJSSASLAuthenticationError' });
    expect(kafkaRefusal(auth, target)?.code).toBe(ErrorCodes.SERVICE_REFUSED);
    expect(kafkaRefusal(auth, target)?.message).toMatch(/refused the credentials of KAFKA_SASL_USERNAME=app \(SCRAM-SHA-512\): SASL SCRAM SHA512 authentication failed/);
    const tls = Object.assign(new Error('Connection error: self-signed certificate in certificate chain'), { name: 'KafkaJSConnectionError', code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(kafkaRefusal(tls, target)?.message).toMatch(/TLS handshake .* KAFKA_SSL_CA_FILE/);
    const down = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:1'), { name: 'KafkaJSConnectionError', code: 'ECONNREFUSED' });
    expect(kafkaRefusal(down, target)).toBeUndefined();
  });
});

describe('replication of the project topics', () => {
  const auto = { factor: 'auto', minInsync: 'auto' } as const;

  it('auto: 1 / 1 on one broker, 2 / 1 on two, 3 / 2 on three or more', () => {
    expect(resolveReplication(auto, 1)).toEqual({ factor: 1, minInsync: 1 });
    expect(resolveReplication(auto, 2)).toEqual({ factor: 2, minInsync: 1 });
    expect(resolveReplication(auto, 3)).toEqual({ factor: 3, minInsync: 2 });
    expect(resolveReplication(auto, 5)).toEqual({ factor: 3, minInsync: 2 });
  });

  it('configured numbers win, and one the cluster cannot hold is refused naming the variable', () => {
    expect(resolveReplication({ factor: 2, minInsync: 2 }, 3)).toEqual({ factor: 2, minInsync: 2 });
    expect(() => resolveReplication({ factor: 3, minInsync: 'auto' }, 1)).toThrow(/KAFKA_REPLICATION_FACTOR=3 but the cluster has 1 broker: set it to at most 1, or auto/);
    expect(() => resolveReplication({ factor: 'auto', minInsync: 3 }, 2)).toThrow(/KAFKA_MIN_INSYNC_REPLICAS=3 is more than the replication factor 2/);
  });

  it('every topic spec carries the resolved factor and min.insync.replicas', () => {
    const specs = topicSpecs(loadConfig({}), { factor: 3, minInsync: 2 });
    expect(specs.length).toBeGreaterThan(5);
    for (const s of specs) {
      expect(s.replicationFactor).toBe(3);
      expect(s.configEntries).toContainEqual({ name: 'min.insync.replicas', value: '2' });
    }
  });
});
