/**
 * Explain against normal (issue 21 item 2) on real Redis, Kafka and Chromium: a month of one card's life goes
 * through the Redis feature store (labels arriving between the transactions), its decisions reach the decisions
 * topic while no console runs and the search indexer writes them; then the console explains the flagged case with
 * the same numbers the memory store gives, and the case page shows them, a hostile shop name as text.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import type { Case } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { MemoryFeatureStore } from '../../detectors/feature-store/memory.ts';
import { RedisFeatureStore } from '../../detectors/feature-store/redis.ts';
import { FEATURE_NAMES } from '../../detectors/pure/features.ts';
import { DEFAULT_FEATURE_SPEC } from '../../detectors/pure/feature-spec.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { baselineKeys, caseBaseline, type CaseBaseline } from '../../review-ui/server/pure/baseline.ts';
import { startSearchIndexer, type SearchIndexer } from '../../router/search-indexer.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { SearchIndex } from '../../state/search.ts';
import { baselineWorld } from '../helpers/baseline-world.ts';
import { arrivalBatches } from '../helpers/arrival.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { createKafka, testConfig, testRedis } from '../helpers/services.ts';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const PAYLOAD = '<img src=x onerror="window.__pwned=1">';
const DAY = 86_400_000;

let config: Config;
let redis: Redis;
let ui: UiServer | undefined;
let browser: ConsoleSession | undefined;
let indexer: SearchIndexer | undefined;
let producer: Producer | undefined;
const run = randomUUID().slice(0, 8);
// 27 days of the card, flagged two days ago: every decision is inside the index's 30 days, every chargeback has arrived.
const DAYS = 27;
// The world starts at a UTC midnight, so the flagged transaction is at 03:00 UTC two days ago whatever the time of day
// the test runs: from a start at "now - 29 days - 3 h", a run between about 11:20 and 15:00 UTC put the breached
// merchant's last purchase on the flagged day itself, outside "the whole days before", and counted 39 of its 40.
const world = baselineWorld({ run, shopName: PAYLOAD, days: DAYS, start: Math.floor((Date.now() - (DAYS + 2) * DAY) / DAY) * DAY });
const caseId = `case-${world.flagged.txId}`;
let flaggedCase: Case;

beforeAll(async () => {
  await ensureUiBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  config = await testConfig('baseline', { REVIEWER_SEED: 'alice@analyst:alice-password' });
  redis = testRedis(config);

  // detect's view: the world through the Redis store, labels applied as they arrive, in batches of 64
  const store = new RedisFeatureStore(redis, { keyPrefix: config.redis.keyPrefix });
  const at = world.txs.indexOf(world.flagged);
  let vector: Float64Array | undefined;
  for (const step of arrivalBatches(world.txs, world.labels, 64)) {
    if (step.kind === 'labels') await store.applyLabels(step.labels);
    else {
      const vs = await store.computeAndApply(step.txs);
      if (at >= step.first && at < step.first + step.txs.length) vector = vs[at - step.first];
    }
  }
  const features = Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, vector![i]!]));
  flaggedCase = {
    caseId,
    txId: world.flagged.txId,
    cardId: world.flagged.cardId,
    tx: world.flagged,
    features,
    scores: { isolationForest: 0.7, xgboost: 0.62, heavy: 0.55 },
    rulesFired: [],
    topFeatures: [
      { name: 'amount_zscore', value: features.amount_zscore!, contribution: 0.21 },
      { name: 'merchant_fraud_rate_30d_delayed', value: features.merchant_fraud_rate_30d_delayed!, contribution: 0.12 },
      { name: 'hour_of_day', value: 3, contribution: -0.02 },
    ],
    versions: { model: 'v-test', policy: 1 },
    risk: 0.55,
    status: 'open',
    createdAt: Date.now() - 60_000,
  };
  await new RedisReviewQueue(redis, config.redis.keyPrefix).enqueue(flaggedCase);

  // the card's decisions reach the topic while no console runs; the indexer (not a console) indexes them
  producer = createProducer(createKafka(config, '-baseline'));
  await producer.connect();
  await producer.send({ topic: config.topics.decisions, messages: world.cardDecisions.map((d) => ({ key: d.cardId, value: JSON.stringify(d) })) });
  indexer = await startSearchIndexer({ config, kafka: createKafka(config, '-indexer'), redis });
  const index = new SearchIndex(redis, config.redis.keyPrefix);
  for (let tries = 0; (await index.search({ card: world.flagged.cardId, limit: 100 })).rows.length < world.cardDecisions.length; tries++) {
    if (tries > 240) throw new Error(`the search indexer wrote ${JSON.stringify(indexer.progress())} in 60 s`);
    await new Promise((r) => setTimeout(r, 250));
  }

  // the console starts at the end of the topic (no backfill): whatever it finds was indexed without it
  ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 } });
}, 120_000);

afterAll(async () => {
  await indexer?.stop();
  await producer?.disconnect();
  await closeConsoleTest({ browser, ui, redis, config });
});

async function memoryBaseline(now: number): Promise<CaseBaseline> {
  const mem = new MemoryFeatureStore();
  const labelOf = new Map(world.labels.map((l) => [l.txId, l]));
  mem.replayEvents(world.txs.map((tx) => ({ tx, label: labelOf.get(tx.txId) ?? null })));
  // the replay leaves labels due after the last transaction on their way; the stage would have applied them by now
  await mem.applyLabels(world.labels);
  return caseBaseline({
    tx: world.flagged,
    features: flaggedCase.features,
    spec: DEFAULT_FEATURE_SPEC,
    card: await mem.peekCard(world.flagged.cardId),
    entities: await mem.peekEntities(baselineKeys(DEFAULT_FEATURE_SPEC, world.flagged)),
    decisions: world.cardDecisions,
    now,
  });
}

describe('a case explained against normal from the Redis feature store', () => {
  it('gives the numbers the memory store gives, and names the usual merchants from decisions no console saw', async () => {
    const alice = (await apiLogin(ui!.url, 'alice', 'alice-password')).client as Client;
    const res = await apiCall(ui!.url, alice, 'GET', `/api/cases/${caseId}`);
    expect(res.status).toBe(200);
    const { baseline } = (await res.json()) as { baseline: CaseBaseline };
    expect(baseline).toEqual(await memoryBaseline(baseline.asOf));
    const ids = Object.fromEntries(baseline.findings.map((f) => [f.id, f]));
    expect(ids['amount.typical']?.level).toBe('unusual');
    expect(ids['amount.typical']?.text).toMatch(new RegExp(`^Amount 300\\.00 EUR is 1[3-6]x the card's median amount \\(\\d+\\.\\d\\d EUR, the median of its ${DAYS} earlier transactions in the search index over the 30 days before\\); geometric mean \\d+\\.\\d\\d EUR over ${DAYS + 2} other transactions, 2 of them after this one`));
    expect(ids['merchant.fraud_rate']?.text).toMatch(/^Merchant's fraud rate over the 30 days before: 15\.0% \(6 fraud labels among 40 transactions, labels arrived by now\)/);
    expect(ids['merchant.first']?.text).toContain(`it usually buys at ${PAYLOAD} (9)`);
    expect(baseline.usual.decisions).toBe(DAYS);
    // the indexer's own progress: every decision written, nothing skipped
    expect(indexer!.progress()).toEqual({ indexed: world.cardDecisions.length, unreadable: 0, tooOld: 0 });
    // and the same decisions through the search API
    const found = (await (await apiCall(ui!.url, alice, 'GET', `/api/search?card=${encodeURIComponent(world.flagged.cardId)}&limit=100`)).json()) as { rows: unknown[] };
    expect(found.rows).toHaveLength(world.cardDecisions.length);
    // the export carries the same baseline
    const exported = (await (await apiCall(ui!.url, alice, 'GET', `/api/cases/${caseId}/export?format=json`)).json()) as { exportVersion: number; baseline: CaseBaseline };
    expect(exported.exportVersion).toBe(2);
    expect(exported.baseline.findings.map((f) => f.text)).toEqual(baseline.findings.map((f) => f.text));
  });

  it('shows the findings beside the model\'s contributions on the case page, transaction strings as text', async () => {
    browser = await openConsole({ url: ui!.url, login: { user: 'alice', password: 'alice-password', waitFor: '#conn.up' } });
    const { page } = browser;
    await page.goto(`${ui!.url}/#/case/${encodeURIComponent(caseId)}`);
    const findings = page.locator('#baseline-findings li');
    await findings.first().waitFor();
    const shown = await findings.evaluateAll((lis) => lis.map((li) => ({ id: li.getAttribute('data-id'), level: li.getAttribute('data-level'), text: li.querySelector('.finding-text')?.textContent })));
    expect(shown[0]).toMatchObject({ level: 'unusual' });
    const byId = Object.fromEntries(shown.map((f) => [f.id, f]));
    expect(byId['amount.typical']?.text).toMatch(/^Amount 300\.00 EUR is 1[3-6]x the card's median amount/);
    expect(byId['merchant.fraud_rate']?.text).toContain('15.0% (6 fraud labels among 40 transactions');
    expect(byId['card.country']?.text).toBe('First transaction in DE for this card (its recent countries: FR), outside its home country FR.');
    expect(byId['merchant.first']?.text).toContain(`it usually buys at ${PAYLOAD} (9)`);
    // the model's contributions sit beside it, in the same row of panels
    const explain = page.locator('#explain');
    expect(await explain.locator('section h2').allTextContents()).toEqual(['Why the model flagged it', 'Against normal']);
    expect(await explain.textContent()).toContain('merchant_fraud_rate_30d_delayed');
    expect(await page.locator('#baseline-usual .merchant').first().textContent()).toBe(PAYLOAD);
    expect(await page.locator('#baseline-entities tr').count()).toBe(4); // header, card, merchant, device
    // the payload stayed characters: no element was made of it and nothing ran
    expect(await explain.locator('img').count()).toBe(0);
    await page.waitForTimeout(200);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(browser.dialogs).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-case-baseline.png'), fullPage: true });
  });
});
