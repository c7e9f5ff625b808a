/**
 * Shift view and SLA clock (issue 21) against real Kafka and Redis: chargeback labels produced into the labels topic
 * become the ground truth analysts' verdicts are compared with; overdue cases lead the queue; both pages in Chromium.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import type { Label } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { createKafka, testConfig, testRedis } from '../helpers/services.ts';
import { openCase, tx } from '../router/review-queue-fixtures.ts';

let config: Config;
let redis: Redis;
let ui: UiServer;
let producer: Producer;
let browser: ConsoleSession | undefined;
let alice: Client;
const run = randomUUID().slice(0, 8);

const mk = (name: string, ageMinutes: number, expectedLoss: number) => {
  const t = tx({ txId: `tx-${run}-${name}`, cardId: `card-${run}-${name}`, merchantId: `m-${run}-${name}` });
  return openCase(`case-tx-${run}-${name}`, 0.6, Date.now() - ageMinutes * 60_000, { txId: t.txId, cardId: t.cardId, tx: t, expectedLoss });
};

beforeAll(async () => {
  await ensureUiBuilt();
  config = await testConfig('shift', { REVIEWER_SEED: 'alice@analyst:alice-password' });
  redis = testRedis(config);
  ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 } });
  alice = (await apiLogin(ui.url, 'alice', 'alice-password')).client as Client;
  producer = createProducer(createKafka(config, '-shift'));
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await closeConsoleTest({ browser, ui, redis, config });
});

describe('shift view', () => {
  it('puts an overdue case on top of the queue, compares verdicts with chargebacks that came back, shows both pages', async () => {
    const queue = new RedisReviewQueue(redis, config.redis.keyPrefix);
    const late = mk('late', 90, 10); // past the default 60-minute SLA, small stake
    const big = mk('big', 1, 90_000);
    const fraud = mk('fraud', 5, 500);
    const legit = mk('legit', 5, 400);
    for (const c of [late, big, fraud, legit]) await queue.enqueue(c);

    const list = (await (await apiCall(ui.url, alice, 'GET', '/api/cases')).json()) as { open: Array<{ caseId: string }>; slaMinutes: number };
    expect(list.slaMinutes).toBe(60);
    expect(list.open.map((c) => c.caseId).slice(0, 2)).toEqual([late.caseId, big.caseId]);

    for (const [c, verdict] of [[fraud, 'confirm_fraud'], [legit, 'confirm_fraud']] as const) {
      expect((await apiCall(ui.url, alice, 'POST', `/api/cases/${c.caseId}/claim`, {})).status).toBe(200);
      expect((await apiCall(ui.url, alice, 'POST', `/api/cases/${c.caseId}/verdict`, { verdict })).status).toBe(200);
    }
    // Later the chargebacks come back: one was fraud, the other was not.
    const labels: Label[] = [
      { txId: fraud.txId, cardId: fraud.cardId, isFraud: true, scenario: 'card_testing', source: 'chargeback', labeledAt: Date.now() },
      { txId: legit.txId, cardId: legit.cardId, isFraud: false, scenario: null, source: 'chargeback', labeledAt: Date.now() },
      { txId: `tx-${run}-no-case`, isFraud: true, scenario: null, source: 'chargeback', labeledAt: Date.now() },
    ];
    await producer.send({ topic: config.topics.labels, messages: labels.map((l) => ({ key: l.txId, value: JSON.stringify(l) })) });

    type Shift = { analysts: Array<{ analyst: string; decided: number; labelled: number; agreed: number; medianHandlingMs: number | null }>; overdue: number; open: Array<{ caseId: string; overdue: boolean }> };
    await expect.poll(async () => ((await (await apiCall(ui.url, alice, 'GET', '/api/shift?hours=4')).json()) as Shift).analysts[0]?.labelled, { timeout: 30_000 }).toBe(2);
    const shift = (await (await apiCall(ui.url, alice, 'GET', '/api/shift?hours=4')).json()) as Shift;
    expect(shift.analysts).toEqual([expect.objectContaining({ analyst: 'alice', decided: 2, labelled: 2, agreed: 1 })]);
    expect(shift.analysts[0]?.medianHandlingMs).toBeGreaterThanOrEqual(0);
    expect(shift.overdue).toBe(1);
    expect(shift.open[0]).toMatchObject({ caseId: late.caseId, overdue: true });
    // Only transactions with a case keep their ground truth.
    expect(await queue.groundTruth([`case-tx-${run}-no-case`])).toEqual(new Map());
    const bad = await apiCall(ui.url, alice, 'GET', '/api/shift?hours=0');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('hours: an integer from 1 to 72');

    browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'alice-password', waitFor: '#conn.up' } });
    const { page } = browser;
    await page.click('#nav a[data-path="shift"]');
    const row = page.locator('#shift-analysts tr', { hasText: 'alice' });
    await row.waitFor();
    expect(await row.textContent()).toContain('50% (1 of 2)');
    const first = page.locator('#shift-sla tbody tr').first();
    expect(await first.textContent()).toContain(late.caseId);
    expect(await first.locator('.sla').textContent()).toMatch(/^overdue 3\d min$/);
    await page.click('#nav a[data-path="queue"]');
    const top = page.locator('#queue tr.case-row').first();
    await expect.poll(() => top.getAttribute('data-case')).toBe(late.caseId);
    expect(await top.locator('td.sla').textContent()).toMatch(/^overdue/);
    expect(await top.locator('td.sla').getAttribute('class')).toContain('hot-text');
    expect(browser.cspViolations).toEqual([]);
  });
});
