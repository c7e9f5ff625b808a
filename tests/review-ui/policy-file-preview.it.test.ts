import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { labelsPathFor } from '../../core/codec.ts';
import type { Label, Policy, Transaction } from '../../core/contracts.ts';
import { generateToFile } from '../../producers/generate.ts';

const run = promisify(execFile);

let dir: string;
let txPath: string;
let env: Record<string, string>;

/** The real CLI in a child process against the test Redis, with keys of its own. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...env };
  delete childEnv.VITEST;
  return run(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { env: childEnv, maxBuffer: 16 << 20 }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}

const jsonl = async <T>(file: string): Promise<T[]> =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fraudstream-policy-file-'));
  txPath = path.join(dir, 'month.jsonl');
  env = { REDIS_URL: inject('redisUrl'), REDIS_KEY_PREFIX: `it-pfp-${process.pid}-${Date.now()}:`, MODEL_DIR: path.join(dir, 'models') };
  await generateToFile({ world: { seed: 21, events: 3_000, cards: 200, merchants: 60, fraudRate: 0.05, legitLabelShare: 0.3 }, out: txPath, format: 'jsonl', progress: false });
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('policy preview on a labelled replay file (real CLI, real Redis)', () => {
  it('blocks the fraud cards of a month: all fraud money caught, none let through, current and delta in the JSON', async () => {
    const shown = await cli(['policy', 'show', '--out', path.join(dir, 'current.json')]);
    expect(shown.code, shown.err).toBe(0);
    const current = JSON.parse(await readFile(path.join(dir, 'current.json'), 'utf8')) as Policy;
    expect(current.version).toBe(1);

    const txs = await jsonl<Transaction>(txPath);
    const labels = await jsonl<Label>(labelsPathFor(txPath));
    const fraud = new Set(labels.filter((l) => l.isFraud).map((l) => l.txId));
    const fraudTxs = txs.filter((t) => fraud.has(t.txId));
    expect(fraudTxs.length).toBeGreaterThan(20);
    const fraudCards = [...new Set(fraudTxs.map((t) => t.cardId))];
    const proposal = { ...current, lists: { ...current.lists, blockCards: fraudCards } };
    await writeFile(path.join(dir, 'proposed.json'), JSON.stringify(proposal));

    const out = path.join(dir, 'preview.json');
    const r = await cli(['policy', 'preview', '--file', path.join(dir, 'proposed.json'), '--data', txPath, '--model', 'none', '--json', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`${txs.length} transactions scored by no model (rules only)`);
    const preview = JSON.parse(await readFile(out, 'utf8')) as { samples: number; current: Record<string, number>; proposed: Record<string, number>; delta: Record<string, number> };
    expect(preview.samples).toBe(txs.length);
    // Unlabelled rows count as legitimate by default: every row carries a truth.
    expect(preview.proposed.labelled).toBe(txs.length);
    const fraudMoney = fraudTxs.reduce((s, t) => s + t.amountMinor, 0);
    expect(preview.proposed.fraudMoneyCaught).toBe(fraudMoney);
    expect(preview.proposed.fraudMoneyMissed).toBe(0);
    const legitOnFraudCards = txs.filter((t) => !fraud.has(t.txId) && fraudCards.includes(t.cardId)).reduce((s, t) => s + t.amountMinor, 0);
    expect(preview.proposed.legitMoneyBlocked).toBeGreaterThanOrEqual(legitOnFraudCards);
    for (const k of Object.keys(preview.delta)) expect(preview.delta[k]).toBeCloseTo(preview.proposed[k]! - preview.current[k]!, 6);
    expect(preview.current.fraudMoneyMissed).toBeGreaterThan(0);
  }, 120_000);

  it('unlabelled rows as unknown: only the labels file counts as truth', async () => {
    const out = path.join(dir, 'preview-unknown.json');
    const r = await cli(['policy', 'preview', '--file', path.join(dir, 'current.json'), '--data', txPath, '--model', 'none', '--unlabelled', 'unknown', '--json', out]);
    expect(r.code, r.err).toBe(0);
    const labels = await jsonl<Label>(labelsPathFor(txPath));
    const preview = JSON.parse(await readFile(out, 'utf8')) as { current: Record<string, number> };
    expect(preview.current.labelled).toBe(new Set(labels.map((l) => l.txId)).size);
  }, 120_000);

  it('refuses flags that do not go together, saying what to fix', async () => {
    const stray = await cli(['policy', 'preview', '--file', path.join(dir, 'current.json'), '--labels', 'x.jsonl']);
    expect(stray.code).toBe(2);
    expect(stray.err).toMatch(/--labels only apply to a labelled file: add --data/);
    const both = await cli(['policy', 'preview', '--file', path.join(dir, 'current.json'), '--data', txPath, '--samples', '10']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/either --samples N .* or --data FILE/);
    const bad = await cli(['policy', 'preview', '--file', path.join(dir, 'current.json'), '--data', txPath, '--unlabelled', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--unlabelled must be legit or unknown/);
  }, 120_000);
});
