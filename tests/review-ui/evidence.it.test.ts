/**
 * Guard rails and evidence against real Kafka and Redis (and the console in a real browser): dead letters shown
 * as inert text, per-rule statistics from decisions joined with labels, and the guard rail rolling back a policy
 * that blocks everything. The rule statistics and the guard rail run in the ops service (with the labels stage,
 * which joins the labels), started here beside the console as `fraudstream stages` would run it.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { DecisionSchema, LabelSchema, type Decision, type DeadLetter, type RuleHit } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import type { DeadLetterSummary } from '../../review-ui/server/dead-letters.ts';
import type { GuardStatus } from '../../router/ops/guard.ts';
import type { RuleStatsView } from '../../router/pure/guard.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import type { AuditEntry } from '../../state/audit.ts';
import { ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { createKafka, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';

const XSS = '<img src=x onerror=alert(1)>';
const MIN_DECISIONS = 30;
const ARTIFACTS = join(process.cwd(), 'test-artifacts');

let config: Config;
let ui: UiServer;
let ops: Pipeline;
let redis: Redis;
let producer: Producer;
let browser: ConsoleSession | undefined;
let client: Client;
const run = randomUUID().slice(0, 8);

const call = (method: string, path: string, body?: unknown) => apiCall(ui.url, client, method, path, body);
const getJson = async <T>(path: string): Promise<T> => {
  const res = await call('GET', path);
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
};

function decision(txId: string, action: Decision['action'], policy: number, rules: RuleHit[], amountMinor = 10_000): Decision {
  const cardId = `card-${txId}`;
  return DecisionSchema.parse({
    decisionId: `${txId}:detect`, txId, cardId, action, stage: 'detect', final: action !== 'REVIEW', reason: 'test', scores: { xgboost: 0.5 },
    rulesFired: rules, topFeatures: [], versions: { model: 'test-model', policy }, timings: { detect: 1 }, decidedAt: Date.now(),
    tx: { txId, cardId, merchantId: 'm-1', merchantName: 'Shop', mcc: '5732', amountMinor, currency: 'EUR', ts: Date.now() - 1_000, channel: 'ecommerce', country: 'DE', lat: 52.5, lon: 13.4, deviceId: null },
  });
}

const hit = (id: string, effect: RuleHit['effect']): RuleHit => ({ id, description: id, effect });

async function sendDecisions(ds: Decision[]): Promise<void> {
  await producer.send({ topic: config.topics.decisions, messages: ds.map((d) => ({ key: d.cardId, value: JSON.stringify(d) })) });
}

async function decisionsSeen(): Promise<number> {
  const s = await getJson<{ counts: Record<string, number> }>('/api/stats');
  return Object.values(s.counts).reduce((a, b) => a + b, 0);
}

beforeAll(async () => {
  await ensureUiBuilt();
  config = await testConfig('evidence', {
    REVIEWER_SEED: 'alice:correct-horse',
    GUARD_MIN_DECISIONS: String(MIN_DECISIONS),
    GUARD_BLOCK_FACTOR: '3',
    GUARD_WINDOW_MINUTES: '10',
  });
  redis = testRedis(config);
  ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 10, cases: 10, labels: 10 }, deadLetterBackfill: 50 });
  ops = await startPipeline({ config, stages: ['ops', 'labels'] });
  await ops.ready;
  producer = createProducer(createKafka(config, '-test'));
  await producer.connect();
  const logged = await apiLogin(ui.url, 'alice', 'correct-horse');
  if (!logged.client) throw new Error(`login failed: ${logged.status}`);
  client = logged.client;
});

afterAll(async () => {
  await browser?.close();
  await producer?.disconnect();
  await ops?.stop();
  await ui?.close();
  if (redis) {
    await dropTestKeys(redis, config);
    redis.disconnect();
  }
});

describe('dead letters', () => {
  const letter = (reason: string, raw: string, offset: string): DeadLetter => ({
    sourceTopic: config.topics.transactions, partition: 1, offset, key: `card-${run}`, rawBase64: Buffer.from(raw).toString('base64'),
    rawBytes: Buffer.byteLength(raw), reason, stage: 'detect', failedAt: Date.now(),
  });

  it('serves dead letters from the DLQ topic, filtered by reason, and refuses bad queries with a message', async () => {
    await producer.send({
      topic: config.topics.dlq,
      messages: [
        { value: JSON.stringify(letter('not JSON: Unexpected token <', XSS, '41')) },
        { value: JSON.stringify(letter('schema: amountMinor: expected number', '{"txId":"dl-schema"}', '42')) },
        { value: 'not a dead letter at all' },
      ],
    });
    await expect.poll(async () => (await getJson<DeadLetterSummary>('/api/dead-letters')).total, { timeout: 30_000 }).toBe(2);
    const all = await getJson<DeadLetterSummary>('/api/dead-letters');
    expect(all.unreadable).toBe(1);
    expect(all.byKind).toEqual(expect.arrayContaining([{ kind: 'not JSON', count: 1 }, { kind: 'schema', count: 1 }]));
    const hostile = all.letters.find((l) => l.offset === '41');
    expect(hostile).toMatchObject({ preview: XSS, stage: 'detect', partition: 1, rawBytes: XSS.length });
    const schema = await getJson<DeadLetterSummary>('/api/dead-letters?kind=schema&limit=10');
    expect(schema.letters.map((l) => l.offset)).toEqual(['42']);

    expect((await fetch(`${ui.url}/api/dead-letters`)).status).toBe(401);
    expect((await fetch(`${ui.url}/api/rules/stats`)).status).toBe(401);
    for (const [q, word] of [['limit=0', 'limit'], ['limit=abc', 'limit'], ['kind=', 'kind'], ['kind=a&kind=b', 'kind'], [`kind=${'x'.repeat(61)}`, 'kind']] as const) {
      const res = await call('GET', `/api/dead-letters?${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: string }).error, q).toContain(word);
    }
  });

  it('shows them in a browser: counts, chart, payload as inert text, filter by reason', async () => {
    browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'correct-horse', waitFor: '#nav a' } });
    const { page } = browser;
    await page.goto(`${ui.url}/#/dead-letters`);
    await page.waitForSelector('.dlq-preview');
    expect(await page.locator('.dlq-preview').allTextContents()).toEqual(expect.arrayContaining([XSS, '{"txId":"dl-schema"}']));
    expect(await page.locator('#dlq-letters img').count()).toBe(0);
    expect(await page.locator('#dlq-chart rect').count()).toBe(60);
    expect(await page.textContent('#dlq-counts')).toContain('not JSON');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-dead-letters.png'), fullPage: true });
    await page.selectOption('#dlq-kind', 'schema');
    await expect.poll(() => page.locator('.dlq-preview').allTextContents()).toEqual(['{"txId":"dl-schema"}']);
    await page.selectOption('#dlq-kind', 'not JSON');
    await expect.poll(() => page.locator('.dlq-preview').allTextContents()).toEqual([XSS]);
    expect(browser.dialogs).toEqual([]);
    expect(browser.cspViolations).toEqual([]);
  });
});

describe('rule and list evidence', () => {
  it('joins decisions with labels into hits, precision, money caught and only-false-positive flags', async () => {
    const policy = (await getJson<{ current: { version: number } }>('/api/policy')).current.version;
    const fp = Array.from({ length: 6 }, (_, i) => decision(`tx-fp-${run}-${i}`, 'REVIEW', policy, [hit('rule.escalate_country', 'escalate')]));
    const caught = Array.from({ length: 3 }, (_, i) => decision(`tx-bl-${run}-${i}`, 'BLOCK', policy, [hit('list.block_card', 'block'), hit('rule.escalate_country', 'escalate')], 5_000 * (i + 1)));
    const unlabelled = decision(`tx-un-${run}`, 'ALLOW', policy, [hit('list.block_card', 'block')]);
    await sendDecisions([...fp, ...caught, unlabelled]);
    const labels = [...fp.map((d) => ({ d, isFraud: false })), ...caught.map((d) => ({ d, isFraud: true }))].map(({ d, isFraud }) =>
      LabelSchema.parse({ txId: d.txId, cardId: d.cardId, isFraud, scenario: null, source: 'chargeback', labeledAt: Date.now() }),
    );
    await producer.send({ topic: config.topics.labels, messages: labels.map((l) => ({ key: l.cardId, value: JSON.stringify(l) })) });

    const rule = async (id: string) => (await getJson<{ rules: RuleStatsView[] }>('/api/rules/stats')).rules.find((r) => r.rule === id);
    await expect.poll(async () => (await rule('list.block_card'))?.labelled, { timeout: 30_000 }).toBe(3);
    await expect.poll(async () => (await rule('rule.escalate_country'))?.labelled, { timeout: 30_000 }).toBe(9);
    expect(await rule('list.block_card')).toMatchObject({ kind: 'list', hits: 4, labelled: 3, fraud: 3, precision: 1, moneyCaught: 30_000, currency: 'EUR', onlyFalsePositives: false });
    expect(await rule('rule.escalate_country')).toMatchObject({ kind: 'rule', hits: 9, fraud: 3, moneyCaught: 30_000, onlyFalsePositives: false });
    expect((await rule('rule.escalate_country'))?.precision).toBeCloseTo(3 / 9);

    // A rule whose labelled hits were all legitimate is flagged.
    const onlyFp = Array.from({ length: 5 }, (_, i) => decision(`tx-ofp-${run}-${i}`, 'REVIEW', policy, [hit('rule.escalate_mcc', 'escalate')]));
    await sendDecisions(onlyFp);
    await producer.send({
      topic: config.topics.labels,
      messages: onlyFp.map((d) => ({ key: d.cardId, value: JSON.stringify(LabelSchema.parse({ txId: d.txId, isFraud: false, scenario: null, source: 'analyst', labeledAt: Date.now() })) })),
    });
    await expect.poll(async () => (await rule('rule.escalate_mcc'))?.onlyFalsePositives, { timeout: 30_000 }).toBe(true);
    expect(await rule('rule.escalate_mcc')).toMatchObject({ hits: 5, labelled: 5, fraud: 0, precision: 0, moneyCaught: 0 });
    expect(await call('GET', '/api/rules/stats?minLabelled=0').then((r) => r.status)).toBe(400);
  });
});

describe('guard rail', () => {
  it('rolls back a policy that blocks everything, audits it as guard-rail and shows it on the Live page (and the Evidence page flags the only-false-positive rule)', async () => {
    const before = await getJson<{ current: { version: number; rules: { blockAmountAbove: number | null } } & Record<string, unknown> }>('/api/policy');
    const v1 = before.current.version;
    // Baseline under the current version: 2 blocks in 150 decisions; wait until the console has seen them all.
    const seen = await decisionsSeen();
    await sendDecisions(Array.from({ length: 150 }, (_, i) => decision(`tx-base-${run}-${i}`, i < 2 ? 'BLOCK' : 'ALLOW', v1, [])));
    await expect.poll(decisionsSeen, { timeout: 30_000 }).toBe(seen + 150);

    const { version: _v, updatedAt: _u, updatedBy: _b, ...content } = before.current;
    const put = await call('PUT', '/api/policy', { ...content, baseVersion: v1, rules: { ...(content.rules as object), blockAmountAbove: 1 } });
    expect(put.status).toBe(200);
    const v2 = ((await put.json()) as { current: { version: number } }).current.version;
    expect(v2).toBe(v1 + 1);

    // Below MIN_DECISIONS nothing happens yet, however bad the rate.
    await sendDecisions(Array.from({ length: MIN_DECISIONS - 5 }, (_, i) => decision(`tx-spike-${run}-${i}`, 'BLOCK', v2, [hit('rule.block_amount', 'block')])));
    await expect.poll(decisionsSeen, { timeout: 30_000 }).toBe(seen + 150 + MIN_DECISIONS - 5);
    await expect.poll(async () => (await getJson<{ guard: GuardStatus }>('/api/stats')).guard.watching?.version).toBe(v2);
    expect((await getJson<{ current: { version: number } }>('/api/policy')).current.version).toBe(v2);

    await sendDecisions(Array.from({ length: 10 }, (_, i) => decision(`tx-spike2-${run}-${i}`, 'BLOCK', v2, [hit('rule.block_amount', 'block')])));
    await expect.poll(async () => (await getJson<{ current: { version: number } }>('/api/policy')).current.version, { timeout: 30_000 }).toBe(v2 + 1);
    const after = await getJson<{ current: { version: number; updatedBy: string; rules: { blockAmountAbove: number | null } } }>('/api/policy');
    expect(after.current.updatedBy).toBe('guard-rail');
    expect(after.current.rules.blockAmountAbove).toBe(before.current.rules.blockAmountAbove);

    // The audit entry reaches the view once it is chained onto the audit topic (state/audit.ts), a moment after the
    // rollback itself: wait for it.
    const rollbackEntry = async () => (await getJson<{ entries: AuditEntry[] }>('/api/audit?target=policy&limit=20')).entries.find((e) => e.who === 'guard-rail');
    await expect.poll(rollbackEntry, { timeout: 15_000 }).toBeDefined();
    const entry = await rollbackEntry();
    expect(entry).toMatchObject({ action: 'policy.rollback', target: 'policy', before: { version: v2 }, after: { version: v2 + 1, from: v1 } });
    expect(String((entry?.after as { reason: string }).reason)).toMatch(/block rate 100\.00% over \d+ decisions is more than 3x/);

    const guard = (await getJson<{ guard: GuardStatus }>('/api/stats')).guard;
    expect(guard.rollbacks[0]).toMatchObject({ fromVersion: v2, toVersion: v1, newVersion: v2 + 1 });

    if (!browser) throw new Error('the dead-letter browser test opens the console first');
    const { page } = browser;
    await page.goto(`${ui.url}/#/live`);
    await expect.poll(() => page.textContent('#guard-rollbacks'), { timeout: 15_000 }).toContain(`v${v2}`);
    expect(await page.textContent('#guard-rollbacks')).toContain('more than 3x');
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-guard-rail.png'), fullPage: true });
    await page.goto(`${ui.url}/#/evidence`);
    await expect.poll(() => page.locator('.only-fp').count()).toBe(1);
    expect(await page.locator('.evidence-table tr', { has: page.locator('.only-fp') }).textContent()).toContain('rule.escalate_mcc');
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-evidence.png'), fullPage: true });
  });
});
