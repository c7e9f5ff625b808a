/**
 * Issue 21's aim, end to end: a breach of one merchant injected on the Replay page appears as one group of linked
 * cases that one bulk verdict settles, with every case's label on the labels topic.
 *
 * Real parts only: the simulator (producers/simulator.ts) in the console, driven from the Replay page in Chromium;
 * the detect, escalate and labels stages in-process on real Kafka and Redis; the console's queue and case pages.
 *
 * Which transactions reach review is made deterministic, not left to a model: no model is loaded (rules-only), the
 * policy escalates the breached merchant's category (MCC), and escalate without a heavy model sends every escalation
 * to review while the queue has room. So every transaction at the breached merchant becomes a case (the breach's
 * fraud and its regular customers' purchases alike), and so does every one at the other merchants of that category
 * and every one over the default 2,000.00 escalation amount: other groups the breach's group must stay apart from.
 * The world is small and seeded (10 cards, 50 merchants, no background fraud, the breach injected before the first
 * transaction), so the breached merchant is known before the run: a twin of the simulator's world names it, and the
 * test checks the Replay page names the same one. A trained model would route by scores that move with training.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { KafkaMessage } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import { DecisionSchema, LabelSchema, type Decision, type Label } from '../../core/contracts.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { createSimulator, SIMULATOR_LABEL_DELAY_SCALE, type Simulator } from '../../producers/simulator.ts';
import { World, type WorldOptions } from '../../producers/world/index.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { collect, createKafka, testConfig, testRedis } from '../helpers/services.ts';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const NOTE = 'Breach at this merchant: every card through it since the injection <b>confirmed</b>';
/** Seed 9 breaches a card-present merchant with 21 fraud transactions over about 340 transactions in all. */
const SEED = 9;
const DAY = 86_400_000;
// Transactions carry simulated time from here: a month back, so the breach's weeks end around now.
const START = Math.floor((Date.now() - 30 * DAY) / DAY) * DAY;
const WORLD: Omit<WorldOptions, 'seed' | 'events'> = { cards: 10, merchants: 50, fraudRate: 0, legitLabelShare: 0, startTs: START };

let config: Config;
let redis: Redis;
let ui: UiServer | undefined;
let pipeline: Pipeline | undefined;
let browser: ConsoleSession | undefined;
let sim: Simulator | undefined;

/** The simulator's world, built the same way (producers/simulator.ts) and injected at the same point: the breach it will pick. */
function predictedBreach(): { merchantId: string; merchantName: string; mcc: string; scheduled: number } {
  const twin = new World({ labelDelayScale: SIMULATOR_LABEL_DELAY_SCALE, ...WORLD, seed: SEED, events: Infinity });
  const r = twin.injectEpisodes('compromised_merchant', 1);
  const b = r.breaches[0]!;
  const m = twin.merchants().find((x) => x.merchantId === b.merchantId)!;
  return { merchantId: b.merchantId, merchantName: m.name, mcc: m.mcc, scheduled: b.scheduled };
}
const breach = predictedBreach();

beforeAll(async () => {
  await ensureUiBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  config = await testConfig('breachcases', { REVIEWER_SEED: 'lead@admin:lead-password,alice@analyst:alice-password', UI_DEMO_MODE: '1' });
  redis = testRedis(config);
  const policies = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS));
  const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = await policies.current();
  await policies.update({ ...input, rules: { ...input.rules, escalateMccs: [breach.mcc] } }, 'test');
  pipeline = await startPipeline({ config, stages: ['detect', 'escalate', 'labels'] });
  await pipeline.ready;
  ui = await startUiServer({
    config,
    port: 0,
    simulator: (cfg, opts) => (sim = createSimulator(cfg, { rate: opts.rate, seed: SEED, world: WORLD })),
    backfill: { decisions: 0, cases: 0, labels: 0 },
  });
}, 180_000);

afterAll(async () => {
  await sim?.stop();
  await pipeline?.stop();
  await closeConsoleTest({ browser, ui, redis, config });
});

const parse = <T>(schema: { parse(x: unknown): T }, ms: KafkaMessage[]): T[] => ms.map((m) => schema.parse(JSON.parse(m.value?.toString() ?? '{}')));

async function logIn(s: ConsoleSession, user: string, password: string): Promise<void> {
  const { page } = s;
  await page.goto(`${ui!.url}/login`);
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#submit');
  await page.waitForURL(`${ui!.url}/`);
  await page.waitForSelector('#conn.up');
}

describe('a merchant breach injected on the Replay page', () => {
  it('is one group of linked cases in the queue, settled by one bulk verdict with one note, each labelled and audited', { timeout: 240_000 }, async () => {
    // ---------------------------------------------------------------- the shift lead injects the breach and runs the stream
    browser = await openConsole({ url: ui!.url, login: { user: 'lead', password: 'lead-password', waitFor: '#conn.up' } });
    const { page } = browser;
    await page.click('#nav a[data-path="replay"]');
    await page.selectOption('#replay-scenario', 'compromised_merchant');
    await page.fill('#replay-count', '1');
    await page.click('#replay-inject');
    const shown = page.locator('#replay-breaches .breach');
    await shown.waitFor();
    expect(await shown.getAttribute('data-merchant'), 'the Replay page names the breach the twin world predicted').toBe(breach.merchantId);
    await page.fill('#replay-rate', '100');
    await page.click('#replay-start');
    // Until the breach has sent all its fraud (simulated weeks, real seconds), then stop: the simulator is asked
    // directly, since the page polls its status every 2 s (another 200 transactions at this rate).
    await expect.poll(() => sim?.stats().breaches[0]?.sent, { timeout: 60_000, interval: 20 }).toBe(breach.scheduled);
    await page.click('#replay-stop');
    await expect.poll(() => page.textContent('#replay-state')).toContain('Stopped');
    expect(await page.textContent('#replay-breaches')).toContain(`${breach.scheduled} of ${breach.scheduled} fraud transactions sent`);
    const sent = sim!.stats().sent;
    expect(sent).toBeGreaterThan(200);
    expect(sent).toBeLessThan(1_000);

    // ---------------------------------------------------------------- what the stages decided (read committed)
    const kafka = createKafka(config, '-collect');
    const decisions = parse(DecisionSchema, await collect(kafka, config.topics.decisions, (ms) => new Set(parse(DecisionSchema, ms).map((d) => d.txId)).size >= sent, 90_000, 1_000));
    const byTx = new Map<string, Decision>();
    for (const d of decisions) byTx.set(d.txId, d);
    expect(byTx.size).toBe(sent);
    const reviews = [...byTx.values()].filter((d) => d.action === 'REVIEW');
    const group = reviews.filter((d) => d.tx.merchantId === breach.merchantId);
    const others = reviews.filter((d) => d.tx.merchantId !== breach.merchantId);
    // Every fraud transaction of the breach reached review, at the breached merchant.
    const breachTxs = [...byTx.values()].filter((d) => sim!.breachOf(d.txId));
    expect(breachTxs).toHaveLength(breach.scheduled);
    for (const d of breachTxs) expect(d, d.txId).toMatchObject({ action: 'REVIEW', tx: { merchantId: breach.merchantId } });
    // The group is the merchant's cases; other merchants' cases are in the queue beside it.
    expect(group.length).toBeGreaterThanOrEqual(breach.scheduled);
    expect(group.length).toBeLessThanOrEqual(50); // one case page lists at most 50 linked cases
    const otherMerchants = new Set(others.map((d) => d.tx.merchantId));
    expect(otherMerchants.size).toBeGreaterThanOrEqual(2);
    const queue = new RedisReviewQueue(redis, config.redis.keyPrefix);
    await expect.poll(() => ui!.openCases()).toBe(reviews.length);
    const caseOf = (d: Decision) => `case-${d.txId}`;
    const groupIds = new Set(group.map(caseOf));

    // ---------------------------------------------------------------- an analyst works it: the queue grouped by merchant
    await page.click('#logout');
    await page.waitForURL(/\/login/);
    await logIn(browser, 'alice', 'alice-password');
    await page.click('#nav a[data-path="queue"]');
    await page.check('#group-merchant');
    const head = page.locator(`tr.group-head[data-merchant="${breach.merchantId}"]`);
    await head.waitFor();
    expect(await head.textContent()).toContain(`${group.length} cases`);
    // At stake per currency: the world's cards pay in their own currencies, which are never summed together.
    const stake = new Map<string, number>();
    for (const d of group) {
      const c = await queue.get(caseOf(d));
      stake.set(d.tx.currency, (stake.get(d.tx.currency) ?? 0) + (c?.expectedLoss ?? 0));
    }
    const headText = (await head.textContent()) ?? '';
    for (const [currency, minor] of stake) expect(headText).toMatch(new RegExp(`${currency}\\s?${(minor / 100).toFixed(2)}`));
    expect(headText.split(' + ')).toHaveLength(stake.size);
    expect(await head.locator('.merchant').textContent()).toBe(breach.merchantName);
    // Every open case sits under its own merchant's head, and the breach's group holds exactly the merchant's cases.
    const layout = await page.locator('#queue tr').evaluateAll((trs) => {
      const out: Array<{ merchant: string; cases: string[] }> = [];
      for (const tr of trs) {
        if (tr.classList.contains('group-head')) out.push({ merchant: tr.getAttribute('data-merchant') ?? '', cases: [] });
        else if (tr.getAttribute('data-case')) out.at(-1)?.cases.push(tr.getAttribute('data-case') ?? '');
      }
      return out;
    });
    expect(layout[0]?.merchant, 'the breach has the most cases: its group comes first').toBe(breach.merchantId);
    expect(new Set(layout[0]?.cases)).toEqual(groupIds);
    expect(layout.map((g) => g.merchant).sort()).toEqual([breach.merchantId, ...otherMerchants].sort());
    const merchantOfCase = new Map(reviews.map((d) => [caseOf(d), d.tx.merchantId]));
    for (const g of layout) for (const id of g.cases) expect(merchantOfCase.get(id), id).toBe(g.merchant);
    expect(layout.flatMap((g) => g.cases)).toHaveLength(reviews.length);
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-breach-grouped.png'), fullPage: true });

    // ---------------------------------------------------------------- one of the group's cases: its linked cases, one verdict
    // The case to open: one whose card or device also links a case at another merchant (the world's 10 cards shop
    // everywhere), so selecting "every open one at this merchant" has something to leave out.
    const linksElsewhere = (d: Decision) => others.filter((o) => Math.abs(o.tx.ts - d.tx.ts) <= DAY && (o.cardId === d.cardId || (d.tx.deviceId !== null && o.tx.deviceId === d.tx.deviceId))).length;
    const opened = [...group].sort((a, b) => linksElsewhere(b) - linksElsewhere(a) || a.txId.localeCompare(b.txId))[0]!;
    expect(linksElsewhere(opened), 'a case of the breach linked to another merchant\'s case').toBeGreaterThan(0);
    const first = caseOf(opened);
    await page.locator(`#queue tr[data-case="${first}"]`).click();
    await page.locator('#claim-status.mine').waitFor();
    await page.locator('#linked input.linked-pick').first().waitFor();
    const linked = await page.locator('#linked input.linked-pick').evaluateAll((els) => els.map((e) => ({ id: e.getAttribute('data-case') ?? '', via: e.getAttribute('data-via') ?? '' })));
    const viaMerchant = linked.filter((l) => l.via.split(' ').includes('merchant')).map((l) => l.id);
    expect(new Set([first, ...viaMerchant])).toEqual(groupIds);
    expect(linked.length - viaMerchant.length).toBe(linksElsewhere(opened));
    // The breach's cards link cases at other merchants too; the merchant's selection leaves them out.
    await page.check('#linked-merchant');
    const picked = await page.locator('#linked input.linked-pick:checked').evaluateAll((els) => els.map((e) => e.getAttribute('data-case') ?? ''));
    expect(new Set([first, ...picked])).toEqual(groupIds);
    await page.fill('#note', NOTE);
    await page.click('#bulk-fraud');
    await expect.poll(() => page.textContent('#bulk-result'), { timeout: 30_000 }).toContain(`${group.length} cases decided`);
    expect(await page.textContent('#bulk-result')).not.toContain('not decided');
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-breach-settled.png'), fullPage: true });

    // Every case of the group is closed by alice with the note; no other merchant's case was touched.
    for (const id of groupIds) expect(await queue.get(id), id).toMatchObject({ status: 'confirmed_fraud', closedBy: 'alice', note: NOTE });
    for (const d of others) expect((await queue.get(caseOf(d)))?.status, caseOf(d)).toBe('open');
    await page.click('#nav a[data-path="queue"]');
    await page.locator('tr.group-head').first().waitFor();
    expect(await page.locator(`tr.group-head[data-merchant="${breach.merchantId}"]`).count()).toBe(0);

    // ---------------------------------------------------------------- each case's label on the labels topic, each verdict audited
    const groupTxs = new Set(group.map((d) => d.txId));
    const analystLabels = (ms: KafkaMessage[]): Label[] => parse(LabelSchema, ms).filter((l) => l.source === 'analyst');
    const labels = analystLabels(await collect(kafka, config.topics.labels, (ms) => analystLabels(ms).length >= groupTxs.size, 60_000, 1_500));
    expect(labels.map((l) => l.txId).sort()).toEqual([...groupTxs].sort());
    for (const l of labels) expect(l, l.txId).toMatchObject({ isFraud: true, source: 'analyst', analyst: 'alice', note: NOTE, merchantId: breach.merchantId });
    const alice = (await apiLogin(ui!.url, 'alice', 'alice-password')).client as Client;
    for (const id of groupIds) {
      const { entries } = (await (await apiCall(ui!.url, alice, 'GET', `/api/audit?target=case:${encodeURIComponent(id)}`)).json()) as { entries: Array<{ action: string; who: string; after?: { bulk?: { cases: number; decided: number }; note?: string } }> };
      const verdicts = entries.filter((e) => e.action === 'case.confirm_fraud');
      expect(verdicts, id).toHaveLength(1);
      expect(verdicts[0], id).toMatchObject({ who: 'alice', after: { note: NOTE, bulk: { cases: group.length, decided: group.length } } });
    }
    // The case against the card's normal finds the card's earlier decisions in the search index by their transaction
    // time: the simulated stream's were decided weeks of simulated time after it, all within these few seconds.
    const { baseline } = (await (await apiCall(ui!.url, alice, 'GET', `/api/cases/${encodeURIComponent(first)}`)).json()) as { baseline: { usual: { decisions: number } } };
    const cardEarlier = [...byTx.values()].filter((d) => d.cardId === opened.cardId && d.tx.ts < opened.tx.ts && d.tx.ts >= opened.tx.ts - 30 * DAY);
    expect(cardEarlier.length).toBeGreaterThan(0);
    expect(baseline.usual.decisions).toBe(cardEarlier.length);
    // The note stayed text in the page.
    expect(browser.dialogs).toEqual([]);
  });
});
