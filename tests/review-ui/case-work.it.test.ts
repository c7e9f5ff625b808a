/**
 * Linked cases, the bulk verdict over them, the queue grouped by merchant, and the case export (issue 21), in Chromium
 * against real Kafka and Redis: every linked case's label reaches the labels topic, each verdict is audited, and an
 * export whose payload holds `<img onerror>` and `<script>` stays inert.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { LabelSchema, type Case } from '../../core/contracts.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { linkedCases } from '../../review-ui/server/pure/linked.ts';
import { CaseClaims } from '../../state/case-claims.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { collect, createKafka, testConfig, testRedis } from '../helpers/services.ts';
import { openCase, tx } from '../router/review-queue-fixtures.ts';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const PAYLOAD = '<img src=x onerror="window.__pwned=1">';
const NOTE = 'breach at one merchant <script>window.__pwned=2</script>';

let config: Config;
let redis: Redis;
let ui: UiServer;
let browser: ConsoleSession | undefined;
let queue: RedisReviewQueue;
const run = randomUUID().slice(0, 8);
const merchant = `m-breach-${run}`;
const t0 = Date.now() - 3_600_000;

function breachCase(i: number, over: Partial<Case> = {}): Case {
  const t = tx({ txId: `tx-${run}-${i}`, cardId: `card-${run}-${i}`, merchantId: merchant, merchantName: PAYLOAD, ts: t0 + i * 60_000, amountMinor: 10_000 + i });
  return openCase(`case-${run}-${i}`, 0.6, Date.now() - 60_000 + i, { txId: t.txId, cardId: t.cardId, tx: t, expectedLoss: 500 + i, ...over });
}

beforeAll(async () => {
  await ensureUiBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  config = await testConfig('casework', { REVIEWER_SEED: 'alice@analyst:alice-password,bob@analyst:bob-password' });
  redis = testRedis(config);
  queue = new RedisReviewQueue(redis, config.redis.keyPrefix);
  ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 } });
});

afterAll(async () => {
  await closeConsoleTest({ browser, ui, redis, config });
});

describe('linked cases (pure)', () => {
  it('links by card, merchant and device within the window, open and most related first', () => {
    const base = openCase('t', 0.5, 0, { tx: tx({ txId: 't', cardId: 'c1', merchantId: 'm1', deviceId: 'd1', ts: 1_000_000 }) });
    const mk = (id: string, over: Partial<ReturnType<typeof tx>>, status: Case['status'] = 'open') => openCase(id, 0.5, 0, { status, tx: tx({ txId: id, cardId: 'cX', merchantId: 'mX', deviceId: null, ts: 1_000_000, ...over }) });
    const out = linkedCases(base, [
      base,
      mk('same-card', { cardId: 'c1' }),
      mk('card-and-merchant', { cardId: 'c1', merchantId: 'm1' }),
      mk('device', { deviceId: 'd1', ts: 1_000_000 + 3_600_000 }),
      mk('closed-merchant', { merchantId: 'm1' }, 'approved'),
      mk('too-late', { cardId: 'c1', ts: 1_000_000 + 25 * 3_600_000 }),
      // a breach is worked for weeks: the same merchant links across days (card and device only within a day)
      mk('merchant-days-later', { merchantId: 'm1', cardId: 'c1', ts: 1_000_000 + 12 * 86_400_000 }),
      mk('merchant-too-late', { merchantId: 'm1', ts: 1_000_000 + 31 * 86_400_000 }),
      mk('unrelated', {}),
    ]).map((l) => [l.caseId, l.via.join('+')]);
    expect(out).toEqual([['card-and-merchant', 'card+merchant'], ['same-card', 'card'], ['device', 'device'], ['merchant-days-later', 'merchant'], ['closed-merchant', 'merchant']]);
  });
});

describe('a breach at one merchant, settled in the browser', () => {
  it('groups the queue by merchant, lists the linked cases, decides them with one verdict and note, labels and audits each', async () => {
    const cases = Array.from({ length: 5 }, (_, i) => breachCase(i));
    for (const c of cases) await queue.enqueue(c);
    // Bob works one of the breach's cases: the bulk verdict must leave it to him.
    const bobs = breachCase(5);
    await queue.enqueue(bobs);
    expect((await new CaseClaims(redis, config.redis.keyPrefix).claim(bobs.caseId, 'bob')).outcome).toBe('claimed');
    const elsewhere = openCase(`case-${run}-other`, 0.6, Date.now(), { txId: `tx-${run}-other`, cardId: `card-${run}-other`, tx: tx({ txId: `tx-${run}-other`, cardId: `card-${run}-other`, merchantId: `m-other-${run}` }) });
    await queue.enqueue(elsewhere);

    browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'alice-password', waitFor: '#conn.up' } });
    const { page } = browser;
    await page.click('#nav a[data-path="queue"]');
    await page.check('#group-merchant');
    const head = page.locator(`tr.group-head[data-merchant="${merchant}"]`);
    await head.waitFor();
    expect(await head.textContent()).toContain('6 cases');
    expect(await head.locator('.merchant').textContent()).toBe(PAYLOAD);
    // The group's rows follow its head, bob's claimed case last.
    const groupRows = await page.locator('#queue tr').evaluateAll((trs, m) => {
      const start = trs.findIndex((tr) => tr.getAttribute('data-merchant') === m);
      const out: string[] = [];
      for (const tr of trs.slice(start + 1)) {
        if (tr.classList.contains('group-head')) break;
        out.push(`${tr.getAttribute('data-case')}:${tr.getAttribute('data-holder')}`);
      }
      return out;
    }, merchant);
    expect(groupRows).toHaveLength(6);
    expect(groupRows[5]).toBe(`${bobs.caseId}:bob`);
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-queue-grouped.png'), fullPage: true });

    await page.locator(`tr[data-case="${cases[4]!.caseId}"]`).click();
    await page.locator('#claim-status.mine').waitFor();
    await page.locator('#linked input.linked-pick').first().waitFor();
    const listed = await page.locator('#linked input.linked-pick').evaluateAll((els) => els.map((e) => e.getAttribute('data-case')));
    expect(listed.sort()).toEqual([...cases.slice(0, 4), bobs].map((c) => c.caseId).sort());
    expect(listed).not.toContain(elsewhere.caseId);
    await page.check('#linked-all');
    await page.fill('#note', NOTE);
    await page.click('#bulk-fraud');
    await expect.poll(() => page.textContent('#bulk-result')).toContain('5 cases decided');
    expect(await page.textContent('#bulk-result')).toContain(`not decided: ${bobs.caseId} (held by bob)`);
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-linked.png'), fullPage: true });
    for (const c of cases) expect(await queue.get(c.caseId)).toMatchObject({ status: 'confirmed_fraud', closedBy: 'alice', note: NOTE });
    expect((await queue.get(bobs.caseId))?.status).toBe('open');

    const ours = new Set(cases.map((c) => c.txId));
    const kafka = createKafka(config, '-collect');
    const labels = (await collect(kafka, config.topics.labels, (ms) => ms.filter((m) => ours.has(LabelSchema.parse(JSON.parse(m.value?.toString() ?? '{}')).txId)).length >= 5, 60_000, 1_500))
      .map((m) => LabelSchema.parse(JSON.parse(m.value?.toString() ?? '{}')))
      .filter((l) => l.txId.startsWith(`tx-${run}-`));
    expect(labels.map((l) => l.txId).sort()).toEqual([...ours].sort());
    for (const l of labels) expect(l).toMatchObject({ isFraud: true, source: 'analyst', analyst: 'alice', note: NOTE });

    const alice = (await apiLogin(ui.url, 'alice', 'alice-password')).client as Client;
    for (const c of cases) {
      const { entries } = (await (await apiCall(ui.url, alice, 'GET', `/api/audit?target=case:${c.caseId}`)).json()) as { entries: Array<{ action: string; who: string; after?: { bulk?: { cases: number; decided: number }; note?: string } }> };
      const verdict = entries.filter((e) => e.action === 'case.confirm_fraud');
      expect(verdict).toHaveLength(1);
      expect(verdict[0]).toMatchObject({ who: 'alice', after: { note: NOTE, bulk: { cases: 6, decided: 5 } } });
    }
    expect(browser.dialogs).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('refuses a bulk verdict with nothing to decide or a bad body, and without CSRF', async () => {
    const bob = (await apiLogin(ui.url, 'bob', 'bob-password')).client as Client;
    const empty = await apiCall(ui.url, bob, 'POST', '/api/cases/bulk-verdict', { caseIds: [], verdict: 'approve' });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: string }).error).toBe('caseIds: at least one case id');
    const none = await apiCall(ui.url, bob, 'POST', '/api/cases/bulk-verdict', { caseIds: [`case-${run}-0`, 'nope'], verdict: 'approve' });
    expect(none.status).toBe(409);
    expect(((await none.json()) as { results: Array<{ outcome: string }> }).results.map((r) => r.outcome)).toEqual(['not_open', 'not_open']);
    expect((await apiCall(ui.url, bob, 'POST', '/api/cases/bulk-verdict', { caseIds: [`case-${run}-5`], verdict: 'approve' }, false)).status).toBe(403);
  });

  it('exports a case as JSON and as a printable page in which the payload stays inert', async () => {
    const alice = (await apiLogin(ui.url, 'alice', 'alice-password')).client as Client;
    const id = `case-${run}-4`;
    const json = (await (await apiCall(ui.url, alice, 'GET', `/api/cases/${id}/export?format=json`)).json()) as { case: Case; linked: Array<{ caseId: string; status: string }>; audit: Array<{ action: string }>; exportedBy: string };
    expect(json.case).toMatchObject({ caseId: id, status: 'confirmed_fraud', closedBy: 'alice', note: NOTE });
    expect(json.exportedBy).toBe('alice');
    expect(json.linked.map((l) => l.caseId).sort()).toEqual([0, 1, 2, 3, 5].map((i) => `case-${run}-${i}`).sort());
    expect(json.audit.map((a) => a.action)).toEqual(expect.arrayContaining(['case.claim', 'case.confirm_fraud']));
    const bad = await apiCall(ui.url, alice, 'GET', `/api/cases/${id}/export?format=pdf`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('format: json or html (got "pdf")');
    expect((await apiCall(ui.url, undefined, 'GET', `/api/cases/${id}/export?format=html`)).status).toBe(401);

    const { page } = browser as ConsoleSession;
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    const response = await page.goto(`${ui.url}/api/cases/${id}/export?format=html`);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'none'");
    expect(csp).toContain("img-src 'none'");
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(await page.textContent('#case-id')).toBe(id);
    expect(await page.textContent('#merchant-name')).toBe(PAYLOAD);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(0);
    const text = (await page.textContent('body')) ?? '';
    expect(text).toContain(NOTE);
    expect(text).toContain('case.confirm_fraud');
    expect(text).toContain(`case-${run}-3`);
    // The inline stylesheet is the one thing allowed, by its hash: it applied, and nothing was refused.
    expect(await page.evaluate(() => getComputedStyle(document.body).marginTop)).toBe('24px');
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(violations).toEqual([]);
    expect((browser as ConsoleSession).dialogs).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-case-export.png'), fullPage: true });
  });
});
