/**
 * The review console under abuse (issue 12): each test tries an attack over HTTP against a real server and
 * asserts the refusal. Login counters are per IP, and every request here comes from 127.0.0.1, so each test
 * starts from clean counters (clearLoginCounters) rather than depending on the order they run in.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { DecisionSchema, type Decision } from '../../core/contracts.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { AuditLog, openAuditLog } from '../../state/audit.ts';
import { auditHmacKey } from '../../core/audit-key.ts';
import { SessionStore, UserStore, ipScope } from '../../review-ui/server/auth.ts';
import { collect, createKafka, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';

let config: Config;
let ui: UiServer;
let redis: Redis;
let producer: Producer;
let users: UserStore;

beforeAll(async () => {
  const MODEL_DIR = join(tmpdir(), `fraudstream-no-models-${randomUUID()}`);
  config = await testConfig('uiabuse', { REVIEWER_SEED: 'alice:correct-horse,bob:battery-staple,ana@analyst:analyst-pass', MODEL_DIR });
  redis = testRedis(config);
  users = new UserStore(redis, config.redis.keyPrefix);
  // Small slow-client bounds, so a stalled stream is found after megabytes rather than hours.
  ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 }, sse: { maxBufferedBytes: 256 * 1024, maxStallMs: 2_000 } });
  producer = createKafka(config, '-abuse').producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await ui?.close();
  await dropTestKeys(redis, config);
  redis.disconnect();
});

async function clearLoginCounters(): Promise<void> {
  const p = config.redis.keyPrefix;
  for (const pattern of [`${p}ui:login-fail:*`, `${p}ui:login-acct:*`, `${p}ui:login-ip:*`, `${p}ui:login-known:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}
beforeEach(clearLoginCounters);

const login = (username: string, password: string, headers: Record<string, string> = {}) => apiLogin(ui.url, username, password, headers);
const call = (c: Client, method: string, path: string, body?: unknown) => apiCall(ui.url, c, method, path, body);

const counts = (statuses: number[]) => statuses.reduce<Record<number, number>>((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {});

describe('login guessing', () => {
  it('40 parallel wrong passwords for one account: at most 5 are checked, the rest get 429 with Retry-After', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => fetch(`${ui.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: `guess-${i}` }) })),
    );
    const c = counts(answers.map((r) => r.status));
    expect(c[401]).toBe(5);
    expect(c[429]).toBe(35);
    const limited = answers.find((r) => r.status === 429)!;
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Now even the right password waits out the window: the guesser cannot tell a hit from a miss.
    expect((await login('alice', 'correct-horse')).status).toBe(429);
  });

  it('rotating X-Forwarded-For does not give a fresh IP (TRUST_PROXY is off), nor forge the audit ip', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await login('bob', `wrong-${i}`, { 'x-forwarded-for': `203.0.113.${i + 1}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
    const events = await new AuditLog(redis, config.redis.keyPrefix, { key: auditHmacKey(config).key }).listAuth(5, { who: 'bob' });
    expect(events.length).toBe(5);
    for (const e of events) {
      expect(e.action).toBe('login.failed');
      expect(e.ip).not.toMatch(/203\.0\.113/);
      expect(['127.0.0.1', '::1', '::ffff:127.0.0.1']).toContain(e.ip);
    }
  });

  it('spraying made-up account names from one IP is refused after the per-IP budget', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await login(`nobody-${i}`, 'password-1')).status);
    const c = counts(statuses);
    expect(c[401]).toBe(50);
    expect(c[429]).toBe(10);
  });

  it('good logins refund nothing: interleaved with guesses at other names they count toward the per-IP budget (issue 18)', async () => {
    // With a refund, 20 good logins gave their 20 back and all 40 guesses got a 401; without, the IP's 50 run out.
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      statuses.push((await login('alice', 'correct-horse')).status);
      statuses.push((await login(`spray-${i}`, 'password-1')).status);
      statuses.push((await login(`spray-b-${i}`, 'password-1')).status);
    }
    const c = counts(statuses);
    expect(c[200]).toBe(17);
    expect(c[401]).toBe(33);
    expect(c[429]).toBe(10);
  });

  it('good logins of one account count toward its own budget: past 20 only an address that proved the password gets in (issue 19)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) statuses.push((await login('alice', 'correct-horse')).status);
    // 127.0.0.1 proved alice's password at the first login: the account's limit does not hold it back.
    expect(counts(statuses)).toEqual({ 200: 22 });
    // From an address that never did (the known set forgotten), past the account's 20 one attempt passes (a typo
    // here), then the next in the window waits: a lock for the guessing address only.
    await redis.del(`${config.redis.keyPrefix}ui:login-known:alice`);
    expect((await login('alice', 'wrong-horse')).status).toBe(401);
    expect((await login('alice', 'correct-horse')).status).toBe(429);
  });

  it('IPv6 addresses are limited per /64, IPv4 per address', () => {
    expect(ipScope('2001:db8:1:2:aaaa::1')).toBe(ipScope('2001:db8:1:2:ffff:1:2:3'));
    expect(ipScope('2001:db8:1:2::1')).not.toBe(ipScope('2001:db8:1:3::1'));
    expect(ipScope('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(ipScope('192.0.2.1')).not.toBe(ipScope('192.0.2.2'));
  });
});

describe('hostile requests', () => {
  it.each([['null'], ['https://evil.example'], ['file://'], ['not a url']])('login with Origin: %s is 403 with a JSON reason, not a 500', async (origin) => {
    const r = await login('alice', 'correct-horse', { origin });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('cross-origin login refused');
  });

  it('an oversized body is refused with 413 and says so', async () => {
    const res = await fetch(`${ui.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'x'.repeat(400_000) }) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('body: too large');
  });

  it.each([
    ['broken JSON', '{"username": "alice", ', /body: not valid JSON/],
    ['extra keys', JSON.stringify({ username: 'alice', password: 'correct-horse', __proto__x: 1, role: 'admin' }), /Unrecognized key/i],
    ['a password of 10 kB', JSON.stringify({ username: 'alice', password: 'p'.repeat(10_000) }), /^password:/],
    ['an array', JSON.stringify([1, 2, 3]), /expected object/i],
    ['a number as name', JSON.stringify({ username: 42, password: 'correct-horse' }), /^username:/],
  ])('a body with %s is 400 with a message saying what is wrong', async (_what, body, message) => {
    const res = await fetch(`${ui.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
  });

  it('a state-changing request without the CSRF token is 403', async () => {
    const { client } = await login('alice', 'correct-horse');
    const res = await fetch(`${ui.url}/api/logout`, { method: 'POST', headers: { cookie: client!.cookie } });
    expect(res.status).toBe(403);
  });
});

describe('audit', () => {
  it('a flood of failed logins does not evict a single action, and the chain verifies', async () => {
    const { client } = await login('alice', 'correct-horse');
    const current = ((await (await call(client!, 'GET', '/api/policy')).json()) as { current: Record<string, unknown> }).current;
    const { version: baseVersion, updatedAt: _u, updatedBy: _b, ...content } = current;
    const put = await call(client!, 'PUT', '/api/policy', { ...content, baseVersion });
    expect(put.status, await put.clone().text()).toBe(200);
    await clearLoginCounters();
    // Over HTTP the per-IP budget stops a flood after 50; the cap of the authentication list is what keeps
    // actions safe from the rest, so flood it past its cap directly.
    const { audit, close } = openAuditLog(config, redis, createKafka(config, '-abuse-audit'));
    const authOnly = new AuditLog(redis, config.redis.keyPrefix, { key: auditHmacKey(config).key, keepAuth: 200 });
    for (let i = 0; i < 500; i++) await authOnly.recordAuth({ who: `flood-${i}`, action: 'login.failed', target: 'session', ip: '198.51.100.7' });
    expect((await authOnly.listAuth(1000)).length).toBe(200);
    const entries = ((await (await call(client!, 'GET', '/api/audit?target=policy')).json()) as { entries: Array<{ action: string; who: string; hash?: string }> }).entries;
    expect(entries[0]).toMatchObject({ action: 'policy.update', who: 'alice' });
    expect(entries[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
    // The record: the same entry, MAC included, on the audit topic, and the topic's chain verifies from seq 1.
    expect(await audit.verify()).toMatchObject({ ok: true, problems: [], firstSeq: 1, truncated: false });
    const seen = await collect(createKafka(config, '-audit-read'), config.topics.audit, (ms) => ms.some((m) => m.value?.toString().includes(entries[0]!.hash!)), 30_000);
    expect(seen.length).toBeGreaterThan(0);
    await close();
  });

  it('editing, deleting or cutting off an action shows in verify()', async () => {
    const prefix = `${config.redis.keyPrefix}chain-${randomUUID().slice(0, 6)}:`;
    const audit = new AuditLog(redis, prefix, { key: auditHmacKey(config).key });
    for (let i = 0; i < 5; i++) await audit.record({ who: 'alice', action: 'case.approve', target: `case:c${i}`, after: { note: `n${i}` } });
    expect(await audit.verify()).toMatchObject({ ok: true, checked: 5 });
    const key = audit.key;
    const intact = await redis.lrange(key, 0, -1);
    const tamper = async (entries: string[]) => {
      await redis.multi().del(key).rpush(key, ...entries).exec();
      const v = await audit.verify();
      await redis.multi().del(key).rpush(key, ...intact).exec();
      return v;
    };
    const edited = intact.map((e, i) => (i === 2 ? e.replace('"n2"', '"n2 (edited)"') : e));
    expect((await tamper(edited)).problems.join('\n')).toMatch(/MAC does not match its content/);
    expect((await tamper(intact.filter((_, i) => i !== 2))).problems.join('\n')).toMatch(/does not follow/);
    expect((await tamper([intact[1]!, intact[0]!, ...intact.slice(2)])).problems.join('\n')).toMatch(/does not follow/);
    expect((await tamper(intact.slice(1))).problems.join('\n')).toMatch(/head is/);
    expect(await audit.verify()).toMatchObject({ ok: true, checked: 5 });
    await dropTestKeys(redis, { ...config, redis: { ...config.redis, keyPrefix: prefix } });
  });
});

describe('sessions', () => {
  it('carry the account role', async () => {
    expect((await login('ana', 'analyst-pass')).body.role).toBe('analyst');
    expect((await login('alice', 'correct-horse')).body.role).toBe('admin');
  });

  it('end when the password changes, and the new password works', async () => {
    await users.add('carol', 'carol-pass-1', { role: 'analyst' });
    const { client } = await login('carol', 'carol-pass-1');
    expect((await call(client!, 'GET', '/api/session')).status).toBe(200);
    await users.passwd('carol', 'carol-pass-2');
    expect((await call(client!, 'GET', '/api/session')).status).toBe(401);
    expect((await login('carol', 'carol-pass-1')).status).toBe(401);
    expect((await login('carol', 'carol-pass-2')).status).toBe(200);
  });

  it('end when the account is removed', async () => {
    await users.add('dave', 'dave-pass-1', { role: 'admin' });
    const { client } = await login('dave', 'dave-pass-1');
    expect((await call(client!, 'GET', '/api/session')).status).toBe(200);
    expect(await users.remove('dave')).toBe(true);
    expect((await call(client!, 'GET', '/api/session')).status).toBe(401);
  });

  it('end at their absolute lifetime however active', async () => {
    const store = new SessionStore(redis, config.redis.keyPrefix, 'test-secret-123456', 3600, 1);
    const account = (await users.get('alice'))!;
    const { sid } = await store.create(account);
    expect(await store.get(sid)).toBeDefined();
    await new Promise((r) => setTimeout(r, 600));
    expect(await store.get(sid)).toBeDefined();
    await new Promise((r) => setTimeout(r, 600));
    expect(await store.get(sid)).toBeUndefined();
  });
});

function decision(i: number): Decision {
  const txId = `abuse-${randomUUID()}-${i}`;
  return DecisionSchema.parse({
    decisionId: `${txId}:detect`, txId, cardId: `card-${i % 50}`, action: 'ALLOW', stage: 'detect', final: true,
    reason: 'r'.repeat(500), scores: { xgboost: 0.1 }, rulesFired: [], topFeatures: [], versions: { model: 'm', policy: 1 },
    timings: { detect: 1 }, decidedAt: Date.now(), note: 'n'.repeat(2000),
    tx: { txId, cardId: `card-${i % 50}`, merchantId: 'm1', merchantName: 'M'.repeat(200), mcc: '5411', amountMinor: 100, currency: 'EUR', ts: Date.now(), channel: 'ecommerce', country: 'FR', lat: 0, lon: 0, deviceId: null },
  });
}

describe('live stream', () => {
  it('a client that stops reading is dropped and counted; one that reads keeps its stream', async () => {
    const { client } = await login('alice', 'correct-horse');
    const stats = async () => ((await (await call(client!, 'GET', '/api/stats')).json()) as { streams: { open: number; slowDropped: number } }).streams;
    const before = await stats();
    // The stalled client: asks for the stream and never reads a byte.
    const stalled: Socket = connect(Number(new URL(ui.url).port), '127.0.0.1');
    let stalledClosed = false;
    stalled.on('close', () => (stalledClosed = true));
    stalled.on('error', () => undefined);
    stalled.on('connect', () => stalled.pause());
    stalled.write(`GET /api/stream HTTP/1.1\r\nHost: ${new URL(ui.url).host}\r\nCookie: ${client!.cookie}\r\n\r\n`);
    // The healthy client reads everything.
    const healthy = await fetch(`${ui.url}/api/stream`, { headers: { cookie: client!.cookie } });
    const reader = healthy.body!.getReader();
    let healthyBytes = 0;
    const reading = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        healthyBytes += value.length;
      }
    })();
    // handled from the start: if the server ever dropped the healthy stream too, the assertions below say so
    const readingEnd = reading.then(() => 'ended', (err: Error) => `failed: ${err.message}`);
    await expect.poll(async () => (await stats()).open, { timeout: 15_000 }).toBe(before.open + 2);
    // ~3 kB per decision: a few thousand fill the socket buffers on both sides, then the server's bound.
    for (let sent = 0; sent < 60_000 && (await stats()).slowDropped === before.slowDropped; sent += 200) {
      await producer.send({ topic: config.topics.decisions, messages: Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify(decision(sent + i)) })) });
      // paced so the healthy reader (in this same, possibly starved, process) keeps up; the stalled one never reads
      await new Promise((r) => setTimeout(r, sent % 2_000 === 0 ? 300 : 40));
    }
    await expect.poll(async () => (await stats()).slowDropped, { timeout: 30_000 }).toBe(before.slowDropped + 1);
    // Reading again, the stalled client finds its connection closed by the server (not kept open, buffering).
    stalled.on('data', () => undefined);
    stalled.resume();
    await expect.poll(() => stalledClosed, { timeout: 10_000 }).toBe(true);
    expect((await stats()).open).toBe(before.open + 1);
    expect(healthyBytes).toBeGreaterThan(1_000_000);
    await reader.cancel();
    expect(await readingEnd).not.toMatch(/^failed: (?!.*cancel)/i);
  }, 120_000);
});

describe('config errors', () => {
  it('name the variable but never print a secret', async () => {
    const env = { ...process.env, REDIS_URL: 'http://admin:redis-s3cret-pw@127.0.0.1:6379', SESSION_SECRET: 'tiny-secret', REVIEWER_SEED: 'eve:hunter2-secret-seed,broken', LOG_LEVEL: 'info' };
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'users', 'list'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).not.toBe(0);
    expect(out).toMatch(/REDIS_URL=/);
    expect(out).toMatch(/SESSION_SECRET=/);
    expect(out).toMatch(/REVIEWER_SEED=/);
    for (const secret of ['redis-s3cret-pw', 'tiny-secret', 'hunter2-secret-seed']) expect(out).not.toContain(secret);
  }, 60_000);
});
