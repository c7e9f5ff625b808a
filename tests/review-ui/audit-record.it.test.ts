/**
 * The audit topic is the record (issue 18 item 5): `users add/passwd/remove` are audited there, `audit verify` reads
 * it end to end and reports a record cut off at the old end (exit 1, TRUNCATED), and the capped Redis view never
 * trims the record: a flood of logins cannot push anything out of it.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { auditHmacKey } from '../../core/audit-key.ts';
import type { Config } from '../../core/config.ts';
import { createKafka } from '../../core/kafka.ts';
import { AuditLog, kafkaAuditRecord } from '../../state/audit.ts';
import { configEnv, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';


describe('the audit topic is the record', () => {
  let config: Config;
  let redis: Redis;
  let kafka: Kafka;
  const cli = (args: string[], stdin?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { env: { ...process.env, ...configEnv(config), LOG_LEVEL: 'warn' } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (stdin !== undefined) child.stdin!.end(stdin);
    });

  beforeAll(async () => {
    config = await testConfig('audit-record');
    redis = testRedis(config);
    kafka = createKafka(config, '-test');
  });
  afterAll(async () => {
    await dropTestKeys(redis, config);
    redis.disconnect();
  });

  it('users add, passwd and remove are audited on the topic; a capped view trims only itself; verify reads the topic from seq 1', async () => {
    expect((await cli(['users', 'add', 'zoe', '--role', 'analyst', '--password-stdin'], 'zoe-password-1\n')).code).toBe(0);
    expect((await cli(['users', 'passwd', 'zoe', '--password-stdin'], 'zoe-password-2\n')).code).toBe(0);
    expect((await cli(['users', 'remove', 'zoe'])).code).toBe(0);

    const record = kafkaAuditRecord(kafka, config.topics.audit);
    // A view of 3 entries: 20 logins fill it many times over.
    const audit = new AuditLog(redis, config.redis.keyPrefix, { key: auditHmacKey(config).key, record, keep: 3 });
    for (let i = 0; i < 20; i++) await audit.record({ who: 'alice', action: 'login', target: 'session', ip: '127.0.0.1' });
    expect(await redis.llen(audit.key)).toBe(3);
    const v = await audit.verify();
    expect(v).toMatchObject({ ok: true, checked: 23, firstSeq: 1, lastSeq: 23, truncated: false });
    const first3 = (await record.read(0n, 3n)).map((m) => JSON.parse(m.value!) as { action: string; target: string; who: string });
    expect(first3.map((e) => e.action)).toEqual(['users.add', 'users.passwd', 'users.remove']);
    expect(first3.every((e) => e.target === 'user:zoe' && e.who.startsWith('cli:'))).toBe(true);
    const ok = await cli(['audit', 'verify']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^intact: 23 entries read from .* \(seq 1 to 23\)/m);

    // Cut the old end off the topic (what retention or a delete-records does): reported, exit 1.
    const admin = kafka.admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [config.topics.audit] });
    await admin.deleteTopicRecords({ topic: config.topics.audit, partitions: [{ partition: 0, offset: '2' }] });
    await admin.disconnect();
    expect(await audit.verify()).toMatchObject({ ok: false, truncated: true, firstSeq: 3 });
    const cut = await cli(['audit', 'verify']);
    expect(cut.code).toBe(1);
    expect(cut.stdout).toMatch(/^TRUNCATED: 21 entries read/m);
    expect(cut.stdout).toMatch(/starts at seq 3: entries 1 to 2 are gone/);
    await record.close();
  }, 180_000);
});
