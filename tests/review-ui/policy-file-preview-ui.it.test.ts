/**
 * The Policy page's preview on a labelled replay file, against the real console server (real Redis, Kafka for its
 * audit producer) and in a real browser: the files of PREVIEW_FILES_DIR are listed, a name from the browser only
 * ever selects one of them, and a proposal that blocks every fraud card catches exactly the file's fraud money.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { labelsPathFor } from '../../core/codec.ts';
import type { Label, Policy, Transaction } from '../../core/contracts.ts';
import { generateToFile } from '../../producers/generate.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import type { FilePreviewResult } from '../../review-ui/server/file-preview-source.ts';
import { amountText } from '../../review-ui/web/src/format.ts';
import { ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';

const HOSTILE = '<img src=x onerror=alert(1)> month.jsonl';

let tmp: string;
let filesDir: string;
let config: Config;
let redis: Redis;
let ui: UiServer;
let admin: Client;
let analyst: Client;
let txs: Transaction[];
let labels: Label[];
let fraudCards: string[];
let fraudMoney: number;
let currency: string;

const jsonl = async <T>(file: string): Promise<T[]> =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);

const policyInput = (p: Policy) => {
  const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = p;
  return input;
};

async function currentPolicy(): Promise<Policy> {
  return ((await (await apiCall(ui.url, admin, 'GET', '/api/policy')).json()) as { current: Policy }).current;
}

async function previewFile(file: string, policy: unknown, unlabelled?: 'legit' | 'unknown', c: Client = admin): Promise<Response> {
  return apiCall(ui.url, c, 'POST', '/api/policy/preview', { policy, source: { file, ...(unlabelled ? { unlabelled } : {}) } });
}

beforeAll(async () => {
  await ensureUiBuilt();
  tmp = await mkdtemp(path.join(tmpdir(), 'fraudstream-preview-files-'));
  filesDir = path.join(tmp, 'files');
  await mkdir(filesDir);
  const month = path.join(filesDir, 'month.jsonl');
  await generateToFile({ world: { seed: 33, events: 3_000, cards: 200, merchants: 60, fraudRate: 0.05, legitLabelShare: 0.3 }, out: month, format: 'jsonl', progress: false });
  txs = await jsonl<Transaction>(month);
  labels = await jsonl<Label>(labelsPathFor(month));
  const fraud = new Set(labels.filter((l) => l.isFraud).map((l) => l.txId));
  const fraudTxs = txs.filter((t) => fraud.has(t.txId));
  fraudCards = [...new Set(fraudTxs.map((t) => t.cardId))];
  fraudMoney = fraudTxs.reduce((s, t) => s + t.amountMinor, 0);
  const counts = new Map<string, number>();
  for (const t of txs) counts.set(t.currency, (counts.get(t.currency) ?? 0) + 1);
  currency = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];

  // The same month under a name a browser must show as text; a file twice the size (over the row cap); files
  // the listing leaves out: hidden, without labels, a labels file itself; and one outside the folder.
  await copyFile(month, path.join(filesDir, HOSTILE));
  await copyFile(labelsPathFor(month), labelsPathFor(path.join(filesDir, HOSTILE)));
  const text = await readFile(month, 'utf8');
  await writeFile(path.join(filesDir, 'big.jsonl'), text + text);
  await copyFile(labelsPathFor(month), labelsPathFor(path.join(filesDir, 'big.jsonl')));
  await copyFile(month, path.join(filesDir, '.hidden.jsonl'));
  await copyFile(labelsPathFor(month), labelsPathFor(path.join(filesDir, '.hidden.jsonl')));
  await copyFile(month, path.join(filesDir, 'orphan.jsonl'));
  await copyFile(month, path.join(tmp, 'x.jsonl'));
  await copyFile(labelsPathFor(month), labelsPathFor(path.join(tmp, 'x.jsonl')));

  config = await testConfig('uifilepreview', {
    REVIEWER_SEED: 'alice:correct-horse,ana@analyst:analyst-pass',
    MODEL_DIR: path.join(tmp, 'models'),
    PREVIEW_FILES_DIR: filesDir,
    PREVIEW_FILE_MAX_ROWS: String(txs.length + 10),
  });
  redis = testRedis(config);
  ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 1, cases: 1, labels: 1 } });
  admin = (await apiLogin(ui.url, 'alice', 'correct-horse')).client!;
  analyst = (await apiLogin(ui.url, 'ana', 'analyst-pass')).client!;
}, 120_000);

afterAll(async () => {
  await ui?.close();
  if (redis) {
    await dropTestKeys(redis, config);
    redis.disconnect();
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('preview files over HTTP', () => {
  it('lists the labelled *.jsonl files of PREVIEW_FILES_DIR with their rows, and only those', async () => {
    const res = await apiCall(ui.url, admin, 'GET', '/api/policy/preview-files');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { dir: string; maxRows: number; files: Array<{ name: string; rows: number; bytes: number; tooLarge: boolean }> };
    expect(body.dir).toBe(path.resolve(filesDir));
    expect(body.maxRows).toBe(txs.length + 10);
    expect(body.files.map((f) => f.name).sort()).toEqual([HOSTILE, 'big.jsonl', 'month.jsonl'].sort());
    const month = body.files.find((f) => f.name === 'month.jsonl')!;
    expect(month.rows).toBe(txs.length);
    expect(month.bytes).toBe((await readFile(path.join(filesDir, 'month.jsonl'))).length);
    expect(month.tooLarge).toBe(false);
    expect(body.files.find((f) => f.name === 'big.jsonl')).toMatchObject({ rows: 2 * txs.length, tooLarge: true });
  });

  it('previews a proposal that blocks every fraud card: exactly the file fraud money caught, none let through', async () => {
    const current = await currentPolicy();
    const proposal = policyInput({ ...current, lists: { ...current.lists, blockCards: fraudCards } });
    const res = await previewFile('month.jsonl', proposal);
    const r = (await res.json()) as FilePreviewResult;
    expect(res.status, JSON.stringify(r)).toBe(200);
    expect(fraudCards.length).toBeGreaterThan(5);
    expect(r.samples).toBe(txs.length);
    expect(r.money.proposed.fraudMoneyCaught).toBe(fraudMoney);
    expect(r.money.proposed.fraudMoneyMissed).toBe(0);
    expect(r.money.current.fraudMoneyMissed).toBeGreaterThan(0);
    // Unlabelled rows count as legitimate by default: every row carries a truth.
    expect(r.money.proposed.labelled).toBe(txs.length);
    expect(r.source).toMatchObject({ file: 'month.jsonl', rows: txs.length, labelled: new Set(labels.map((l) => l.txId)).size, modelVersion: null, unlabelled: 'legit', currency });
    expect(r.money.pFraudCalibrated).toBe(false);

    // Moving the proposal again reuses the scores; unlabelled rows as unknown leave only the labels as truth.
    const again = (await (await previewFile('month.jsonl', proposal, 'unknown')).json()) as FilePreviewResult;
    expect(again.source.cached).toBe(true);
    expect(again.money.proposed.labelled).toBe(r.source.labelled);
    expect(again.money.proposed.fraudMoneyCaught).toBe(fraudMoney);
  }, 60_000);

  it('refuses a name that is not a listed file with a 400 that says what to fix', async () => {
    const policy = policyInput(await currentPolicy());
    for (const [name, says] of [
      ['../x.jsonl', 'without a folder'],
      ['a/b.jsonl', 'without a folder'],
      ['..\\x.jsonl', 'without a folder'],
      ['.hidden.jsonl', 'hidden files'],
      ['month.labels.jsonl', 'transactions file'],
      ['nope.jsonl', 'no such file'],
      ['orphan.jsonl', 'no labels file beside it'],
    ] as const) {
      const res = await previewFile(name, policy);
      expect(res.status, name).toBe(400);
      expect(((await res.json()) as { error: string }).error, name).toContain(says);
    }
    const big = await previewFile('big.jsonl', policy);
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toContain('PREVIEW_FILE_MAX_ROWS');
    const bad = await apiCall(ui.url, admin, 'POST', '/api/policy/preview', { policy, source: { file: 'month.jsonl', unlabelled: 'maybe' } });
    expect(bad.status).toBe(400);
    const both = await apiCall(ui.url, admin, 'POST', '/api/policy/preview', { policy, samples: 10, source: { file: 'month.jsonl' } });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { error: string }).error).toContain('not both');
  });

  it('needs the CSRF token on the POST and the admin role on both endpoints', async () => {
    const policy = policyInput(await currentPolicy());
    const noCsrf = await apiCall(ui.url, admin, 'POST', '/api/policy/preview', { policy, source: { file: 'month.jsonl' } }, false);
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as { error: string }).error).toContain('CSRF');
    expect((await apiCall(ui.url, analyst, 'GET', '/api/policy/preview-files')).status).toBe(403);
    expect((await previewFile('month.jsonl', policy, undefined, analyst)).status).toBe(403);
    expect((await apiCall(ui.url, undefined, 'GET', '/api/policy/preview-files')).status).toBe(401);
  });
});

describe('preview files on the Policy page (browser)', () => {
  let browser: ConsoleSession | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('picks the file, shows its money figures, and its name as text', async () => {
    browser = await openConsole({ url: ui.url, login: { user: 'alice', password: 'correct-horse' } });
    const page = browser.page;
    await page.click('#nav a[data-path="policy"]');
    await page.locator('textarea[name="lists.blockCards"]').waitFor();
    await expect.poll(() => page.locator('#preview-source option').count()).toBe(4);
    const optionText = (await page.locator('#preview-source option').allTextContents()).join('\n');
    expect(optionText).toContain(HOSTILE);
    expect(await page.locator('#preview-source option[value="big.jsonl"]').isDisabled()).toBe(true);

    await page.selectOption('#preview-source', HOSTILE);
    expect(await page.isVisible('#preview-n')).toBe(false);
    await page.locator('textarea[name="lists.blockCards"]').fill(fraudCards.join('\n'));
    await page.click('#preview-btn');
    await expect.poll(() => page.textContent('#preview-file-info'), { timeout: 30_000 }).toContain(`${txs.length.toLocaleString('en-US')} transactions scored by no model (rules only)`);
    expect(await page.textContent('#preview-file-info strong')).toBe(HOSTILE);
    const caught = page.locator('.money-table tr', { hasText: 'fraud money caught' });
    expect(await caught.locator('td').nth(2).textContent()).toBe(amountText(fraudMoney, currency, 'en-US'));
    const missed = page.locator('.money-table tr', { hasText: 'fraud money let through' });
    expect(await missed.locator('td').nth(2).textContent()).toBe(amountText(0, currency, 'en-US'));
    expect(await page.locator('svg.money-curve polyline').count()).toBe(3);
    expect(await page.locator('#preview img, .preview-source img').count()).toBe(0);
    expect(browser.dialogs).toEqual([]);
    expect(browser.cspViolations).toEqual([]);
  }, 90_000);
});
