/**
 * Issue 13 part 2 in a real browser against real Redis: the Policy page's money fields, the preview in money
 * (table and SVG curve) and the Live page's oldest-case age against the review SLA.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { RedisSampleStore, sampleLabelKey } from '../../state/samples.ts';
import { createProducer } from '../../core/kafka.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { createKafka, testConfig, testRedis } from '../helpers/services.ts';
import { openCase } from '../router/review-queue-fixtures.ts';

let config: Config;
let ui: UiServer;
let redis: Redis;
let browser: ConsoleSession;
let page: Page;

beforeAll(async () => {
  await ensureUiBuilt();
  config = await testConfig('uimoney', { REVIEWER_SEED: 'alice:correct-horse' });
  redis = testRedis(config);
  const base = defaultPolicy(COLD_START_THRESHOLDS);
  const policyDefaults = () => ({ ...base, thresholds: { ...base.thresholds, detect: { ...base.thresholds.detect, blockAbove: 0.9, allowBelow: 0.3 } }, review: { ...base.review, slaMinutes: 30 } });
  // The oldest open case is 45 minutes old: past a 30-minute SLA.
  await new RedisReviewQueue(redis, config.redis.keyPrefix).enqueue(openCase('late', 0.6, Date.now() - 45 * 60_000, { expectedLoss: 300 }));
  await new RedisSampleStore(redis, config.redis.keyPrefix).push(
    [0.1, 0.6, 0.95].map((x, i) => ({
      txId: `s${i}`, cardId: 'c', merchantId: 'm', mcc: '5411', country: 'FR', amountMinor: 10_000, scores: { xgboost: x }, rulesFired: [], action: 'ALLOW' as const,
      ts: i * 3_600_000, ...(i === 1 ? { isFraud: false } : {}),
    })),
  );
  ui = await startUiServer({ config, port: 0, simulator: null, policyDefaults, backfill: { decisions: 1, cases: 1, labels: 1 } });
  browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'correct-horse' } });
  page = browser.page;
});

afterAll(() => closeConsoleTest({ browser, ui, redis, config }));

describe('policy in money (browser)', () => {
  it('shows the oldest open case against the SLA on the Live page', async () => {
    await page.click('#nav a[data-path="live"]');
    await expect.poll(() => page.textContent('#sla-age')).toMatch(/^4[56] \/ 30 min$/);
    expect(await page.getAttribute('#sla-age', 'class')).toBe('hot-text');
  });

  it('records a label from the labels topic on its sample', async () => {
    const producer = createProducer(createKafka(config, '-test'));
    await producer.connect();
    try {
      const label = { txId: 's0', cardId: 'c', isFraud: true, scenario: 'card_testing', source: 'chargeback', labeledAt: Date.now() };
      await producer.send({ topic: config.topics.labels, messages: [{ key: 'c', value: JSON.stringify(label) }] });
    } finally {
      await producer.disconnect();
    }
    const store = new RedisSampleStore(redis, config.redis.keyPrefix);
    await expect.poll(async () => (await store.recent(10)).find((s) => s.txId === 's0')?.isFraud, { timeout: 20_000 }).toBe(true);
    await redis.del(sampleLabelKey(config.redis.keyPrefix, 's0'));
  });

  it('previews a lower block threshold in money, with a curve, and applies the costs', async () => {
    await page.click('#nav a[data-path="policy"]');
    const fee = page.locator('input[name="money.chargebackFeeMinor"]');
    await fee.waitFor();
    expect(await page.inputValue('input[name="review.slaMinutes"]')).toBe('30');
    await page.locator('input[name="detect.blockAbove"]').fill('0.5');
    await page.click('#preview-btn');
    // s1 (labelled legitimate, 100.00) is blocked by the proposal; s2 (unlabelled, p 0.95) by both: 5% of it counts
    // as legitimate money blocked.
    const row = page.locator('.money-table tr', { hasText: 'legitimate money blocked' });
    await expect.poll(() => row.textContent()).toMatch(/5\.00.*105\.00.*\+.*100\.00/);
    expect(await page.textContent('.money-preview')).toMatch(/xgboost score, uncalibrated/);
    expect(await page.locator('svg.money-curve polyline').count()).toBe(3);
    const points = await page.getAttribute('svg.money-curve polyline[data-series="legitMoneyBlocked"]', 'points');
    expect(points?.trim().split(' ')).toHaveLength(20);

    await page.locator('input[name="money.falseBlockCostMinor"]').fill('');
    await page.click('#preview-btn');
    await expect.poll(() => page.textContent('#policy-status')).toContain('cost of blocking a legitimate payment: give an amount');

    await page.locator('input[name="money.falseBlockCostMinor"]').fill('12.5');
    await page.click('#apply-btn');
    await expect.poll(() => page.textContent('#policy-status')).toContain('Applied as version 2');
    const stored = (await (await page.request.get(`${ui.url}/api/policy`)).json()) as { current: { money: { falseBlockCostMinor: number }; review: { slaMinutes: number } } };
    expect(stored.current.money.falseBlockCostMinor).toBe(1_250);
    expect(stored.current.review.slaMinutes).toBe(30);
    expect(browser.dialogs).toEqual([]);
  });
});
