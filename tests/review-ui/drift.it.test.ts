/**
 * The drift panel in a real browser (playwright-core + system chromium) against real Redis: live counts seeded
 * with recordDrift for the served version are shown as PSI values (text) and bars, with the bins of the most
 * shifted features; the API validates its query and needs a session.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';
import { DRIFT_REFERENCE_FILE, recordDrift } from '../../detectors/drift.ts';
import { buildDriftReference, DriftAccumulator, driftReport, type DriftRow } from '../../detectors/pure/drift.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { testConfig, testRedis } from '../helpers/services.ts';

const XSS = '<img src=x onerror=alert(1)>';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const NAMES = ['amount_log', 'merchant_risk', 'new_device', 'card_age_days', XSS];

let config: Config;
let ui: UiServer;
let redis: Redis;
let browser: ConsoleSession;
let page: Page;
let dialogs: string[] = [];
let cspViolations: string[] = [];
let modelDir: string;
let expected: DriftRow[];

/** Rows where amount_log and merchant_risk move when `shift`, the others keep their training distribution. */
function rows(n: number, seed: number, shift: boolean): { vectors: Float64Array[]; scores: Array<{ isolationForest: number; xgboost: number }> } {
  const r = mulberry32(seed);
  const vectors = Array.from({ length: n }, () =>
    Float64Array.of(3 + r() * 2 + (shift ? 0.8 : 0), shift && r() < 0.5 ? 0.9 : r() * 0.6, r() < 0.1 ? 1 : 0, r() * 300 + (shift ? 400 : 0), r()),
  );
  const scores = vectors.map(() => ({ isolationForest: 0.3 + r() * 0.3, xgboost: r() * 0.05 }));
  return { vectors, scores };
}

function writeVersion(name: string, withReference: boolean): void {
  mkdirSync(join(modelDir, name));
  writeFileSync(join(modelDir, name, 'model-card.json'), JSON.stringify({ version: name, kind: 'transactions', thresholds: COLD_START_THRESHOLDS }));
  if (!withReference) return;
  const train = rows(4_000, 1, false);
  const reference = buildDriftReference(NAMES, train.vectors, { isolationForest: train.scores.map((s) => s.isolationForest), xgboost: train.scores.map((s) => s.xgboost), slice: 'validation' });
  writeFileSync(join(modelDir, name, DRIFT_REFERENCE_FILE), JSON.stringify(reference));
}

beforeAll(async () => {
  await ensureUiBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  modelDir = mkdtempSync(join(tmpdir(), 'fraudstream-drift-ui-'));
  writeVersion('v20260401T000000000Z', true);
  writeVersion('v20260301T000000000Z', false);
  config = { ...(await testConfig('uidrift', { REVIEWER_SEED: 'alice:correct-horse' })), modelDir };
  redis = testRedis(config);

  // What detect would have recorded over two batches of live traffic with v20260401T000000000Z.
  const { readFile } = await import('node:fs/promises');
  const reference = JSON.parse(await readFile(join(modelDir, 'v20260401T000000000Z', DRIFT_REFERENCE_FILE), 'utf8')) as Parameters<typeof driftReport>[0];
  const acc = new DriftAccumulator(reference, NAMES);
  const live = rows(1_500, 2, true);
  acc.observe(live.vectors.slice(0, 700), live.scores.slice(0, 700));
  await recordDrift(redis, config.redis.keyPrefix, 'v20260401T000000000Z', acc.drain());
  acc.observe(live.vectors.slice(700), live.scores.slice(700));
  const second = acc.drain();
  await recordDrift(redis, config.redis.keyPrefix, 'v20260401T000000000Z', second);
  const all = new DriftAccumulator(reference, NAMES);
  all.observe(live.vectors, live.scores);
  expected = driftReport(reference, all.drain());

  const policyDefaults = () => defaultPolicy(COLD_START_THRESHOLDS, 'v20260401T000000000Z');
  ui = await startUiServer({ config, port: 0, simulator: null, policyDefaults, backfill: { decisions: 1, cases: 1, labels: 1 } });
  browser = await openConsole({ url: ui.url, viewport: { width: 1400, height: 1000 }, login: { user: 'alice', password: 'correct-horse' } });
  ({ page, dialogs, cspViolations } = browser);
});

afterAll(() => closeConsoleTest({ browser, ui, redis, config, modelDir }));

describe('drift panel', () => {
  it('shows PSI per feature and score as text for the served version, with live rows and thresholds', async () => {
    await page.click('#nav a[data-path="models"]');
    await expect.poll(() => page.textContent('#drift-summary')).toContain('v20260401T000000000Z (served by policy v1)');
    expect(await page.textContent('#drift-rows')).toBe('1500');
    const shown = await page.$$eval('#drift-chart .drift-row[data-name]', (els) =>
      els.map((e) => ({ name: e.getAttribute('data-name'), psi: e.querySelector('.drift-psi')?.textContent, status: e.querySelector('.drift-status')?.textContent })),
    );
    // Every entry, highest PSI first, each value as the server computed it from the Redis counts.
    expect(shown.map((s) => s.name)).toEqual(expected.map((r) => r.name));
    expect(shown.map((s) => s.psi)).toEqual(expected.map((r) => (r.psi as number).toFixed(3)));
    const byName = Object.fromEntries(shown.map((s) => [s.name, s]));
    expect(byName.amount_log?.status).toBe('shifted');
    expect(byName.merchant_risk?.status).toBe('shifted');
    expect(Number(byName.amount_log?.psi)).toBeGreaterThan(0.2);
    expect(Number(byName.new_device?.psi)).toBeLessThan(0.1);
    expect(byName.new_device?.status).toBe('');
    expect(byName.card_age_days?.status).toMatch(/shifted \(expected: grows with time/);
    // The summary counts drift without the feature expected to move.
    expect(await page.textContent('#drift-summary')).toMatch(/2 shifted \(PSI > 0\.2\), 0 moderate .*1 expected to move/);
    // Threshold marks on every bar.
    expect(await page.locator('#drift-chart .drift-row[data-name] .drift-mark').count()).toBe(expected.length * 2);
    // A name from the reference file is text, not markup.
    expect(byName[XSS]).toBeDefined();
    expect(await page.locator('img[src="x"]').count()).toBe(0);
  });

  it('shows training vs live bin shares for the most shifted features', async () => {
    const details = page.locator('#drift-details .drift-detail');
    expect(await details.evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual(['amount_log', 'merchant_risk'].sort((a, b) => expected.findIndex((r) => r.name === a) - expected.findIndex((r) => r.name === b)));
    const amount = expected.find((r) => r.name === 'amount_log')!;
    const cells = await page.$$eval('#drift-details .drift-detail[data-name="amount_log"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(cells).toHaveLength(amount.referenceShares.length);
    expect(cells.map((c) => c[1])).toEqual(amount.referenceShares.map((s) => `${(s * 100).toFixed(1)}%`));
    expect(cells.map((c) => c[3])).toEqual(amount.liveShares.map((s) => `${(s * 100).toFixed(1)}%`));
    await page.screenshot({ path: join(ARTIFACTS, 'review-ui-drift.png'), fullPage: true });
    expect(cspViolations).toEqual([]);
    expect(dialogs).toEqual([]);
  });

  it('follows a promotion: a version without a reference says so', async () => {
    await page.click('button.promote[data-version="v20260301T000000000Z"]');
    await expect.poll(() => page.textContent('#models-status')).toContain('Promoted v20260301T000000000Z');
    await expect.poll(() => page.textContent('#drift-summary')).toContain('v20260301T000000000Z (served by policy v2): v20260301T000000000Z has no drift reference');
    expect(await page.locator('#drift-chart').count()).toBe(0);
  });

  it('GET /api/drift: any version by name, 400 naming the field (also for a name that is not a version), 404 unknown, 401 without a session', async () => {
    const live = (await (await page.request.get(`${ui.url}/api/drift?version=v20260401T000000000Z`)).json()) as { served: boolean; liveRows: number; rows: DriftRow[] };
    expect(live.served).toBe(false);
    expect(live.liveRows).toBe(1_500);
    expect(live.rows.map((r) => r.psi)).toEqual(expected.map((r) => r.psi));
    const bad = await page.request.get(`${ui.url}/api/drift?version=${encodeURIComponent('../etc')}`);
    expect(bad.status()).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^version:/);
    // A folder that is not a version (no model card) is refused; a name MODEL_DIR does not hold is unknown.
    mkdirSync(join(modelDir, 'not-a-version'));
    expect((await page.request.get(`${ui.url}/api/drift?version=not-a-version`)).status()).toBe(400);
    expect((await page.request.get(`${ui.url}/api/drift?version=nope`)).status()).toBe(404);
    expect((await page.request.get(`${ui.url}/api/drift?version=v20991231T000000000Z`)).status()).toBe(404);
    const anon = await fetch(`${ui.url}/api/drift`);
    expect(anon.status).toBe(401);
  });
});
