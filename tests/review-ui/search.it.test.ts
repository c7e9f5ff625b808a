/**
 * Search (issue 21): the bounded index in Redis (state/search.ts), GET /api/search and its CSV, and the Search page
 * in Chromium, fed by decisions produced into Kafka as the stages would.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { DecisionSchema, type Decision } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { SearchIndex } from '../../state/search.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { createKafka, testConfig, testRedis } from '../helpers/services.ts';
import { openCase, tx } from '../router/review-queue-fixtures.ts';

const XSS = '<img src=x onerror=alert(1)>';
const FORMULA = '=HYPERLINK("http://evil.example","click")';

function decision(txId: string, over: { cardId?: string; merchantId?: string; merchantName?: string; action?: Decision['action']; stage?: Decision['stage']; decidedAt?: number } = {}): Decision {
  const cardId = over.cardId ?? `card-${txId}`;
  const action = over.action ?? 'ALLOW';
  return DecisionSchema.parse({
    decisionId: `${txId}:${over.stage ?? 'detect'}`, txId, cardId, action, stage: over.stage ?? 'detect', final: action !== 'REVIEW',
    reason: `reason for ${txId}`, scores: { xgboost: 0.4 }, rulesFired: [], topFeatures: [], versions: { model: 'm', policy: 1 }, timings: { detect: 1 },
    decidedAt: over.decidedAt ?? Date.now(), tx: tx({ txId, cardId, merchantId: over.merchantId ?? 'm-1', merchantName: over.merchantName ?? 'Corner Shop' }),
  });
}

let config: Config;
let redis: Redis;

beforeAll(async () => {
  config = await testConfig('search', { REVIEWER_SEED: 'ana@analyst:analyst-pass' });
  redis = testRedis(config);
});

describe('SearchIndex (Redis)', () => {
  it('finds by card, merchant id, merchant name, tx id, action and time; a final decision replaces the provisional one', async () => {
    const idx = new SearchIndex(redis, `${config.redis.keyPrefix}idx:`);
    const t0 = Date.UTC(2026, 2, 1);
    await idx.store([
      decision('a1', { cardId: 'c-a', merchantId: 'm-shop', merchantName: 'Shoe Shop', decidedAt: t0 }),
      decision('a2', { cardId: 'c-a', merchantId: 'm-bar', merchantName: 'Night Bar', action: 'BLOCK', decidedAt: t0 + 1_000 }),
      decision('b1', { cardId: 'c-b', merchantId: 'm-shop', merchantName: 'Shoe Shop', action: 'REVIEW', stage: 'escalate', decidedAt: t0 + 2_000 }),
    ], t0 + 3_000);
    const ids = async (f: Parameters<SearchIndex['search']>[0]) => (await idx.search(f)).rows.map((d) => d.txId);
    expect(await ids({ card: 'c-a', limit: 10 })).toEqual(['a2', 'a1']);
    expect((await idx.search({ card: 'c-a', limit: 10 })).via).toBe('card');
    expect(await ids({ merchant: 'm-shop', limit: 10 })).toEqual(['b1', 'a1']);
    expect(await ids({ merchant: 'night', limit: 10 })).toEqual(['a2']);
    expect(await ids({ txId: 'b1', limit: 10 })).toEqual(['b1']);
    expect(await ids({ action: 'BLOCK', limit: 10 })).toEqual(['a2']);
    expect((await idx.search({ action: 'BLOCK', limit: 10 })).via).toBe('action');
    expect(await ids({ from: t0 + 500, to: t0 + 1_500, limit: 10 })).toEqual(['a2']);
    expect(await ids({ card: 'c-a', action: 'REVIEW', limit: 10 })).toEqual([]);
    expect(await ids({ limit: 2 })).toEqual(['b1', 'a2']);

    // The analyst's verdict on b1 replaces its provisional REVIEW.
    await idx.store([decision('b1', { cardId: 'c-b', merchantId: 'm-shop', action: 'BLOCK', stage: 'review', decidedAt: t0 + 9_000 })], t0 + 9_000);
    expect((await idx.get('b1'))?.stage).toBe('review');
    expect(await idx.size()).toBe(3);
    expect(await ids({ action: 'REVIEW', limit: 10 })).toEqual([]);
  });

  it('stays within its bounds: the oldest rows leave past the row cap and past the age limit, their ids skipped in card sets', async () => {
    const idx = new SearchIndex(redis, `${config.redis.keyPrefix}cap:`, { maxRows: 5, ttlSeconds: 3600 });
    const t0 = Date.UTC(2026, 2, 1);
    await idx.store(Array.from({ length: 8 }, (_, i) => decision(`r${i}`, { cardId: 'same-card', decidedAt: t0 + i * 1_000 })), t0 + 8_000);
    expect(await idx.size()).toBe(5);
    expect((await idx.search({ card: 'same-card', limit: 100 })).rows.map((d) => d.txId)).toEqual(['r7', 'r6', 'r5', 'r4', 'r3']);
    expect(await redis.hlen(idx.keys.rows)).toBe(5);
    // Two hours later, one new decision: everything older than an hour goes.
    await idx.store([decision('late', { cardId: 'same-card', decidedAt: t0 + 7_200_000 })], t0 + 7_200_000);
    expect(await idx.size()).toBe(1);
    expect(await redis.hlen(idx.keys.rows)).toBe(1);
    expect(await redis.ttl(idx.keys.card('same-card'))).toBeGreaterThan(3_000);
  });

  it('says when a scan stopped before the end of the range', async () => {
    const idx = new SearchIndex(redis, `${config.redis.keyPrefix}scan:`, { scanMax: 3 });
    await idx.store(Array.from({ length: 6 }, (_, i) => decision(`s${i}`, { decidedAt: 1_000 + i })), 2_000);
    const r = await idx.search({ merchant: 'no such name', limit: 10 });
    expect(r).toMatchObject({ rows: [], scanned: 3, complete: false, via: 'time' });
  });
});

describe('search through the console', () => {
  let ui: UiServer;
  let producer: Producer;
  let browser: ConsoleSession | undefined;
  let ana: Client;
  const run = randomUUID().slice(0, 8);
  const card = `card-search-${run}`;

  beforeAll(async () => {
    await ensureUiBuilt();
    ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 } });
    ana = (await apiLogin(ui.url, 'ana', 'analyst-pass')).client as Client;
    producer = createProducer(createKafka(config, '-search'));
    await producer.connect();
    const rows = [
      decision(`tx-${run}-1`, { cardId: card, merchantName: XSS, action: 'BLOCK' }),
      decision(`tx-${run}-2`, { cardId: card, merchantName: FORMULA, action: 'ALLOW' }),
      decision(`tx-${run}-3`, { cardId: card, merchantName: '@risky', action: 'REVIEW', stage: 'escalate' }),
      decision(`tx-${run}-4`, { cardId: `other-${run}`, action: 'BLOCK' }),
    ];
    await new RedisReviewQueue(redis, config.redis.keyPrefix).enqueue(openCase(`case-tx-${run}-3`, 0.6, Date.now(), { txId: `tx-${run}-3`, cardId: card, tx: { ...rows[2]!.tx, txId: `tx-${run}-3`, cardId: card } }));
    await producer.send({ topic: config.topics.decisions, messages: rows.map((d) => ({ key: d.cardId, value: JSON.stringify(d) })) });
  });

  afterAll(async () => {
    await producer?.disconnect();
    await closeConsoleTest({ browser, ui, redis, config });
  });

  it('answers in the Live row format, links the case, refuses bad input with what to fix, needs a session', async () => {
    // The console's live feed indexes what reaches the decisions topic.
    await expect.poll(async () => ((await (await apiCall(ui.url, ana, 'GET', `/api/search?card=${card}`)).json()) as { rows: unknown[] }).rows.length, { timeout: 30_000 }).toBe(3);
    const r = (await (await apiCall(ui.url, ana, 'GET', `/api/search?card=${card}&action=REVIEW`)).json()) as { rows: Array<Decision & { caseId?: string }>; via: string };
    expect(r.via).toBe('card');
    expect(r.rows).toHaveLength(1);
    expect(DecisionSchema.parse(r.rows[0])).toMatchObject({ txId: `tx-${run}-3`, action: 'REVIEW' });
    expect(r.rows[0]?.caseId).toBe(`case-tx-${run}-3`);

    const bad = await apiCall(ui.url, ana, 'GET', '/api/search?from=yesterday');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^from: epoch milliseconds or an ISO date/);
    const badAction = await apiCall(ui.url, ana, 'GET', '/api/search?action=MAYBE');
    expect(badAction.status).toBe(400);
    expect(((await badAction.json()) as { error: string }).error).toMatch(/^action:/);
    const unknown = await apiCall(ui.url, ana, 'GET', '/api/search?cardId=x');
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toContain('cardId');
    expect((await apiCall(ui.url, ana, 'GET', '/api/search?from=2026-03-02&to=2026-03-01')).status).toBe(400);
    expect((await apiCall(ui.url, undefined, 'GET', `/api/search?card=${card}`)).status).toBe(401);
  });

  it('exports the result as CSV with formula cells neutralised', async () => {
    const res = await apiCall(ui.url, ana, 'GET', `/api/search?card=${card}&format=csv`);
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="fraudstream-search-/);
    const lines = (await res.text()).trim().split('\r\n');
    expect(lines).toHaveLength(4);
    const body = lines.slice(1).join('\n');
    expect(body).toContain(`"'=HYPERLINK(""http://evil.example"",""click"")"`);
    expect(body).toContain(",'@risky,");
    expect(body).toContain(`,${XSS},`);
    expect(lines.slice(1).every((l) => !/,[=+@-]/.test(l.replace(/,-?\d/g, ',0')))).toBe(true);
  });

  it('the Search page shows the rows, merchant names as text, and downloads the CSV', async () => {
    browser = await openConsole({ url: ui.url, login: { user: 'ana', password: 'analyst-pass', waitFor: '#conn.up' } });
    const { page } = browser;
    await page.click('#nav a[data-path="search"]');
    await page.fill('#search-card', card);
    await page.click('#search-btn');
    await expect.poll(() => page.locator('#search-results tr.row').count()).toBe(3);
    const merchants = await page.locator('#search-results td.merchant').allTextContents();
    expect(merchants.sort()).toEqual([FORMULA, XSS, '@risky'].sort());
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    await page.locator(`#search-results tr[data-tx="tx-${run}-3"] a.case-link`).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#search-csv')]);
    const text = readFileSync((await download.path()) as string, 'utf8');
    expect(text.split('\r\n')[0]).toMatch(/^decided_at,action,/);
    expect(text).toContain(`"'=HYPERLINK(`);

    await page.fill('#search-card', '');
    await page.selectOption('#search-action', 'BLOCK');
    await page.click('#search-btn');
    await expect.poll(() => page.locator(`#search-results tr[data-tx="tx-${run}-4"]`).count()).toBe(1);
    expect(await page.locator(`#search-results tr[data-tx="tx-${run}-2"]`).count()).toBe(0);
    await page.fill('#search-from', '2026-03-02T00:00:00');
    await page.fill('#search-to', '2026-03-01T00:00:00');
    await page.click('#search-btn');
    await expect.poll(() => page.textContent('#search-status')).toContain('from: must not be later than to');
    expect(browser.dialogs).toEqual([]);
    expect(browser.cspViolations).toEqual([]);
  });
});
