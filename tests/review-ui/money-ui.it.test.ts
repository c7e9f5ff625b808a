/**
 * Issue 13 in a real browser (playwright-core + system chromium) against real Kafka and Redis: the Models page draws
 * the reliability chart of a version's calibration, the case page and the live feed show a decision's expected loss,
 * and the Live page shows the review cutoff escalate applies against the staffing's capacity.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { DecisionSchema, type Decision } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { writeReviewCutoff } from '../../state/review-cutoff.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { createKafka, testConfig, testRedis } from '../helpers/services.ts';
import { openCase, tx } from '../router/review-queue-fixtures.ts';

const VERSION = 'v20260101T000000000Z';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const bins = (pairs: Array<[number, number]>) => pairs.map(([p, o], i) => ({ from: i / 10, to: (i + 1) / 10, count: 100, meanPredicted: p, observed: o }));
const calibration = {
  model: 'xgboost',
  fittedOn: 'validation slice',
  calibrator: { method: 'isotonic', x: [0, 0.5, 1], y: [0, 0.1, 0.9] },
  reliability: {
    on: 'test slice',
    raw: { bins: bins([[0.05, 0.01], [0.45, 0.04], [0.85, 0.5]]), ece: 0.1234, brier: 0.05 },
    calibrated: { bins: bins([[0.02, 0.02], [0.3, 0.28], [0.8, 0.79]]), ece: 0.0123, brier: 0.03 },
  },
};
const loss = { pFraud: 0.42, calibrated: true, ifAllowedMinor: 12_345, ifBlockedMinor: 580, stakeMinor: 580 };

let config: Config;
let ui: UiServer;
let redis: Redis;
let browser: ConsoleSession;
let page: Page;
let modelDir: string;

beforeAll(async () => {
  await ensureUiBuilt();
  modelDir = mkdtempSync(join(tmpdir(), 'fraudstream-money-ui-'));
  mkdirSync(join(modelDir, VERSION));
  writeFileSync(join(modelDir, VERSION, 'model-card.json'), JSON.stringify({ version: VERSION, kind: 'transactions', calibration }));
  mkdirSync(join(modelDir, 'v20250101T000000000Z'));
  writeFileSync(join(modelDir, 'v20250101T000000000Z', 'model-card.json'), JSON.stringify({ version: 'v20250101T000000000Z', kind: 'transactions' }));
  config = { ...(await testConfig('uimoney', { REVIEWER_SEED: 'alice:correct-horse' })), modelDir };
  redis = testRedis(config);
  const policyDefaults = () => defaultPolicy(COLD_START_THRESHOLDS, VERSION);
  ui = await startUiServer({ config, port: 0, simulator: null, policyDefaults, backfill: { decisions: 20, cases: 1, labels: 1 } });
  browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'correct-horse', waitFor: '#conn.up' } });
  page = browser.page;
}, 120_000);

afterAll(() => closeConsoleTest({ browser, ui, redis, config, modelDir }));

describe('policy in money, in the console', () => {
  it('the Models page draws the reliability chart (raw, calibrated, diagonal) for a version with calibration', async () => {
    await page.click('#nav a[data-path="models"]');
    const panel = page.locator(`.model-version[data-version="${VERSION}"]`);
    await panel.waitFor();
    const chart = panel.locator('svg.reliability-chart');
    expect(await chart.count()).toBe(1);
    expect(await chart.locator('g[data-series="raw"] circle.bin').count()).toBe(3);
    expect(await chart.locator('g[data-series="calibrated"] circle.bin').count()).toBe(3);
    expect(await chart.locator('line.diagonal').count()).toBe(1);
    expect(await chart.textContent()).toContain('ECE 0.0123');
    mkdirSync(ARTIFACTS, { recursive: true });
    await chart.screenshot({ path: join(ARTIFACTS, 'review-ui-reliability.png') });
    // The calibrated point (0.3, 0.28) sits near the diagonal, the raw (0.45, 0.04) far below it: the SVG says where.
    const [cx, cy] = await chart.locator('g[data-series="raw"] circle.bin').nth(1).evaluate((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]);
    const [dx, dy] = await chart.locator('g[data-series="calibrated"] circle.bin').nth(1).evaluate((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]);
    expect(cx).toBeGreaterThan(dx!);
    expect(cy).toBeGreaterThan(dy!);
    const older = page.locator('.model-version[data-version="v20250101T000000000Z"]');
    expect(await older.locator('svg.reliability-chart').count()).toBe(0);
    expect(await older.locator('.no-calibration').textContent()).toContain('raw XGBoost score');
  });

  it('a case page shows the case\'s expected loss as text', async () => {
    const caseId = `case-money-${randomUUID().slice(0, 6)}`;
    const c = openCase(caseId, 0.6, Date.now(), { tx: tx({ txId: `tx-${caseId}`, amountMinor: 25_000, merchantName: '<b>not bold</b>' }), expectedLoss: loss.stakeMinor, loss });
    await new RedisReviewQueue(redis, config.redis.keyPrefix).enqueue(c);
    await page.goto(`${ui.url}/#/queue`);
    const row = page.locator(`tr.case-row[data-case="${caseId}"]`);
    await row.waitFor();
    expect(await row.locator('td.stake').textContent()).toMatch(/EUR\s?5\.80/);
    await page.goto(`${ui.url}/#/case/${encodeURIComponent(caseId)}`);
    await page.waitForSelector('#case-expected-loss');
    const text = await page.textContent('#case-expected-loss');
    expect(text).toContain('p(fraud) 0.420 (calibrated)');
    expect(text).toMatch(/if allowed EUR\s?123\.45/);
    expect(text).toMatch(/at stake EUR\s?5\.80/);
  });

  it('the live feed shows a decision\'s stake, and its expected loss when opened', async () => {
    await page.click('#nav a[data-path="live"]');
    const txId = `tx-${randomUUID().slice(0, 8)}`;
    const d: Decision = DecisionSchema.parse({
      decisionId: `${txId}:detect`, txId, cardId: `card-${txId}`, action: 'ALLOW', stage: 'detect', final: true, reason: 'XGBoost 0.100 < 0.3',
      scores: { xgboost: 0.1, isolationForest: 0.2 }, rulesFired: [], topFeatures: [], versions: { model: VERSION, policy: 1 }, timings: { detect: 1 }, decidedAt: Date.now(),
      tx: tx({ txId, cardId: `card-${txId}`, amountMinor: 25_000, ts: Date.now() }), expectedLoss: loss,
    });
    const producer = createProducer(createKafka(config, '-test'));
    await producer.connect();
    await producer.send({ topic: config.topics.decisions, messages: [{ key: d.cardId, value: JSON.stringify(d) }] });
    await producer.disconnect();
    const row = page.locator(`tr.row[data-tx="${txId}"]`);
    await row.waitFor({ timeout: 30_000 });
    expect(await row.locator('td.stake').textContent()).toMatch(/EUR\s?5\.80/);
    await row.click();
    await expect.poll(() => page.locator('.why .expected-loss').first().textContent()).toContain('p(fraud) 0.420 (calibrated)');
  });

  it('the Live page shows the review cutoff escalate applies and the review rate it allows against capacity', async () => {
    await writeReviewCutoff(redis, config.redis.keyPrefix, 'escalate-test', { cutoffMinor: 4_200, ambiguous: 90, spanHours: 1, ambiguousPerHour: 90, reviewsPerHour: 60, capacityPerHour: 60, at: Date.now() });
    await expect.poll(() => page.textContent('#review-cutoff-text'), { timeout: 30_000 }).toMatch(/stake ≥ EUR\s?42\.00 · 60\.0 reviews\/h of 90\.0 ambiguous\/h · capacity 60\/h/);
  });
});
