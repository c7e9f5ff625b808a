/**
 * The console in a real browser (playwright-core driving the system chromium) against real Kafka and Redis.
 * Builds review-ui/dist first when it is missing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import type { KafkaMessage, Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { CaseSchema, DecisionSchema, LabelSchema, type Case, type Decision, type Transaction } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { RedisPolicyStore } from '../../state/policy.ts';
import { stageThresholds } from '../../core/model-registry.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { RedisSampleStore } from '../../state/samples.ts';
import type { Simulator } from '../../review-ui/server/replay.ts';
import { ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { collect, createKafka, testConfig, testRedis, dropTestKeys } from '../helpers/services.ts';

const XSS = '<img src=x onerror=alert(1)>';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');

let config: Config;
let ui: UiServer;
let redis: Redis;
let producer: Producer;
let browser: ConsoleSession;
let page: Page;
let dialogs: string[] = [];
let cspViolations: string[] = [];
let modelDir: string;
/** Stands in for producers/simulator.ts: records what the Replay page asked for. */
const simCalls: string[] = [];
const fakeSimulator = (): Simulator => ({
  start: () => simCalls.push('start'),
  stop: () => simCalls.push('stop'),
  setRate: (eps: number) => simCalls.push(`rate:${eps}`),
  inject: (scenario: string, count: number) => simCalls.push(`inject:${scenario}:${count}`),
  stats: () => ({ produced: simCalls.length, breaches: [{ merchantId: 'm-breached', injectedAt: BREACH_AT, scheduled: 30, sent: 2 }] }),
  // transactions named breach-* are the injected breach's fraud
  breachOf: (txId: string) => (txId.startsWith('breach-') ? { merchantId: 'm-breached', injectedAt: BREACH_AT } : undefined),
});
const BREACH_AT = Date.now() - 10 * 86_400_000 - 3_600_000;

function tx(txId: string, cardId: string, over: Partial<Transaction> = {}): Transaction {
  return {
    txId, cardId, merchantId: 'm-evil', merchantName: XSS, mcc: '5732', amountMinor: 129_900, currency: 'EUR',
    ts: Date.now() - 5_000, channel: 'ecommerce', country: 'BR', lat: -23.55, lon: -46.63, deviceId: 'dev-9', ...over,
  };
}

function decision(txId: string, action: Decision['action']): Decision {
  const cardId = `card-${txId}`;
  return DecisionSchema.parse({
    decisionId: `${txId}:detect`, txId, cardId, action, stage: 'detect', final: action !== 'REVIEW',
    reason: 'XGBoost 0.960 >= 0.9', scores: { xgboost: 0.96, isolationForest: 0.71 },
    rulesFired: [{ id: 'model.xgboost_block', description: 'XGBoost score at or above the block threshold', effect: 'block', value: 0.96, threshold: 0.9 }],
    topFeatures: [{ name: 'amount_z', value: 4.2, contribution: 0.31 }, { name: 'new_country', value: 1, contribution: 0.12 }],
    versions: { model: 'test-model', policy: 1 }, timings: { detect: 2.5 }, decidedAt: Date.now(), tx: tx(txId, cardId),
  });
}

beforeAll(async () => {
  await ensureUiBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  modelDir = mkdtempSync(join(tmpdir(), 'fraudstream-models-'));
  mkdirSync(join(modelDir, 'v20250101T000000000Z'));
  const metrics = { rows: 1000, positives: 20, rocAuc: 0.97, auprc: 0.81, recallAt1pctFpr: 0.7, flaggedShare: 0.01, perScenarioRecall: { card_testing: 0.9 } };
  writeFileSync(
    join(modelDir, 'v20250101T000000000Z', 'model-card.json'),
    JSON.stringify({
      version: 'v20250101T000000000Z', createdAt: '2025-01-01T00:00:00Z', kind: 'transactions', featureCount: 21,
      dataWindow: { from: 0, to: 86_400_000, rows: 1000, positives: 20, fraudRate: 0.02 },
      thresholds: { detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } },
      test: { xgboost: metrics, ensemble: { ...metrics, catchRate: 0.93, blockPrecision: 0.88, blockShare: 0.02, reviewShare: 0.005, escalateShare: 0.05, legitBlockedShare: 0.001 } },
    }),
  );
  config = { ...(await testConfig('uibrowser', { REVIEWER_SEED: 'alice:correct-horse,ana@analyst:analyst-pass', UI_DEMO_MODE: '1' })), modelDir };
  redis = testRedis(config);
  ui = await startUiServer({ config, port: 0, simulator: fakeSimulator, backfill: { decisions: 20, cases: 20, labels: 20 } });
  producer = createProducer(createKafka(config, '-test'));
  await producer.connect();
  browser = await openConsole({ url: ui.url });
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

describe('review console in a browser', () => {
  it('refuses pages and APIs without a session', async () => {
    await page.goto(ui.url);
    expect(new URL(page.url()).pathname).toBe('/login');
    const api = await page.request.get(`${ui.url}/api/cases`);
    expect(api.status()).toBe(401);
  });

  it('logs in', async () => {
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wrong-password');
    await page.click('#submit');
    await expect.poll(() => page.textContent('#error')).toContain('wrong user name or password');
    await page.fill('#password', 'correct-horse');
    await page.click('#submit');
    await page.waitForURL(`${ui.url}/`);
    await expect.poll(() => page.textContent('#who')).toBe('alice');
    await page.waitForSelector('#conn.up');
    expect(await page.locator('#nav a').evaluateAll((as) => as.map((a) => (a as HTMLElement).dataset.path))).toEqual(['live', 'queue', 'search', 'shift', 'policy', 'models', 'replay', 'evidence', 'dead-letters', 'audit']);
  });

  it('shows a decision produced into Kafka on the live page, its merchant name as inert text', async () => {
    const txId = `tx-live-${randomUUID().slice(0, 8)}`;
    const d = decision(txId, 'BLOCK');
    await producer.send({ topic: config.topics.decisions, messages: [{ key: d.cardId, value: JSON.stringify(d) }] });
    const row = page.locator(`tr[data-tx="${txId}"]`);
    await row.waitFor({ timeout: 30_000 });
    expect(await row.getAttribute('class')).toContain('block');
    expect(await row.locator('td.merchant').textContent()).toBe(XSS);
    await row.click();
    await expect.poll(() => page.locator('.why').first().textContent()).toContain('amount_z');
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-live.png'), fullPage: true });
    expect(dialogs).toEqual([]);
  });

  it('approves a case: label on the labels topic, final decision, audit entry', async () => {
    const txId = `tx-case-${randomUUID().slice(0, 8)}`;
    const cardId = `card-${txId}`;
    const c: Case = CaseSchema.parse({
      caseId: `case-${txId}`, txId, cardId, tx: tx(txId, cardId), features: { amount_z: 4.2, new_country: 1, velocity_1h: 3 },
      scores: { xgboost: 0.6, isolationForest: 0.8, heavy: 0.55 }, rulesFired: [{ id: 'model.heavy_ambiguous', description: 'heavy model still unsure', effect: 'review', value: 0.55 }],
      topFeatures: [{ name: 'amount_z', value: 4.2, contribution: 0.3 }], versions: { model: 'test-model', policy: 1 }, risk: 0.55, status: 'open', createdAt: Date.now() - 90_000,
    });
    // The card's earlier transaction in Paris, an hour before: the case is a travel case.
    const earlier = decision(`${txId}-prev`, 'ALLOW');
    earlier.cardId = cardId;
    earlier.tx = { ...tx(`${txId}-prev`, cardId, { merchantName: 'Boulangerie', country: 'FR', lat: 48.85, lon: 2.35, amountMinor: 1_250 }), ts: c.tx.ts - 3_600_000 };
    await producer.send({ topic: config.topics.decisions, messages: [{ key: cardId, value: JSON.stringify(earlier) }] });
    await page.locator(`tr[data-tx="${earlier.txId}"]`).waitFor({ timeout: 30_000 });
    await new RedisReviewQueue(redis, config.redis.keyPrefix).enqueue(c);
    await producer.send({ topic: config.topics.cases, messages: [{ key: cardId, value: JSON.stringify(c) }] });

    await page.click('#nav a[data-path="queue"]');
    const row = page.locator(`tr[data-case="${c.caseId}"]`);
    await row.waitFor();
    expect(await row.locator('td.merchant').textContent()).toBe(XSS);
    await row.click();
    await page.waitForSelector('#merchant-name');
    expect(await page.textContent('#merchant-name')).toBe(XSS);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    await expect.poll(() => page.locator('main').textContent()).toContain('faster than a plane');
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-case.png'), fullPage: true });

    await page.keyboard.press('n');
    await page.keyboard.type('customer confirmed by phone');
    await page.keyboard.press('Escape');
    await page.keyboard.press('a');
    await expect.poll(() => page.textContent('#verdict-result')).toContain('Case closed: approved');

    const kafka = createKafka(config, '-collect');
    const labels = await collect(kafka, config.topics.labels, (ms) => ms.some((m) => m.value?.toString().includes(txId)), 30_000);
    const label = LabelSchema.parse(JSON.parse(labels.find((m) => m.value?.toString().includes(txId))!.value!.toString()));
    expect(label).toMatchObject({ txId, isFraud: false, source: 'analyst', analyst: 'alice', note: 'customer confirmed by phone' });
    // The topic leaves out the decisionId (txId:stage): find the review stage's decision by its fields.
    const reviewOf = (ms: KafkaMessage[]) => ms.map((m) => DecisionSchema.safeParse(JSON.parse(m.value?.toString() ?? 'null')).data).find((d) => d?.txId === txId && d.stage === 'review');
    const decisions = await collect(kafka, config.topics.decisions, (ms) => reviewOf(ms) !== undefined, 30_000);
    const final = reviewOf(decisions)!;
    expect(final.decisionId).toBe(`${txId}:review`);
    expect(final).toMatchObject({ stage: 'review', final: true, action: 'ALLOW', analyst: 'alice' });

    await page.click('#nav a[data-path="audit"]');
    const entry = page.locator('#audit tr', { hasText: `case:${c.caseId}` });
    await entry.first().waitFor();
    const text = await entry.first().textContent();
    expect(text).toContain('case.approve');
    expect(text).toContain('alice');
    expect(text).toContain('customer confirmed by phone');
    expect(dialogs).toEqual([]);
  });

  it('previews a policy change on recent scored traffic, applies it and rolls it back', async () => {
    await new RedisSampleStore(redis, config.redis.keyPrefix).push(
      [0.1, 0.5, 0.6, 0.95].map((x, i) => ({
        txId: `s${i}`, cardId: 'c', merchantId: 'm', mcc: '5411', country: 'FR', amountMinor: 1_000, scores: { xgboost: x, isolationForest: 0.1 }, rulesFired: [], action: 'ALLOW' as const,
      })),
    );
    await page.click('#nav a[data-path="policy"]');
    const block = page.locator('input[name="detect.blockAbove"]');
    await block.waitFor();
    await block.fill('0.55');
    await page.click('#preview-btn');
    await expect.poll(() => page.textContent('#preview')).toContain('4 transactions; 1 would be decided differently');
    const blockRow = page.locator('.preview-table tr', { hasText: 'BLOCK' });
    expect(await blockRow.locator('td').last().textContent()).toBe('+1');
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-policy.png'), fullPage: true });
    await page.click('#apply-btn');
    await expect.poll(() => page.textContent('#policy-status')).toContain('Applied as version 2');
    await page.click('button.rollback[data-version="1"]');
    await expect.poll(() => page.textContent('#policy-status')).toContain('Rolled back');
    // The status line and the re-rendered form update separately: wait for the form.
    await expect.poll(() => page.inputValue('input[name="detect.blockAbove"]')).toBe('0.9');
  });

  it('shows thresholds to three decimals and amounts in currency, and applies precise values exactly', async () => {
    const store = new RedisPolicyStore(redis, config.redis.keyPrefix, () => {
      throw new Error('the policy exists by now');
    });
    const { version: _v, updatedAt: _u, updatedBy: _b, ...content } = await store.current();
    const precise = 0.5633531814486681;
    await store.update({ ...content, thresholds: { ...content.thresholds, detect: { ...content.thresholds.detect, blockAbove: precise } }, rules: { ...content.rules, blockAmountAbove: 250_000 } }, 'model-card');
    await page.click('#nav a[data-path="live"]');
    await page.click('#nav a[data-path="policy"]');
    const block = page.locator('input[name="detect.blockAbove"]');
    await expect.poll(() => block.inputValue()).toBe('0.563');
    // One field per threshold the registered models declare (core/model-registry.ts), under its model's legend.
    for (const stage of ['detect', 'escalate'] as const) {
      const names = await page.locator(`#policy-form input[name^="${stage}."]`).evaluateAll((els) => els.map((e) => (e as HTMLInputElement).name));
      expect(names.sort()).toEqual(stageThresholds(stage).map((t) => `${stage}.${t.key}`).sort());
    }
    expect(await page.locator('#policy-form legend').first().textContent()).toBe('Detect (XGBoost + isolation forest)');
    expect(await page.inputValue('input[name="detect.anomalyEscalateAbove"]')).toBe('0.75');
    // The decisions this suite produced are in EUR: amount rules are shown in EUR.
    expect(await page.inputValue('input[name="rules.blockAmountAbove"]')).toBe('2500.00');
    expect((await page.textContent('.amount-shown[data-for="rules.blockAmountAbove"]'))?.replace(/\s/g, ' ')).toBe('EUR 2,500.00');
    const versions = (await page.locator('table', { hasText: 'block amounts above' }).textContent())?.replace(/\s/g, ' ') ?? '';
    expect(versions).toContain('0.563 / ');
    expect(versions).toContain('EUR 2,500.00');
    expect(versions).not.toContain('0.5633');
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-policy-precision.png'), fullPage: true });

    // Edit something else: the shown 0.563 must not replace the stored threshold. Cents are typed as cents.
    await page.fill('input[name="escalate.allowBelow"]', '0.3125');
    await page.fill('input[name="rules.blockAmountAbove"]', '2500.5');
    await expect.poll(() => page.textContent('.amount-shown[data-for="rules.blockAmountAbove"]')).toMatch(/EUR\s2,500\.50/);
    await page.click('#apply-btn');
    await expect.poll(() => page.textContent('#policy-status')).toContain('Applied as version');
    const now = await store.current();
    expect(now.thresholds.detect.blockAbove).toBe(precise);
    expect(now.thresholds.escalate.allowBelow).toBe(0.3125);
    expect(now.rules.blockAmountAbove).toBe(250_050);
    // After "Applied" the page reloads the policy and renders the form again (then the versions table): a value typed
    // before that render is replaced (CI at load 9 typed 2500.505 into the old form and previewed the reloaded 2500.50).
    await expect.poll(async () => (await page.locator('table', { hasText: 'block amounts above' }).textContent()) ?? '').toContain(`v${now.version}`);

    await page.fill('input[name="rules.blockAmountAbove"]', '2500.505');
    await page.click('#preview-btn');
    await expect.poll(() => page.textContent('#policy-status')).toBe('block amounts above: at most 2 digits after the decimal point');
  });

  it('shows model versions with their card and metrics', async () => {
    await page.click('#nav a[data-path="models"]');
    await expect.poll(() => page.textContent('#models')).toContain('v20250101T000000000Z');
    const text = (await page.textContent('#models')) ?? '';
    expect(text).toContain('ROC AUC');
    expect(text).toContain('0.9700');
    expect(text).toContain('93.00%');
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-models.png'), fullPage: true });
    expect(await page.textContent('#live-metrics')).toContain('labels received');
  });

  it('drives the replay: start, speed, inject', async () => {
    await page.click('#nav a[data-path="replay"]');
    await page.fill('#replay-rate', '40');
    await page.click('#replay-start');
    await expect.poll(() => page.textContent('#replay-state')).toContain('Running at 40');
    await page.selectOption('#replay-scenario', 'card_testing');
    await page.fill('#replay-count', '7');
    await page.click('#replay-inject');
    await expect.poll(() => simCalls).toContain('inject:card_testing:7');
    // The injected breach's fraud, as decided: allowed before anyone reported the merchant, blocked on its label risk.
    const early = { ...decision('breach-1', 'ALLOW'), topFeatures: [] };
    const late = { ...decision('breach-2', 'BLOCK'), topFeatures: [{ name: 'merchant_fraud_rate_7d_delayed', value: 0.3, contribution: 0.4 }] };
    await producer.send({ topic: config.topics.decisions, messages: [early, late].map((d) => ({ key: d.cardId, value: JSON.stringify(d) })) });
    await expect.poll(() => page.textContent('#replay-breaches'), { timeout: 20_000 }).toContain('2 decided, 1 caught (50%)');
    expect(await page.textContent('#replay-breaches')).toContain('2 of 30 fraud transactions sent');
    const rows = await page.locator('#replay-breaches table.breach-days tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows).toEqual([['10', '2', '1', '0', '1', '50%', '', '1']]);
    await page.click('#replay-stop');
    await expect.poll(() => page.textContent('#replay-state')).toContain('Stopped');
    expect(simCalls.slice(0, 2)).toEqual(['rate:40', 'start']);
  });

  it('refuses a state-changing request without the CSRF token', async () => {
    const statuses = await page.evaluate(async () => {
      const post = (headers: Record<string, string>) =>
        fetch('/api/cases/nope/verdict', { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ verdict: 'approve' }) }).then((r) => r.status);
      const session = (await (await fetch('/api/session')).json()) as { csrf: string };
      return { without: await post({}), withToken: await post({ 'X-CSRF-Token': session.csrf }) };
    });
    expect(statuses.without).toBe(403);
    expect(statuses.withToken).toBe(404);
  });

  it('logs out and the session is gone', async () => {
    await page.click('#logout');
    await page.waitForURL(`${ui.url}/login`);
    expect((await page.request.get(`${ui.url}/api/session`)).status()).toBe(401);
    await page.goto(ui.url);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(cspViolations).toEqual([]);
  });

  it('shows an analyst only the pages an analyst may use', async () => {
    await page.fill('#username', 'ana');
    await page.fill('#password', 'analyst-pass');
    await page.click('#submit');
    await page.waitForURL(`${ui.url}/`);
    await expect.poll(() => page.textContent('#who')).toBe('ana');
    expect(await page.locator('#nav a').evaluateAll((as) => as.map((a) => (a as HTMLElement).dataset.path))).toEqual(['live', 'queue', 'search', 'shift', 'evidence', 'dead-letters', 'audit']);
    // A typed address to an admin page shows the Live page instead (and its API would answer 403 anyway).
    await page.goto(`${ui.url}/#/policy`);
    await expect.poll(() => page.locator('#nav a.active').getAttribute('data-path')).toBe('live');
    expect((await page.request.get(`${ui.url}/api/policy`)).status()).toBe(403);
    await page.click('#logout');
    await page.waitForURL(`${ui.url}/login`);
  });
});
