import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FEATURE_NAMES } from '../../detectors/features.ts';
import { latestModelVersion, listModelVersions, loadModelVersion } from '../../detectors/model-version.ts';
import { trapezoidArea } from '../../detectors/pure/curves.ts';
import { datasetFromEvents, trainModels, type Dataset, type HeavyTrainer, type TrainResult } from '../../detectors/trainer.ts';
import { renderModelCardMarkdown } from '../../detectors/model-card.ts';
import { commands } from '../../detectors/commands.ts';
import { csvToDataset } from '../../detectors/pure/csv.ts';
import { parseCsv } from '../../core/csv.ts';
import { rocAuc } from '../../detectors/pure/metrics.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { generateStream, SCENARIOS } from '../../producers/world/index.ts';
import { UserInputError } from '../../core/errors.ts';

const NOVEL = SCENARIOS.find((s) => s.novel)!.name;
let dir: string;
let ds: Dataset;
let result: TrainResult;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fraudstream-trainer-'));
  // Small but fraud-rich, with the novel scenario boosted so the test slice holds enough of it.
  const events = generateStream({ seed: 5, events: 30_000, cards: 2_000, merchants: 300, fraudRate: 0.03, rates: { [NOVEL]: 0.004 } });
  ds = datasetFromEvents(events, { novelScenarios: new Set([NOVEL]) });
  result = await trainModels(ds, { modelDir: path.join(dir, 'models'), heavy: { enabled: false }, xgboost: { iterations: 60 } });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('trainer on generated history', () => {
  it('splits by time and keeps novel fraud out of supervised training', () => {
    const { train, validation, test } = result.card.split;
    expect(train.to).toBeLessThanOrEqual(validation.from);
    expect(validation.to).toBeLessThanOrEqual(test.from);
    expect(train.rows + validation.rows + test.rows).toBe(30_000);
    expect(test.novelPositives).toBeGreaterThan(10);
    const novelInTrain = result.card.split.train.novelPositives;
    expect(result.card.models.xgboost.trainRows).toBeLessThanOrEqual(train.rows - novelInTrain);
  });

  it('XGBoost and the routed ensemble reach an AUPRC a broken model cannot', () => {
    const t = result.card.test;
    const fraudRate = t.xgboost.positives / t.xgboost.rows;
    const floor = Math.max(5 * fraudRate, 0.5);
    expect(t.xgboost.auprc).toBeGreaterThan(floor);
    expect(t.ensemble.auprc).toBeGreaterThan(floor);
    expect(t.xgboost.rocAuc).toBeGreaterThan(0.95);
    expect(t.ensemble.catchRate).toBeGreaterThan(0.6);
    expect(t.ensemble.escalateShare).toBeLessThanOrEqual(result.card.targets.maxEscalateShare * 1.5);
    for (const m of [t.isolationForest, t.xgboost, t.ensemble]) {
      expect(Object.keys(m.perScenarioRecall)).toContain(NOVEL);
      expect(m.recallAt1pctFpr).toBeGreaterThanOrEqual(0);
    }
  });

  it('chooses the ensemble blend on validation: the blended ranking is not below its best member there', () => {
    const b = result.card.ensembleBlend!;
    expect(b.member).toBe('xgboost');
    expect(b.validation.blendedAveragePrecision).toBeGreaterThanOrEqual(b.validation.memberAveragePrecision);
    expect(b.validation.blendedAveragePrecision).toBeGreaterThanOrEqual(b.validation.routedAveragePrecision);
    expect(result.card.steps?.ensemble.blend).toEqual({ member: b.member, weight: b.weight });
  });

  it('the model card carries every model\'s test-slice curves and where the chosen thresholds sit on them', async () => {
    const c = result.card;
    expect(Object.keys(c.curves ?? {})).toEqual(['isolationForest', 'xgboost', 'ensemble']);
    for (const name of ['isolationForest', 'xgboost', 'ensemble'] as const) {
      const { pr, roc } = c.curves![name];
      expect(roc[0]).toEqual([0, 0]);
      expect(roc.at(-1)).toEqual([1, 1]);
      expect(pr.at(-1)![0]).toBe(1);
      expect(pr.length).toBeLessThanOrEqual(100);
      expect(Math.abs(trapezoidArea(roc) - c.test[name].rocAuc)).toBeLessThan(0.01);
    }
    const xgbMarks = c.thresholdMarks!.xgboost;
    expect(xgbMarks.map((m) => m.name)).toEqual(['detect.blockAbove', 'detect.allowBelow', 'escalate.blockAbove', 'escalate.allowBelow']);
    // Blocking is stricter than escalating: fewer false positives, less recall.
    expect(xgbMarks[0].fpr).toBeLessThanOrEqual(xgbMarks[1].fpr);
    expect(xgbMarks[0].recall).toBeLessThanOrEqual(xgbMarks[1].recall);
    const caught = c.thresholdMarks!.ensemble[0];
    expect(caught.recall).toBeCloseTo(c.test.ensemble.catchRate, 4);
    // What was saved is what the trainer returned.
    const saved = JSON.parse(await readFile(path.join(result.dir, 'model-card.json'), 'utf8')) as typeof c;
    expect(saved.curves).toEqual(c.curves);
  });

  it('calibrates the XGBoost score on validation and reports its reliability on test, in the card', async () => {
    const cal = result.card.calibration;
    expect(cal?.fittedOn).toBe('validation slice');
    const { x, y } = cal!.calibrator;
    expect(x.length).toBe(y.length);
    for (let i = 1; i < y.length; i++) {
      expect(x[i]!).toBeGreaterThan(x[i - 1]!);
      expect(y[i]!).toBeGreaterThanOrEqual(y[i - 1]!);
    }
    // Isotonic fitting on the validation slice carries to the test slice: a small error in absolute terms (the raw
    // score may be well calibrated already when no down-sampling was chosen; then isotonic steps may cost a little).
    expect(cal!.reliability.calibrated.ece).toBeLessThan(Math.max(3 * cal!.reliability.raw.ece, 0.01));
    const rows = cal!.reliability.calibrated.bins.reduce((a, b) => a + b.count, 0);
    expect(rows).toBe(result.card.split.test.rows);
    const md = await readFile(path.join(result.dir, 'model-card.md'), 'utf8');
    expect(md).toMatch(/Calibration \(xgboost, isotonic, fitted on the validation slice; reliability on the test slice\): expected calibration error/);
  });

  it('the isolation forest catches the novel scenario far better than chance', () => {
    const novelRecall = result.card.test.isolationForest.perScenarioRecall[NOVEL];
    expect(novelRecall).toBeGreaterThan(0.2); // chance at a 1% false-positive rate is 1%
    const scores: number[] = [];
    const labels: number[] = [];
    result.test.indices.forEach((row, j) => {
      if (ds.labels[row] && ds.scenarios[row] !== NOVEL) return;
      scores.push(result.test.isolationForest[j]);
      labels.push(ds.labels[row]);
    });
    expect(rocAuc(scores, labels)).toBeGreaterThan(0.8);
  });

  it('saves a version folder that loads back to identical scores', async () => {
    const files = await readdir(result.dir);
    for (const f of ['features.json', 'thresholds.json', 'isolation-forest.json', 'xgboost.json', 'xgboost.bin', 'model-card.json', 'model-card.md']) {
      expect(files).toContain(f);
    }
    const model = await loadModelVersion(result.dir);
    try {
      expect(model.featureNames).toEqual(FEATURE_NAMES);
      expect(model.thresholds).toEqual(result.card.thresholds);
      expect(model.hasHeavy).toBe(false);
      const rows = result.test.indices.map((i) => ds.rows[i]);
      const scored = model.scoreFirstLine(rows);
      expect(scored.map((s) => s.isolationForest)).toEqual(Array.from(result.test.isolationForest));
      expect(scored.map((s) => s.xgboost)).toEqual(Array.from(result.test.xgboost));
      await expect(model.scoreHeavy([{ history: [], current: rows[0] }])).rejects.toThrow(/no heavy model/);
      const fraudRow = result.test.indices.findIndex((i) => ds.labels[i] === 1 && result.test.xgboost[result.test.indices.indexOf(i)] > 0.5);
      const top = model.explain(rows[fraudRow], 5);
      expect(top.length).toBeGreaterThan(0);
      expect(top.length).toBeLessThanOrEqual(5);
      expect(top.some((c) => c.contribution > 0)).toBe(true);
      expect(FEATURE_NAMES).toContain(top[0].name as (typeof FEATURE_NAMES)[number]);
      const md = await readFile(path.join(result.dir, 'model-card.md'), 'utf8');
      expect(md).toContain('routed ensemble');
      expect(md).toContain(NOVEL);
    } finally {
      model.dispose();
    }
  });

  it('trains the heavy model into the version folder and loads it back to identical scores', async () => {
    const withHeavy = await trainModels(ds, {
      modelDir: path.join(dir, 'heavy-models'),
      heavy: { enabled: true, epochs: 2, maxRows: 3_000, serve: 'always' },
      imbalance: 'sqrt-weight',
      xgboost: { iterations: 20 },
    });
    expect(withHeavy.card.escalateScoredBy).toBe('heavy');
    // Served regardless of how it compares on validation; the card still says how it compared.
    expect(withHeavy.card.heavyOnValidation?.routedAround).toBe(false);
    expect(Object.keys(withHeavy.card.curves ?? {})).toEqual(['isolationForest', 'xgboost', 'heavy', 'ensemble']);
    expect(withHeavy.card.thresholdMarks?.heavy?.map((m) => m.name)).toEqual(['escalate.blockAbove', 'escalate.allowBelow']);
    expect(withHeavy.card.test.heavy?.rocAuc).toBeGreaterThan(0.8);
    expect(withHeavy.test.heavy).toBeDefined();
    const model = await loadModelVersion(withHeavy.dir);
    try {
      expect(model.hasHeavy).toBe(true);
      const idx = withHeavy.test.indices.slice(0, 512);
      const items = idx.map((i) => ({ history: Array.from(ds.previous![i], (j) => (ds.historyRows ?? ds.rows)[j]), current: ds.rows[i] }));
      const scores = [...(await model.scoreHeavy(items.slice(0, 256))), ...(await model.scoreHeavy(items.slice(256)))];
      expect(scores).toEqual(Array.from(withHeavy.test.heavy!.subarray(0, 512)));
    } finally {
      model.dispose();
    }
  }, 60_000);

  it('by default a version routes around a heavy model that does not beat XGBoost on validation\'s escalated rows', async () => {
    // A heavy model that knows nothing: one score for every row ranks no better than chance.
    const clueless: HeavyTrainer = async () => ({
      predict: async (items) => items.map(() => 0.5),
      save: async (d) => {
        await mkdir(d, { recursive: true });
        await writeFile(path.join(d, 'clueless.json'), '{}');
      },
      dispose: () => {},
    });
    const r = await trainModels(ds, { modelDir: path.join(dir, 'route-around'), heavy: { enabled: true, trainer: clueless }, xgboost: { iterations: 20 } });
    const v = r.card.heavyOnValidation!;
    expect(v.rows).toBeGreaterThan(0);
    expect(v.heavyAveragePrecision).toBeLessThan(v.bandAveragePrecision);
    expect(v.routedAround).toBe(true);
    expect(r.card.escalateScoredBy).toBe('xgboost (heavy model not better on validation)');
    expect(renderModelCardMarkdown(r.card)).toMatch(/routes around the heavy model/);
    // The escalate thresholds were chosen on the band model's score: XGBoost's test scores route exactly as the card says.
    expect(r.card.test.ensemble.catchRate).toBeGreaterThan(0.6);
    const model = await loadModelVersion(r.dir, { heavyLoader: async () => { throw new Error('a routed-around heavy model must not be loaded'); } });
    try {
      expect(model.hasHeavy).toBe(false);
      expect(model.heavyMissing).toMatch(/routed around: on validation's \d+ escalated rows/);
    } finally {
      model.dispose();
    }
    // Served anyway when asked.
    const always = await trainModels(ds, { modelDir: path.join(dir, 'route-always'), heavy: { enabled: true, trainer: clueless, serve: 'always' }, xgboost: { iterations: 20 } });
    expect(always.card.escalateScoredBy).toBe('heavy');
    expect(always.card.heavyOnValidation?.routedAround).toBe(false);
  }, 60_000);

  it('latestModelVersion picks the newest complete version and ignores half-written ones', async () => {
    const models = path.join(dir, 'models');
    await mkdir(path.join(models, '.tmp-v20991231T000000000Z-1'), { recursive: true });
    await mkdir(path.join(models, 'v20991231T000000000Z'), { recursive: true }); // no model card: incomplete
    expect(await listModelVersions(models)).toEqual([path.basename(result.dir)]);
    const latest = await latestModelVersion(models);
    expect(latest.version).toBe(path.basename(result.dir));
    latest.dispose();
    await expect(latestModelVersion(path.join(dir, 'empty'))).rejects.toThrow(/no model version .* npm run train/);
  });
});

function labelledCsv(n: number, seed: number, extra: (i: number) => string = () => ''): string {
  const rand = mulberry32(seed);
  const lines = [`id,when,amount,velocity,hour,is_fraud${extra(-1)}`];
  const start = Date.UTC(2024, 0, 1);
  for (let i = 0; i < n; i++) {
    const fraud = rand() < 0.08;
    const amount = fraud ? 200 + rand() * 800 : 5 + rand() * 150;
    const velocity = fraud ? 3 + Math.floor(rand() * 6) : Math.floor(rand() * 3);
    const hour = Math.floor(rand() * 24);
    const when = new Date(start + i * 60_000).toISOString();
    lines.push(`"tx-${i}",${when},${amount.toFixed(2)},${velocity},${hour},${fraud ? 1 : 0}${extra(i)}`);
  }
  return lines.join('\n') + '\n';
}

const train = commands.find((c) => c.name === 'train')!;

describe('train --data (bring your own CSV)', () => {
  it('trains the isolation forest and XGBoost on a labelled CSV with the same split, card and JSON', async () => {
    const csv = path.join(dir, 'mine.csv');
    const json = path.join(dir, 'out', 'metrics.json');
    await writeFile(csv, labelledCsv(3_000, 21));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      // this toy's amount and velocity each separate fraud perfectly: the leak guard would refuse them without --allow-column
      const code = await train.run(['--data', csv, '--label', 'is_fraud', '--time', 'when', '--exclude', 'id', '--allow-column', 'amount,velocity', '--out', path.join(dir, 'csv-models'), '--json', json, '--iterations', '40']);
      expect(code).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const out = JSON.parse(await readFile(json, 'utf8'));
    for (const m of ['isolationForest', 'xgboost', 'heavy', 'ensemble']) {
      expect(out.test[m]).toHaveProperty('rocAuc');
      expect(out.test[m]).toHaveProperty('auprc');
      expect(out.test[m]).toHaveProperty('recallAt1pctFpr');
    }
    expect(out.test.heavy.rocAuc).toBeNull();
    expect(out.test.heavy.skipped).toMatch(/CSV|disabled/);
    expect(out.test.xgboost.auprc).toBeGreaterThan(0.9);
    expect(out.test.ensemble.auprc).toBeGreaterThan(0.5);
    expect(out.split.train.rows).toBe(1_800);
    const model = await latestModelVersion(path.join(dir, 'csv-models'));
    try {
      expect(model.featureNames).toEqual(['amount', 'velocity', 'hour']);
      expect(model.card.kind).toBe('csv');
      expect(model.scoreFirstLine([Float64Array.from([900, 7, 3])])[0].xgboost).toBeGreaterThan(0.5);
    } finally {
      model.dispose();
    }
  });

  it('names every bad column and what to do about it', async () => {
    const csv = path.join(dir, 'bad.csv');
    await writeFile(csv, labelledCsv(50, 3, (i) => (i < 0 ? ',city,score' : `,${i % 2 ? 'Paris' : 'Lyon'},${i === 7 ? 'n/a' : '1'}`)));
    const run = train.run(['--data', csv, '--label', 'is_fraud', '--time', 'when', '--out', path.join(dir, 'never')]);
    await expect(run).rejects.toBeInstanceOf(UserInputError);
    const message = await train.run(['--data', csv, '--label', 'is_fraud', '--time', 'when']).catch((e: Error) => e.message);
    expect(message).toMatch(/column id is not numeric/);
    expect(message).toMatch(/column city is not numeric: 50 bad value/);
    expect(message).toMatch(/column score is not numeric: 1 bad value\(s\), first on line 9: "n\/a"/);
    expect(message).toMatch(/--exclude id,city,score/);
    const missing = await train.run(['--data', csv, '--label', 'fraud', '--time', 'when']).catch((e: Error) => e.message);
    expect(missing).toMatch(/--label fraud: no such column/);
    await expect(readdir(path.join(dir, 'never'))).rejects.toThrow();
  });

  it('parses quoted fields and sorts rows by time', () => {
    expect(parseCsv('a,b\r\n"x, ""y""",2\n')).toEqual([['a', 'b'], ['x, "y"', '2']]);
    const d = csvToDataset('t,v,y\n3,30,1\n1,10,0\n2,20,true\n', { label: 'y', time: 't' });
    expect(Array.from(d.ts)).toEqual([1, 2, 3]);
    expect(d.rows.map((r) => r[0])).toEqual([10, 20, 30]);
    expect(Array.from(d.labels)).toEqual([0, 1, 1]);
  });
});
