/**
 * Models page in a real browser (playwright-core + system chromium) against real Kafka and Redis: promote a
 * version, see what the policy names beside what the stages' decisions carry, roll back, compare two cards.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { DecisionSchema, type Decision } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { createKafka, testConfig, testRedis, dropTestKeys } from '../helpers/services.ts';

const XSS = '<img src=x onerror=alert(1)>';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');

let config: Config;
let ui: UiServer;
let redis: Redis;
let policies: RedisPolicyStore;
let producer: Producer;
let browser: ConsoleSession;
let page: Page;
let dialogs: string[] = [];
let cspViolations: string[] = [];
let modelDir: string;

const metrics = (auc: number, recall: number) => ({ rows: 1000, positives: 20, rocAuc: auc, auprc: auc - 0.15, recallAt1pctFpr: recall, flaggedShare: 0.01, perScenarioRecall: { card_testing: recall, bust_out: recall - 0.3 } });
const ensemble = (auc: number, recall: number, escalate: number) => ({ ...metrics(auc, recall), catchRate: recall + 0.05, blockPrecision: 0.88, blockShare: 0.02, reviewShare: 0.005, escalateShare: escalate, legitBlockedShare: 0.001 });
/** A falling PR curve and a concave ROC curve, 21 points each, shaped by `q` (smaller = better model). */
const curve = (q: number) => {
  const xs = Array.from({ length: 21 }, (_, i) => i / 20);
  return { pr: xs.map((r) => [r, Math.max(0, 1 - r ** (1 / q) * 0.9)]), roc: xs.map((f) => [f, Math.min(1, f ** q)]) };
};
const curves = (q: number) => ({ isolationForest: curve(q * 2), xgboost: curve(q), ensemble: curve(q * 0.8) });

function writeVersion(name: string, card: Record<string, unknown>, mtimeSec: number): void {
  mkdirSync(join(modelDir, name));
  writeFileSync(join(modelDir, name, 'model-card.json'), JSON.stringify({ version: name, kind: 'transactions', thresholds: { detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } }, ...card }));
  utimesSync(join(modelDir, name), mtimeSec, mtimeSec);
}

function decision(model: string): Decision {
  const txId = `tx-${randomUUID().slice(0, 8)}`;
  const cardId = `card-${txId}`;
  return DecisionSchema.parse({
    decisionId: `${txId}:detect`, txId, cardId, action: 'ALLOW', stage: 'detect', final: true, reason: 'XGBoost 0.010 < 0.3',
    scores: { xgboost: 0.01, isolationForest: 0.2 }, rulesFired: [], topFeatures: [], versions: { model, policy: 1 }, timings: { detect: 1.5 }, decidedAt: Date.now(),
    tx: { txId, cardId, merchantId: 'm1', merchantName: 'Shop', mcc: '5411', amountMinor: 1_000, currency: 'EUR', ts: Date.now(), channel: 'card_present', country: 'FR', lat: 48.8, lon: 2.3, deviceId: null },
  });
}
const sendDecision = async (model: string) => {
  const d = decision(model);
  await producer.send({ topic: config.topics.decisions, messages: [{ key: d.cardId, value: JSON.stringify(d) }] });
};

beforeAll(async () => {
  await ensureUiBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  modelDir = mkdtempSync(join(tmpdir(), 'fraudstream-models-'));
  const t0 = Math.floor(Date.now() / 1000) - 3600;
  writeVersion('v20260101T000000000Z', { createdAt: '2026-01-01T00:00:00Z', test: { isolationForest: metrics(0.93, 0.6), xgboost: metrics(0.97, 0.8), ensemble: ensemble(0.96, 0.85, 0.05) }, curves: curves(0.3) }, t0);
  writeVersion('v20260201T000000000Z', { createdAt: '2026-02-01T00:00:00Z', test: { isolationForest: metrics(0.93, 0.6), xgboost: metrics(0.99, 0.9), ensemble: ensemble(0.98, 0.9, 0.08) }, curves: curves(0.15) }, t0 + 60);
  writeVersion('v20260301T000000000Z', { createdAt: XSS, test: { xgboost: metrics(0.95, 0.7) } }, t0 + 120);
  config = { ...(await testConfig('uimodels', { REVIEWER_SEED: 'alice:correct-horse' })), modelDir };
  redis = testRedis(config);
  const policyDefaults = () => defaultPolicy(COLD_START_THRESHOLDS, 'v20260101T000000000Z');
  policies = new RedisPolicyStore(redis, config.redis.keyPrefix, policyDefaults);
  ui = await startUiServer({ config, port: 0, simulator: null, policyDefaults, backfill: { decisions: 20, cases: 1, labels: 1 } });
  producer = createProducer(createKafka(config, '-test'));
  await producer.connect();
  browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'correct-horse', waitFor: '#conn.up' } });
  ({ page, dialogs, cspViolations } = browser);
});

afterAll(async () => {
  await browser?.close();
  await producer?.disconnect();
  await ui?.close();
  if (redis) {
    await dropTestKeys(redis, config);
    redis.disconnect();
  }
  if (modelDir) rmSync(modelDir, { recursive: true, force: true });
});

interface AuditRow {
  action: string;
  who: string;
  before?: { version?: number; modelVersion?: string | null };
  after?: { version?: number; modelVersion?: string | null };
}
const policyAudit = async (): Promise<AuditRow[]> => ((await (await page.request.get(`${ui.url}/api/audit?target=policy`)).json()) as { entries: AuditRow[] }).entries;

describe('models page: promote, serving, rollback', () => {
  it('shows what the policy names and what the stages report', async () => {
    await sendDecision('v20260101T000000000Z');
    await page.click('#nav a[data-path="models"]');
    await expect.poll(() => page.textContent('#policy-model')).toContain('v1 → v20260101T000000000Z');
    await expect.poll(() => page.textContent('#stages-model'), { timeout: 30_000 }).toContain('v20260101T000000000Z');
    expect(await page.textContent('#serving-note')).toContain('The stages serve v20260101T000000000Z');
    expect(await page.locator('button.promote[data-version="v20260101T000000000Z"]').count()).toBe(0);
    expect(await page.textContent('#models')).toContain(XSS);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
  });

  it('promotes a version: new policy version with that model, audited, stages report it once they decide with it', async () => {
    await page.click('button.promote[data-version="v20260201T000000000Z"]');
    await expect.poll(() => page.textContent('#models-status')).toContain('Promoted v20260201T000000000Z: policy v2');
    const now = await policies.current();
    expect(now).toMatchObject({ version: 2, modelVersion: 'v20260201T000000000Z', updatedBy: 'alice' });
    expect(now.thresholds).toEqual(COLD_START_THRESHOLDS);
    expect(await page.textContent('#policy-model')).toContain('v2 → v20260201T000000000Z');
    // The stages have not decided with v20260201T000000000Z yet: the page says so instead of pretending.
    await expect.poll(() => page.textContent('#serving-note')).toContain('latest decisions carry v20260101T000000000Z');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-promote.png') });
    await sendDecision('v20260201T000000000Z');
    await expect.poll(() => page.textContent('#stages-model'), { timeout: 30_000 }).toContain('v20260201T000000000Z');
    await expect.poll(() => page.textContent('#serving-note')).toContain('The stages serve v20260201T000000000Z');

    const promo = (await policyAudit()).find((e) => e.action === 'model.promote');
    expect(promo).toMatchObject({ who: 'alice', before: { version: 1, modelVersion: 'v20260101T000000000Z' }, after: { version: 2, modelVersion: 'v20260201T000000000Z' } });
    await page.click('#nav a[data-path="audit"]');
    await expect.poll(() => page.locator('#audit tr', { hasText: 'model.promote' }).count()).toBeGreaterThan(0);
  });

  it('rolls a promotion back: the old model is current again, audited', async () => {
    await page.click('#nav a[data-path="models"]');
    await page.click('button.model-rollback[data-version="1"]');
    await expect.poll(() => page.textContent('#models-status')).toContain('Rolled back to the content of v1');
    expect(await policies.current()).toMatchObject({ version: 3, modelVersion: 'v20260101T000000000Z' });
    await expect.poll(() => page.textContent('#policy-model')).toContain('v3 → v20260101T000000000Z');
    const rb = (await policyAudit()).find((e) => e.action === 'policy.rollback');
    expect(rb).toMatchObject({ before: { version: 2, modelVersion: 'v20260201T000000000Z' }, after: { version: 3, modelVersion: 'v20260101T000000000Z' } });
    expect(await page.locator('button.promote[data-version="v20260201T000000000Z"]').count()).toBe(1);
  });

  it('refuses a promotion without the CSRF token, a bad body, an unknown version and a stale page', async () => {
    const r = await page.evaluate(async () => {
      const post = (body: unknown, headers: Record<string, string>) =>
        fetch('/api/models/promote', { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(async (x) => ({ status: x.status, error: ((await x.json()) as { error?: string }).error ?? '' }));
      const { csrf } = (await (await fetch('/api/session')).json()) as { csrf: string };
      const t = { 'X-CSRF-Token': csrf };
      return {
        noToken: await post({ version: 'v20260301T000000000Z' }, {}),
        forged: await post({ version: 'v20260301T000000000Z' }, { 'X-CSRF-Token': 'x'.repeat(43) }),
        badBody: await post({ version: '../../etc' }, t),
        unknown: await post({ version: 'v20991231T000000000Z' }, t),
        stale: await post({ version: 'v20260301T000000000Z', policyVersion: 1 }, t),
      };
    });
    expect(r.noToken.status).toBe(403);
    expect(r.forged.status).toBe(403);
    expect(r.badBody).toMatchObject({ status: 400 });
    expect(r.badBody.error).toContain('version');
    expect(r.unknown.status).toBe(404);
    expect(r.stale.status).toBe(409);
    expect(await policies.current()).toMatchObject({ version: 3, modelVersion: 'v20260101T000000000Z' });
  });

  it("neither lists nor promotes the trainer's temporary folder or a folder not named as a version", async () => {
    const before = await policies.current();
    writeVersion('.tmp-v20260501T000000000Z-4242', {}, Date.now() / 1000);
    writeVersion('scratch', {}, Date.now() / 1000);
    const listed = (await (await page.request.get(`${ui.url}/api/models`)).json()) as { versions: Array<{ version: string }> };
    expect(listed.versions.map((v) => v.version).sort()).toEqual(['v20260101T000000000Z', 'v20260201T000000000Z', 'v20260301T000000000Z']);
    const { csrf } = (await (await page.request.get(`${ui.url}/api/session`)).json()) as { csrf: string };
    for (const version of ['.tmp-v20260501T000000000Z-4242', 'scratch']) {
      const res = await page.request.post(`${ui.url}/api/models/promote`, { data: { version }, headers: { 'X-CSRF-Token': csrf } });
      expect(res.status(), version).toBe(400);
    }
    expect((await policies.current()).version).toBe(before.version);
  });

  it('keeps the Policy page from undoing a promotion made after it loaded', async () => {
    await page.click('#nav a[data-path="policy"]');
    const block = page.locator('input[name="detect.blockAbove"]');
    await block.waitFor();
    const { csrf } = (await (await page.request.get(`${ui.url}/api/session`)).json()) as { csrf: string };
    const promoted = await page.request.post(`${ui.url}/api/models/promote`, { data: { version: 'v20260201T000000000Z' }, headers: { 'X-CSRF-Token': csrf } });
    expect(promoted.status()).toBe(200);
    await block.fill('0.95');
    await page.click('#apply-btn');
    await expect.poll(() => page.textContent('#policy-status')).toContain('changed since you loaded it: you edited v3, the current one is v4 by');
    // The form was reloaded with the promotion's version, model included.
    expect(await page.textContent('#policy-form p.muted')).toMatch(/^Version 4, by .* · model v20260201T000000000Z$/);
    expect(await policies.current()).toMatchObject({ version: 4, modelVersion: 'v20260201T000000000Z' });
    expect((await policies.current()).thresholds.detect.blockAbove).toBe(COLD_START_THRESHOLDS.detect.blockAbove);
  });
});

describe('compare page', () => {
  it('shows both versions side by side with differences highlighted and draws PR and ROC curves', async () => {
    await page.goto(`${ui.url}/#/compare/v20260101T000000000Z/v20260201T000000000Z`);
    await page.waitForSelector('#compare-models');
    const auc = page.locator('#compare-models tr[data-metric="xgboost · ROC AUC"]');
    expect(await auc.locator('td').allTextContents()).toEqual(['xgboost · ROC AUC', '0.9700', '0.9900', '+0.0200']);
    expect(await auc.getAttribute('class')).toBe('diff-better');
    const esc = page.locator('#compare-ensemble tr[data-metric="escalated"]');
    expect(await esc.getAttribute('class')).toBe('diff-worse');
    expect(await esc.locator('td.delta').textContent()).toBe('+3.00 pts');
    expect(await page.locator('#compare-models tr[data-metric="isolationForest · ROC AUC"]').getAttribute('class')).toBe('diff-same');
    expect(await page.textContent('#compare-scenarios')).toContain('bust_out · ensemble');
    expect(await page.locator('#pr-chart canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('#roc-chart canvas').count()).toBeGreaterThan(0);
    // Two versions x three models with curves = six lines per chart.
    expect(await page.locator('#pr-chart .u-legend .u-series').count()).toBe(7);
    expect(await page.locator('.no-curves').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-compare.png'), fullPage: true });
  });

  it('says "no curves in this card" for a card without them and draws only what exists', async () => {
    await page.selectOption('#compare-b', 'v20260301T000000000Z');
    await expect.poll(() => page.textContent('.no-curves[data-version="v20260301T000000000Z"]')).toContain('no curves in this card');
    expect(page.url()).toContain('#/compare/v20260101T000000000Z/v20260301T000000000Z');
    expect(await page.locator('#pr-chart canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('#compare-models tr[data-metric="ensemble · ROC AUC"]').getAttribute('class')).toBe('diff-missing');
    expect(await page.textContent('#compare')).toContain(XSS);
    await page.selectOption('#compare-a', 'v20260301T000000000Z');
    await expect.poll(() => page.locator('.no-curves').count()).toBe(2);
    expect(await page.locator('#pr-chart').count()).toBe(0);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
