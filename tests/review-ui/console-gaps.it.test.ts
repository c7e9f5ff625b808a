/**
 * The console's last gaps (issue 19 item 6) against a real server, Redis and Kafka: the policy's audit content is
 * for admins only, PUT /api/policy is a compare-and-set on the version it edits (409, and the page reloads in a
 * real browser), live streams per session are bounded, the session cookie is `__Host-` over TLS, and dead letters
 * are shown with card data masked while the topic keeps the raw bytes.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import type { Config } from '../../core/config.ts';
import type { DeadLetter } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { collect, createKafka, testConfig, testRedis } from '../helpers/services.ts';

let config: Config;
let ui: UiServer;
let redis: Redis;
const MAX_STREAMS = 2;

beforeAll(async () => {
  await ensureUiBuilt();
  const MODEL_DIR = join(tmpdir(), `fraudstream-no-models-${randomUUID()}`);
  config = await testConfig('uigaps', {
    REVIEWER_SEED: 'alice:correct-horse,bob:battery-staple,ana@analyst:analyst-pass',
    MODEL_DIR,
    // The test client is the "proxy" on loopback: X-Forwarded-Proto https makes a request secure, as behind Caddy.
    TRUST_PROXY: 'loopback',
    UI_SSE_PER_SESSION: String(MAX_STREAMS),
  });
  redis = testRedis(config);
  ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 }, deadLetterBackfill: 50 });
});
afterAll(() => closeConsoleTest({ ui, redis, config }));

const login = (user: string, password: string, headers: Record<string, string> = {}) => apiLogin(ui.url, user, password, headers);
const call = (c: Client | undefined, method: string, path: string, body?: unknown) => apiCall(ui.url, c, method, path, body);
const client = async (user: string, password: string): Promise<Client> => {
  const r = await login(user, password);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.client!;
};
type PolicyDoc = { version: number; updatedAt: number; updatedBy: string } & Record<string, unknown>;
const currentPolicy = async (c: Client): Promise<PolicyDoc> => ((await (await call(c, 'GET', '/api/policy')).json()) as { current: PolicyDoc }).current;
const contentOf = ({ version: _v, updatedAt: _u, updatedBy: _b, ...content }: PolicyDoc) => content as Record<string, unknown> & { lists: Record<string, string[]>; review: Record<string, number> };

describe('policy audit entries: content for admins only', () => {
  it('an analyst sees that the policy changed and its version numbers, not its lists; an admin sees all', async () => {
    const alice = await client('alice', 'correct-horse');
    const ana = await client('ana', 'analyst-pass');
    const cur = await currentPolicy(alice);
    const content = contentOf(cur);
    const secretCard = `card-watch-${randomUUID().slice(0, 8)}`;
    const put = await call(alice, 'PUT', '/api/policy', { ...content, baseVersion: cur.version, lists: { ...content.lists, blockCards: [secretCard] } });
    expect(put.status, await put.clone().text()).toBe(200);

    const asAnalyst = await call(ana, 'GET', '/api/audit?target=policy');
    expect(asAnalyst.status).toBe(200);
    const text = await asAnalyst.text();
    expect(text).not.toContain(secretCard);
    expect(text).not.toContain('blockAmountAbove');
    const seen = (JSON.parse(text) as { entries: Array<Record<string, unknown>> }).entries[0]!;
    expect(seen).toMatchObject({ who: 'alice', action: 'policy.update', target: 'policy', before: { version: cur.version }, after: { version: cur.version + 1 }, redacted: 'content shown to admins only' });
    // Unfiltered, the same.
    expect(await (await call(ana, 'GET', '/api/audit')).text()).not.toContain(secretCard);

    const asAdmin = (await (await call(alice, 'GET', '/api/audit?target=policy')).json()) as { entries: Array<{ after: { lists: { blockCards: string[] } } }> };
    expect(asAdmin.entries[0]!.after.lists.blockCards).toEqual([secretCard]);
  });
});

describe('PUT /api/policy carries the version it edits', () => {
  it('400 without baseVersion (saying what to send), 409 on a stale one (saying what is current), 200 on the current one', async () => {
    const alice = await client('alice', 'correct-horse');
    const cur = await currentPolicy(alice);
    const content = contentOf(cur);

    const old = await call(alice, 'PUT', '/api/policy', content);
    expect(old.status).toBe(400);
    expect(((await old.json()) as { error: string }).error).toMatch(/^baseVersion: missing; send the version your edit is based on \(current\.version from GET \/api\/policy\)/);

    const ok = await call(alice, 'PUT', '/api/policy', { ...content, baseVersion: cur.version });
    expect(ok.status).toBe(200);
    const stale = await call(alice, 'PUT', '/api/policy', { ...content, baseVersion: cur.version, review: { ...content.review, capacity: 7 } });
    expect(stale.status).toBe(409);
    const body = (await stale.json()) as { error: string; conflict: boolean; baseVersion: number; currentVersion: number; currentBy: string };
    expect(body).toMatchObject({ conflict: true, baseVersion: cur.version, currentVersion: cur.version + 1, currentBy: 'alice' });
    expect(body.error).toMatch(new RegExp(`^the policy changed since you loaded it: you edited v${cur.version}, the current one is v${cur.version + 1} by alice at .*Reload it, redo your change and save again\\.$`));
    expect((await currentPolicy(alice)).version).toBe(cur.version + 1);
  });

  it('two admins saving edits of the same version at once: one is applied, the other gets 409', async () => {
    const alice = await client('alice', 'correct-horse');
    const bob = await client('bob', 'battery-staple');
    const cur = await currentPolicy(alice);
    const content = contentOf(cur);
    const [a, b] = await Promise.all([
      call(alice, 'PUT', '/api/policy', { ...content, baseVersion: cur.version, review: { ...content.review, capacity: 11 } }),
      call(bob, 'PUT', '/api/policy', { ...content, baseVersion: cur.version, review: { ...content.review, capacity: 22 } }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const now = await currentPolicy(alice);
    expect(now.version).toBe(cur.version + 1);
    expect((now.review as { capacity: number }).capacity).toBe(a.status === 200 ? 11 : 22);
  });
});

describe('live streams per session', () => {
  it(`refuses stream ${MAX_STREAMS + 1} of one session with 429 and a message; another session and a freed slot pass`, async () => {
    const alice = await client('alice', 'correct-horse');
    const open: AbortController[] = [];
    const stream = async (c: Client) => {
      const ac = new AbortController();
      const res = await fetch(`${ui.url}/api/stream`, { headers: { cookie: c.cookie }, signal: ac.signal });
      if (res.status === 200) {
        open.push(ac);
        return { status: res.status, body: '' };
      }
      return { status: res.status, body: await res.text() };
    };
    try {
      for (let i = 0; i < MAX_STREAMS; i++) expect((await stream(alice)).status).toBe(200);
      const refused = await stream(alice);
      expect(refused.status).toBe(429);
      expect((JSON.parse(refused.body) as { error: string }).error).toBe(`too many live streams for this session: ${MAX_STREAMS} open, at most ${MAX_STREAMS} (UI_SSE_PER_SESSION); close another tab of the console and reload`);
      // Per session: alice's other login is not counted against this one.
      expect((await stream(await client('alice', 'correct-horse'))).status).toBe(200);
      // A closed stream frees its slot (the server sees the socket close).
      open.shift()!.abort();
      await expect.poll(async () => (await stream(alice)).status, { timeout: 10_000 }).toBe(200);
    } finally {
      for (const ac of open) ac.abort();
    }
  });
});

describe('session cookie', () => {
  const https = { 'x-forwarded-proto': 'https' };

  it('over TLS (X-Forwarded-Proto https from the trusted proxy) is __Host-fs_sid: Secure, Path=/, no Domain', async () => {
    const res = await fetch(`${ui.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...https }, body: JSON.stringify({ username: 'alice', password: 'correct-horse' }) });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^__Host-fs_sid=[^;]+; /);
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(cookie).toMatch(/; Secure(;|$)/i);
    expect(cookie).not.toMatch(/Domain=/i);
    const value = cookie.split(';')[0]!.slice('__Host-fs_sid='.length);
    const session = (cookieHeader: string, headers: Record<string, string> = https) => fetch(`${ui.url}/api/session`, { headers: { cookie: cookieHeader, ...headers } });
    expect((await session(`__Host-fs_sid=${value}`)).status).toBe(200);
    // Over TLS the plain name is not read: a cookie planted by a plain-http response does not make a session.
    expect((await session(`fs_sid=${value}`)).status).toBe(401);
    const out = await fetch(`${ui.url}/api/logout`, { method: 'POST', headers: { cookie: `__Host-fs_sid=${value}`, 'x-csrf-token': ((await res.json()) as { csrf: string }).csrf, ...https } });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/^__Host-fs_sid=; .*Secure/i);
  });

  it('over plain http stays fs_sid without Secure', async () => {
    const r = await login('alice', 'correct-horse');
    expect(r.status).toBe(200);
    expect(r.client!.cookie).toMatch(/^fs_sid=/);
    const res = await fetch(`${ui.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'correct-horse' }) });
    expect(res.headers.get('set-cookie')).not.toMatch(/Secure/i);
  });
});

describe('dead letters', () => {
  it('shows card numbers and security codes masked; the DLQ topic keeps the raw bytes', async () => {
    const alice = await client('alice', 'correct-horse');
    const payload = JSON.stringify({ txId: `t-${randomUUID().slice(0, 8)}`, pan: '4111111111111111', cvv: '123', amountMinor: 'twelve' });
    const letter: DeadLetter = {
      sourceTopic: config.topics.transactions, partition: 0, offset: '42', key: '5555555555554444', rawBase64: Buffer.from(payload).toString('base64'),
      rawBytes: Buffer.byteLength(payload), reason: 'schema: amountMinor: expected number', stage: 'detect', failedAt: Date.now(),
    };
    const kafka = createKafka(config, '-gaps');
    const producer = createProducer(kafka);
    await producer.connect();
    try {
      await producer.send({ topic: config.topics.dlq, messages: [{ key: letter.key, value: JSON.stringify(letter) }] });
    } finally {
      await producer.disconnect();
    }
    type Summary = { letters: Array<{ offset: string; key: string; preview: string; masked: number }> };
    const shown = async () => ((await (await call(alice, 'GET', '/api/dead-letters')).json()) as Summary).letters.find((l) => l.offset === '42');
    await expect.poll(shown, { timeout: 30_000 }).toBeDefined();
    const view = (await shown())!;
    expect(view.preview).toContain('"pan":"************1111","cvv":"***"');
    expect(view.key).toBe('************4444');
    expect(view.masked).toBe(3);
    expect(await (await call(alice, 'GET', '/api/dead-letters')).text()).not.toMatch(/4111111111111111|5555555555554444/);

    const raw = await collect(kafka, config.topics.dlq, (ms) => ms.length >= 1, 30_000);
    const recorded = JSON.parse(raw[0]!.value!.toString('utf8')) as DeadLetter;
    expect(Buffer.from(recorded.rawBase64, 'base64').toString('utf8')).toBe(payload);
    expect(raw[0]!.key!.toString()).toBe('5555555555554444');
  });
});

describe('policy page on 409 (browser)', () => {
  let browser: ConsoleSession | undefined;
  let page: Page;

  afterAll(() => closeConsoleTest({ browser }));

  it('reloads the form with the version saved meanwhile and says the edit was not applied', async () => {
    browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'correct-horse' } });
    page = browser.page;
    await page.click('#nav a[data-path="policy"]');
    await page.locator('input[name="review.capacity"]').waitFor();
    const loaded = await currentPolicy(await client('alice', 'correct-horse'));
    // Bob saves a version while alice's form is open.
    const bob = await client('bob', 'battery-staple');
    const content = contentOf(loaded);
    expect((await call(bob, 'PUT', '/api/policy', { ...content, baseVersion: loaded.version, review: { ...content.review, capacity: 333 } })).status).toBe(200);

    await page.locator('input[name="review.analysts"]').fill('9');
    await page.click('#apply-btn');
    await expect.poll(() => page.textContent('#policy-status')).toMatch(
      new RegExp(`^Not applied: the policy changed since you loaded it: you edited v${loaded.version}, the current one is v${loaded.version + 1} by bob .* The form now shows v${loaded.version + 1}; your edit was discarded\\.$`),
    );
    expect(await page.inputValue('input[name="review.capacity"]')).toBe('333');
    expect(await page.textContent('#policy-form p.muted')).toMatch(new RegExp(`^Version ${loaded.version + 1}, by bob`));
    const now = await currentPolicy(bob);
    expect(now.version).toBe(loaded.version + 1);
    // Applying again from the reloaded form works.
    await page.locator('input[name="review.analysts"]').fill('9');
    await page.click('#apply-btn');
    await expect.poll(() => page.textContent('#policy-status')).toContain(`Applied as version ${loaded.version + 2}`);
    expect(browser.dialogs).toEqual([]);
  });
});
