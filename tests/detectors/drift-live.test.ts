/**
 * The live stream the demo sends, offline: a version trained on a generated world (with a warm-up, as the demo
 * trains it), then the world continued with its card histories warm. Plain traffic must not look drifted; the
 * holiday switch must, on the features it changes; a cold start (new cards, empty state) must, everywhere.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { commands, liveWorldDrift, liveDriftTable, type LiveWorldDrift } from '../../detectors/commands.ts';
import { listModelVersions } from '../../detectors/model-version.ts';
import { driftCounts, PSI_THRESHOLDS, type DriftRow } from '../../detectors/pure/drift.ts';
import { UserInputError } from '../../core/errors.ts';

const cmd = (name: string) => commands.find((c) => c.name === name)!;
const dir = mkdtempSync(path.join(tmpdir(), 'fraudstream-drift-live-'));
let version = '';

beforeAll(async () => {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    const code = await cmd('train').run(
      ['--events', '15000', '--warmup', '9000', '--cards', '300', '--seed', '11', '--heavy', 'off', '--trees', '20', '--iterations', '20', '--out', dir],
    );
    expect(code).toBe(0);
  } finally {
    log.mockRestore();
  }
  version = path.join(dir, (await listModelVersions(dir)).at(-1)!);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const psiOf = (rows: readonly DriftRow[]) => Object.fromEntries(rows.map((r) => [r.name, r.psi ?? NaN]));
const last = (d: LiveWorldDrift) => d.checkpoints.at(-1)!.snapshot.rows;

describe('train --warmup records the world it generated', () => {
  it('the model card names the whole history (warm-up included) and trains on the rows after the warm-up only', async () => {
    const card = JSON.parse(await readFile(path.join(version, 'model-card.json'), 'utf8'));
    expect(card.source).toMatchObject({ generator: 'producers/world', seed: 11, events: 24_000, cards: 300, warmupEvents: 9_000 });
    expect(card.dataWindow.rows).toBe(15_000);
  });

  it('--warmup goes with generated history only', async () => {
    await expect(cmd('train').run(['--from-kafka', '--warmup', '10'])).rejects.toThrow(/--warmup goes with generated history/);
    await expect(cmd('train').run(['--warmup', 'x', '--out', dir])).rejects.toThrow(UserInputError);
  });
});

describe('the live stream continuing the training world', () => {
  it('plain traffic crosses no PSI threshold beyond the entries expected to move', async () => {
    const d = await liveWorldDrift(version, { minutes: [1, 2], rate: 50, holiday: false, fresh: false });
    expect(d.checkpoints.map((c) => c.events)).toEqual([3_000, 6_000]);
    const rows = last(d);
    const counted = rows.filter((r) => !r.note);
    const noted = rows.filter((r) => r.note).map((r) => r.name);
    // the three that move by construction, and windows longer than the short training world (it spans days, not months)
    expect(noted).toEqual(expect.arrayContaining(['card_age_days', 'card_tx_count_log', 'day_of_week']));
    for (const r of rows.filter((x) => x.note && !['card_age_days', 'card_tx_count_log', 'day_of_week'].includes(x.name))) expect(r.note, r.name).toMatch(/needs \d+ days of history and the reference had [\d.]+/);
    expect(counted.length).toBeGreaterThan(30);
    expect(driftCounts(rows)).toMatchObject({ shifted: 0, moderate: 0 });
    // Measured: the highest counted entry ~0.03 (card_mean_amount_log), against 0.2 for "shifted".
    for (const r of counted) expect(r.psi).toBeLessThan(PSI_THRESHOLDS.moderate);
    expect(liveDriftTable(d)).toMatch(/after 2 min \(6000 tx, [\d.]+ simulated h\): 0 shifted/);
  });

  it('the holiday switch shifts the features it changes, and only with it', async () => {
    const [plain, holiday] = await Promise.all([false, true].map((h) => liveWorldDrift(version, { minutes: [2], rate: 50, holiday: h, fresh: false })));
    const p = psiOf(last(plain!));
    const h = psiOf(last(holiday!));
    // More transactions per card, more online shopping (new devices), bigger baskets: measured 0.26-0.54 each.
    for (const f of ['tx_count_24h', 'amount_sum_24h_log', 'channel_ecommerce', 'distinct_devices_24h']) {
      expect(h[f], f).toBeGreaterThan(PSI_THRESHOLDS.shifted);
      expect(p[f], f).toBeLessThan(PSI_THRESHOLDS.moderate);
    }
    // Merchant mix and amounts move clearly too (measured ~0.15-0.19), well above their plain level.
    for (const f of ['merchant_risk', 'amount_log']) {
      expect(h[f], f).toBeGreaterThan(PSI_THRESHOLDS.moderate);
      expect(h[f]! / p[f]!, f).toBeGreaterThan(5);
    }
    expect(driftCounts(last(holiday!)).shifted).toBeGreaterThanOrEqual(4);
  });

  it('a cold start (a new world, empty card state) looks shifted almost everywhere: what the demo showed before', async () => {
    const d = await liveWorldDrift(version, { minutes: [1], rate: 50, holiday: false, fresh: true });
    expect(d.start).toMatch(/fresh world/);
    const p = psiOf(last(d));
    for (const f of ['secs_since_prev_log', 'tx_count_24h', 'amount_zscore', 'card_mean_amount_log']) expect(p[f], f).toBeGreaterThan(PSI_THRESHOLDS.shifted);
    expect(driftCounts(last(d)).shifted).toBeGreaterThanOrEqual(10);
  });
});
