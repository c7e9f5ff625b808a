/**
 * Issue 13 part 1 on the Models page in a real browser against real Redis: an admin starts and stops a shadow
 * challenger (audited, admin-only, CSRF-protected), reads its report, and promoting a version whose shadow report is
 * immature is refused until confirmed a second time.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { ShadowStore, type ShadowAction } from '../../state/shadow.ts';
import { toPair } from '../../router/pure/shadow.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { apiCall, apiLogin } from '../helpers/http.ts';
import { testConfig, testRedis } from '../helpers/services.ts';

const CHAMPION = 'v20260101T000000000Z';
const CHALLENGER = 'v20260201T000000000Z';

let config: Config;
let ui: UiServer;
let redis: Redis;
let browser: ConsoleSession;
let page: Page;
let modelDir: string;
const confirms: string[] = [];

function writeVersion(name: string): void {
  mkdirSync(join(modelDir, name));
  const thresholds = { detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } };
  writeFileSync(join(modelDir, name, 'model-card.json'), JSON.stringify({ version: name, kind: 'transactions', thresholds }));
  writeFileSync(join(modelDir, name, 'thresholds.json'), JSON.stringify(thresholds));
}

type AuditRow = { action: string; who: string; after?: Record<string, unknown> };
const audit = async (): Promise<AuditRow[]> => ((await (await page.request.get(`${ui.url}/api/audit?limit=50`)).json()) as { entries: AuditRow[] }).entries;

beforeAll(async () => {
  await ensureUiBuilt();
  modelDir = mkdtempSync(join(tmpdir(), 'fraudstream-shadow-ui-'));
  writeVersion(CHAMPION);
  writeVersion(CHALLENGER);
  config = { ...(await testConfig('uishadow', { REVIEWER_SEED: 'alice:correct-horse,ana@analyst:analyst-pass' })), modelDir };
  redis = testRedis(config);
  const policyDefaults = () => defaultPolicy(COLD_START_THRESHOLDS, CHAMPION);
  await new RedisPolicyStore(redis, config.redis.keyPrefix, policyDefaults).current();
  ui = await startUiServer({ config, port: 0, simulator: null, policyDefaults, backfill: { decisions: 1, cases: 1, labels: 1 } });
  browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'correct-horse' } });
  page = browser.page;
  page.on('dialog', (d) => void confirms.push(d.message()));
});

afterAll(() => closeConsoleTest({ browser, ui, redis, config, modelDir }));

describe('shadow challenger on the Models page (browser)', () => {
  it('is an admin action with a CSRF token', async () => {
    const analyst = (await apiLogin(ui.url, 'ana', 'analyst-pass')).client!;
    expect((await apiCall(ui.url, analyst, 'POST', '/api/models/shadow/start', { version: CHALLENGER })).status).toBe(403);
    expect((await apiCall(ui.url, analyst, 'GET', '/api/models/shadow')).status).toBe(403);
    const admin = (await apiLogin(ui.url, 'alice', 'correct-horse')).client!;
    expect((await apiCall(ui.url, admin, 'POST', '/api/models/shadow/start', { version: CHALLENGER }, false)).status).toBe(403);
    const unknown = await apiCall(ui.url, admin, 'POST', '/api/models/shadow/start', { version: 'v-nope' });
    expect(unknown.status).toBe(400);
    expect(await new ShadowStore(redis, config.redis.keyPrefix).active()).toBeUndefined();
  });

  it('starts a challenger from the page, shows its report, and stops it', async () => {
    await page.click('#nav a[data-path="models"]');
    await page.locator(`#shadow-version option[value="${CHALLENGER}"]`).waitFor({ state: 'attached' });
    await expect.poll(() => page.textContent('#shadow-body')).toContain('No shadow challenger yet');
    await page.selectOption('#shadow-version', CHALLENGER);
    await page.click('#shadow-start');
    await expect.poll(() => page.textContent('#shadow-status')).toContain(`Shadowing ${CHALLENGER}`);
    const store = new ShadowStore(redis, config.redis.keyPrefix);
    expect((await store.active())?.model).toBe(CHALLENGER);
    expect((await store.active())?.by).toBe('alice');

    // What the detect stages would have stored: 3 agreed allows, 2 the challenger would block, 1 it would allow.
    const rows: Array<[ShadowAction, ShadowAction]> = [['ALLOW', 'ALLOW'], ['ALLOW', 'ALLOW'], ['ALLOW', 'ALLOW'], ['ALLOW', 'BLOCK'], ['ALLOW', 'BLOCK'], ['BLOCK', 'ALLOW']];
    const ts = Date.now() - 3_600_000;
    await store.append(CHALLENGER, rows.map(([a, b], i) => toPair({ txId: `tx-${i}`, ts, amountMinor: 1_000 * (i + 1) }, { first: a, final: a }, { first: b, final: b })));
    await page.click('#nav a[data-path="live"]');
    await page.click('#nav a[data-path="models"]');
    await expect.poll(() => page.getAttribute('#shadow-report', 'data-transactions')).toBe('6');
    const cell = (row: number, col: number) => page.textContent(`.shadow-agreement tbody tr:nth-child(${row}) td:nth-child(${col})`);
    expect(await cell(1, 2)).toBe('3'); // ALLOW / ALLOW
    expect(await cell(1, 3)).toBe('2'); // ALLOW / BLOCK
    expect(await cell(2, 2)).toBe('1'); // BLOCK / ALLOW
    expect(await page.textContent('#shadow-maturity')).toContain('immature');
    expect(await page.textContent('#shadow-transactions')).toContain('agreement 50.0%');

    await page.click('#shadow-stop');
    await expect.poll(() => page.textContent('#shadow-status')).toContain(`Stopped shadowing ${CHALLENGER}`);
    expect(await store.active()).toBeUndefined();
    // The stopped run's report stays on the page.
    await expect.poll(() => page.textContent('#shadow-model')).toContain('stopped');
    expect(await page.getAttribute('#shadow-report', 'data-transactions')).toBe('6');
    const entries = await audit();
    expect(entries.filter((e) => e.action === 'shadow.start' && e.who === 'alice')).toHaveLength(1);
    expect(entries.filter((e) => e.action === 'shadow.stop' && e.who === 'alice')).toHaveLength(1);
  });

  it('refuses to promote on an immature shadow report until the admin confirms it', async () => {
    const admin = (await apiLogin(ui.url, 'alice', 'correct-horse')).client!;
    const refused = await apiCall(ui.url, admin, 'POST', '/api/models/promote', { version: CHALLENGER });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ immature: true, maturity: 0, transactions: 6 });
    const policies = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS, CHAMPION));
    expect((await policies.current()).modelVersion).toBe(CHAMPION);

    confirms.length = 0;
    await page.click(`button.promote[data-version="${CHALLENGER}"]`);
    await expect.poll(() => page.textContent('#models-status')).toContain('on an immature shadow report, confirmed');
    // Two confirm steps: the promotion itself, then the immature report.
    expect(confirms).toHaveLength(2);
    expect(confirms[1]).toContain(`the shadow report for ${CHALLENGER} is immature`);
    expect((await policies.current()).modelVersion).toBe(CHALLENGER);
    const promoted = (await audit()).find((e) => e.action === 'model.promote');
    expect(promoted?.after).toMatchObject({ modelVersion: CHALLENGER, shadow: { immature: true, confirmedImmature: true } });
    expect(browser.dialogs).toEqual([]);
  });
});
