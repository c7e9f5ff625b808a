/**
 * A user's own stream, offline: a CSV in its own column names, mapped, trained with a date split and a label-delay
 * gap, then backtested with `score`. Also the guard against leaking and id columns in a numeric CSV.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { commands } from '../../detectors/commands.ts';
import { scoreCommand } from '../../router/score-command.ts';
import { writeTerminalWorld } from '../../producers/commands.ts';
import { readMappedCsv } from '../../detectors/user-data.ts';
import { MemoryFeatureStore } from '../../detectors/features.ts';
import { guardColumns } from '../../detectors/pure/column-guard.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'fraudstream-user-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const train = commands.find((c) => c.name === 'train')!;
const MAP = 'txId=TRANSACTION_ID,time=TX_DATETIME,cardId=CUSTOMER_ID,merchantId=TERMINAL_ID,amount=TX_AMOUNT,label=TX_FRAUD,scenario=TX_FRAUD_SCENARIO';

async function quiet<T>(f: () => Promise<T>): Promise<T> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    return await f();
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('train --data FILE.csv --map and score on a user\'s stream', () => {
  const csv = path.join(dir, 'terminals.csv');

  it('trains on dates with a gap, reports AP and daily card precision, and scores the file with the version', async () => {
    await writeTerminalWorld(csv, { customers: 300, terminals: 400, days: 60, seed: 3, start: Date.UTC(2025, 3, 1) });
    const json = path.join(dir, 'train.json');
    const out = path.join(dir, 'models');
    const code = await quiet(() =>
      train.run(['--data', csv, '--map', MAP, '--train-from', '2025-05-01', '--train-until', '2025-05-15', '--test-from', '2025-05-22', '--heavy', 'off', '--iterations', '30', '--trees', '20', '--out', out, '--json', json]),
    );
    expect(code).toBe(0);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    // rows before train-from and in the gap are not rows of any slice
    expect(r.split.train.from).toBeGreaterThanOrEqual(Date.UTC(2025, 4, 1));
    expect(r.split.validation.to).toBeLessThan(Date.UTC(2025, 4, 15));
    expect(r.split.test.from).toBeGreaterThanOrEqual(Date.UTC(2025, 4, 22));
    for (const m of ['xgboost', 'isolationForest', 'ensemble']) {
      expect(r.test[m].averagePrecision, m).toBeGreaterThan(0);
      expect(r.test[m].cardPrecisionAt100, m).toBeGreaterThanOrEqual(0);
      expect(r.test[m].cardPrecisionAt100, m).toBeLessThanOrEqual(r.test[m].cardPrecisionAt100Ceiling);
      expect(r.test[m].recallAt1PctFpr, m).toBeGreaterThanOrEqual(0);
    }
    // compromised terminals are caught through the label-risk features (scenario 2): well above chance
    expect(r.test.xgboost.perScenarioRecall['2']).toBeGreaterThan(0.3);
    expect(r.source).toMatchObject({ map: MAP, labelDelayDays: 7, labelFeatures: true });
    // the card says what each step adds: the band model alone, the escalated slice, the ensemble against its best member
    expect(r.steps.firstLine.model).toBe('xgboost');
    expect(r.steps.lines[1]).toMatch(/no heavy model: the escalate stage decides on xgboost's score/);
    expect(typeof r.steps.ensemble.belowBestMember).toBe('boolean');
    expect(r.source.fraudLabelsCounted).toBeGreaterThan(50);

    const scores = path.join(dir, 'scores.csv');
    const sjson = path.join(dir, 'score.json');
    const version = path.join(out, r.version);
    expect(await quiet(() => scoreCommand.run(['--model', version, '--data', csv, '--map', MAP, '--out', scores, '--json', sjson]))).toBe(0);
    const lines = readFileSync(scores, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('txId,isolationForest,xgboost,heavy,pFraud,action,reason');
    const read = await readMappedCsv(csv, { map: MAP, labelDelayMs: 7 * 86_400_000 });
    expect(lines.length - 1).toBe(read.txs.length);
    const s = JSON.parse(readFileSync(sjson, 'utf8'));
    expect(s.rows).toBe(read.txs.length);
    expect(s.rowsPerSec).toBeGreaterThan(0);
    expect(s.averagePrecision).toBeGreaterThan(0.2);
    // the score file's xgboost column is the version's score of the vector the memory store computes at that row
    const store = new MemoryFeatureStore();
    const vectors = store.replayEvents(read.txs.map((tx) => ({ tx, label: read.labels.get(tx.txId) ?? null })));
    const { loadModelVersion } = await import('../../detectors/model-version.ts');
    const model = await loadModelVersion(version);
    const i = read.txs.length - 5;
    const row = lines[1 + i].split(',');
    expect(row[0]).toBe(read.txs[i].txId);
    expect(Number(row[2])).toBeCloseTo(model.scoreFirstLine([vectors[i]])[0].xgboost, 5);
  }, 180_000);

  it('says what to fix for a bad date split or a missing label column', async () => {
    await expect(train.run(['--data', csv, '--map', MAP, '--train-until', '2025-05-15', '--test-from', '2025-05-10'])).rejects.toThrow(/test window must follow training/);
    await expect(train.run(['--data', csv, '--map', MAP, '--train-until', 'soon', '--test-from', '2025-05-20'])).rejects.toThrow(/--train-until "soon": expected a date/);
    await expect(train.run(['--data', csv, '--map', MAP, '--train-until', '2025-05-15'])).rejects.toThrow(/needs --train-until DATE and --test-from DATE/);
    await expect(quiet(() => train.run(['--data', csv, '--map', 'txId=TRANSACTION_ID,time=TX_DATETIME,cardId=CUSTOMER_ID,amount=TX_AMOUNT', '--heavy', 'off']))).rejects.toThrow(/add label=COLUMN to --map/);
    await expect(train.run(['--data', csv, '--map', MAP, '--label', 'TX_FRAUD'])).rejects.toThrow(/name the columns in the mapping/);
  });
});

describe('numeric CSV column guard', () => {
  it('refuses a column that alone separates the classes and an id read as a number, naming them', () => {
    const n = 400;
    const labels = Array.from({ length: n }, (_, i) => (i % 10 === 0 ? 1 : 0));
    const rows = labels.map((y, i) => [Math.sin(i) * 10, y * 3 + 0.5, i * 7 + 1000, (i % 37) + 0.25]);
    const val = Array.from({ length: 100 }, (_, i) => 240 + i);
    const problems = guardColumns(['amount', 'scenario_code', 'txn_number', 'hour'], rows, labels, val);
    expect(problems.map((p) => [p.name, p.kind])).toEqual([['scenario_code', 'leak'], ['txn_number', 'id']]);
    expect(guardColumns(['amount', 'scenario_code', 'txn_number', 'hour'], rows, labels, val, new Set(['scenario_code', 'txn_number']))).toEqual([]);
  });

  it('train --data refuses a leaking column with the flag to override', async () => {
    const file = path.join(dir, 'leak.csv');
    const lines = ['when,amount,chargeback_flag,is_fraud'];
    for (let i = 0; i < 600; i++) {
      const y = i % 12 === 0 ? 1 : 0;
      lines.push(`${1_700_000_000_000 + i * 60_000},${(10 + ((i * 37) % 90)).toFixed(2)},${y},${y}`);
    }
    writeFileSync(file, lines.join('\n') + '\n');
    const message = await train.run(['--data', file, '--label', 'is_fraud', '--time', 'when', '--out', path.join(dir, 'never')]).catch((e: Error) => e.message);
    expect(message).toMatch(/chargeback_flag: alone it separates fraud/);
    expect(message).toMatch(/--allow-column chargeback_flag/);
  });
});

describe('--extra: a user\'s other numeric columns as features', () => {
  it('trains with them (num_<name>), scores a file by the same columns, and refuses one that gives the answer away', async () => {
    const base = path.join(dir, 'extra-base.csv');
    await writeTerminalWorld(base, { customers: 150, terminals: 200, days: 40, seed: 6, start: Date.UTC(2025, 3, 1) });
    const [head, ...rows] = readFileSync(base, 'utf8').trim().split('\n');
    const cols = head.split(',');
    const at = (name: string) => cols.indexOf(name);
    const csv = path.join(dir, 'extra.csv');
    writeFileSync(
      csv,
      [`${head},Hour Of Day,LEAK`, ...rows.map((r) => {
        const c = r.split(',');
        return `${r},${new Date(c[at('TX_DATETIME')]).getUTCHours()},${c[at('TX_FRAUD')]}`;
      })].join('\n') + '\n',
    );
    const map = MAP.replace(',scenario=TX_FRAUD_SCENARIO', '');
    const out = path.join(dir, 'extra-models');
    const json = path.join(dir, 'extra.json');
    expect(await quiet(() => train.run(['--data', csv, '--map', map, '--extra', 'Hour Of Day', '--heavy', 'off', '--iterations', '10', '--trees', '10', '--out', out, '--json', json]))).toBe(0);
    const version = path.join(out, JSON.parse(readFileSync(json, 'utf8')).version);
    const names = JSON.parse(readFileSync(path.join(version, 'features.json'), 'utf8')).names as string[];
    expect(names[names.length - 1]).toBe('num_hour_of_day');
    // the vector reads the column as it is
    const read = await readMappedCsv(csv, { map, extra: 'Hour Of Day' });
    const store = new MemoryFeatureStore({ spec: JSON.parse(readFileSync(path.join(version, 'features.json'), 'utf8')).spec });
    const v = store.computeAndApplySync(read.txs.slice(0, 50));
    expect(v.map((x) => x[x.length - 1])).toEqual(read.txs.slice(0, 50).map((t) => new Date(t.ts).getUTCHours()));
    // score finds the same column by its name in the version's spec
    const scores = path.join(dir, 'extra-scores.csv');
    expect(await quiet(() => scoreCommand.run(['--model', version, '--data', csv, '--map', map, '--out', scores]))).toBe(0);
    expect(readFileSync(scores, 'utf8').trim().split('\n')).toHaveLength(read.txs.length + 1);
    // a copy of the label is refused by name, with the flag to keep it
    await expect(quiet(() => train.run(['--data', csv, '--map', map, '--extra', 'LEAK', '--heavy', 'off', '--iterations', '10', '--trees', '10', '--out', out]))).rejects.toThrow(
      /--extra: refusing a column:\n {2}num_leak: alone it separates fraud .*--allow-column num_leak/s,
    );
  }, 120_000);
});
