/**
 * A first-line detector is one module (detectors/detector.ts): a toy detector defined here, given to the trainer
 * and the loader the way detectors/first-line.ts gives the registered ones, is trained, saved, loaded back, scored
 * by scoreFirstLine and accepted by the scores contract, with no other file edited. And a version folder in the
 * format written before detectors were modules (files written here by hand, by name) still loads to the same scores.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoresSchemaOf, ScoresSchema } from '../../core/contracts.ts';
import { FIRST_LINE_DETECTORS } from '../../detectors/first-line.ts';
import { trainIsolationForest } from '../../detectors/isolation-forest.ts';
import { loadModelVersion } from '../../detectors/model-version.ts';
import { FIRST_LINE_MODELS, MODEL_IDS } from '../../core/model-registry.ts';
import { trainModels, type Dataset, type TrainResult } from '../../detectors/trainer.ts';
import { dataset, TOY_FILE, velocityRule } from './toy-detector.ts';
import { XgbModel } from '../../detectors/xgboost.ts';

let dir: string;
let ds: Dataset;
let result: TrainResult;
const withToy = [...FIRST_LINE_DETECTORS, velocityRule];
const toyScores = (r: TrainResult) => (r.test as unknown as Record<string, Float64Array>).velocityRule;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fraudstream-detector-'));
  ds = dataset();
  result = await trainModels(ds, { modelDir: path.join(dir, 'models'), heavy: { enabled: false }, xgboost: { iterations: 20 }, detectors: withToy });
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a detector is one module', () => {
  it('training writes it: its file, its card entry and line, its test metrics and curve', async () => {
    expect(await readdir(result.dir)).toContain(TOY_FILE);
    const entry = (result.card.models as unknown as Record<string, { cut: number; trainRows: number }>).velocityRule;
    expect(entry.trainRows).toBeGreaterThan(1_000);
    expect(entry.cut).toBeGreaterThanOrEqual(1);
    const saved = JSON.parse(await readFile(path.join(result.dir, 'model-card.json'), 'utf8')) as { models: Record<string, unknown>; test: Record<string, { rocAuc: number }>; curves: Record<string, unknown> };
    expect(Object.keys(saved.models)).toEqual([...FIRST_LINE_MODELS.map((m) => m.id), 'velocityRule', 'heavy']);
    // The rule separates this data well above chance, and the card measured it like any model.
    expect(saved.test.velocityRule.rocAuc).toBeGreaterThan(0.8);
    expect(Object.keys(saved.curves)).toContain('velocityRule');
    const md = await readFile(path.join(result.dir, 'model-card.md'), 'utf8');
    expect(md).toContain(`- Velocity rule: velocity above ${entry.cut} (95th percentile of ${entry.trainRows} legitimate rows).`);
    expect(md).toMatch(/\| velocity rule \| \d\.\d{4} \|/);
    // The registered models are still trained and described as before.
    expect(md).toMatch(/- Isolation forest: 100 trees, 256 rows each/);
    expect(md).toMatch(/- XGBoost: \{.*\} on \d+ rows; imbalance handled by /);
  });

  it('loading reads it back and scoreFirstLine returns its score, which the scores contract accepts once its id is registered', async () => {
    const model = await loadModelVersion(result.dir, { detectors: withToy });
    try {
      const rows = result.test.indices.map((i) => ds.rows[i]);
      const scored = model.scoreFirstLine(rows);
      expect(Object.keys(scored[0])).toEqual([...FIRST_LINE_MODELS.map((m) => m.id), 'velocityRule']);
      const toy = scored.map((s) => (s as unknown as Record<string, number>).velocityRule);
      expect(toy).toEqual(Array.from(toyScores(result)));
      expect(new Set(toy)).toEqual(new Set([0, 1]));
      expect(scored.map((s) => s.xgboost)).toEqual(Array.from(result.test.xgboost));
      expect(model.fitted<number>('velocityRule').model).toBe((result.card.models as unknown as Record<string, { cut: number }>).velocityRule.cut);
      // Explanations still perturb XGBoost (the detector that says it explains), not the toy.
      expect(model.explain(rows[toy.indexOf(1)], 3).length).toBeGreaterThan(0);
      expect(scoresSchemaOf([...MODEL_IDS, 'velocityRule']).parse(scored[0])).toEqual(scored[0]);
      expect(ScoresSchema.safeParse(scored[0]).success).toBe(false);
    } finally {
      model.dispose();
    }
    // A loader that does not know the toy loads the registered detectors and leaves its file alone.
    const plain = await loadModelVersion(result.dir);
    try {
      expect(Object.keys(plain.scoreFirstLine([ds.rows[0]])[0])).toEqual(FIRST_LINE_MODELS.map((m) => m.id));
    } finally {
      plain.dispose();
    }
  });

  it('refuses a detector list without a registered model, with an id twice, or with two explainers', async () => {
    const [forest] = FIRST_LINE_DETECTORS.filter((d) => !d.explains);
    await expect(loadModelVersion(result.dir, { detectors: [velocityRule, ...FIRST_LINE_DETECTORS.filter((d) => d !== forest)] })).rejects.toThrow(/missing registered isolationForest/);
    await expect(trainModels(ds, { modelDir: path.join(dir, 'never'), heavy: { enabled: false }, detectors: [...withToy, velocityRule] })).rejects.toThrow(/listed twice: velocityRule/);
    await expect(loadModelVersion(result.dir, { detectors: [...withToy.filter((d) => d.id !== 'velocityRule'), { ...velocityRule, explains: true }] })).rejects.toThrow(/2 explain/);
  });

  it('a detector whose file is missing stops the load with MODEL_NOT_FOUND naming the file', async () => {
    const copy = path.join(dir, 'no-forest');
    await mkdir(copy);
    for (const f of await readdir(result.dir)) if (f !== 'isolation-forest.json') await writeFile(path.join(copy, f), await readFile(path.join(result.dir, f)));
    await expect(loadModelVersion(copy)).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringContaining('isolation-forest.json') });
  });
});

describe('version folders written before detectors were modules', () => {
  it('load by their file names to the scores of the models that wrote them', async () => {
    const legit = ds.rows.filter((_, i) => !ds.labels[i]);
    const forest = trainIsolationForest(legit, { trees: 20, seed: 3 });
    const d = ds.featureNames.length;
    const X = new Float32Array(ds.rows.length * d);
    ds.rows.forEach((r, i) => X.set(r, i * d));
    const xgb = await XgbModel.train(X, ds.labels, d, { iterations: 10 });
    const old = path.join(dir, 'v20240101T000000000Z');
    await mkdir(old);
    const { file, bytes } = xgb.save();
    // Exactly the files and formats model-version.ts wrote itself before (commit 6d0d250).
    await writeFile(path.join(old, 'features.json'), JSON.stringify({ names: ds.featureNames, definition: 'csv columns' }));
    await writeFile(path.join(old, 'thresholds.json'), JSON.stringify({ detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } }));
    await writeFile(path.join(old, 'isolation-forest.json'), JSON.stringify(forest.toJSON()));
    await writeFile(path.join(old, 'xgboost.json'), JSON.stringify(file, null, 2) + '\n');
    await writeFile(path.join(old, 'xgboost.bin'), bytes);
    await writeFile(path.join(old, 'explain.json'), JSON.stringify({ method: 'occlusion-with-legit-median', baseline: [50, 1, 12] }));
    await writeFile(path.join(old, 'model-card.json'), JSON.stringify({ version: 'v20240101T000000000Z', models: { heavy: { skipped: 'disabled (--heavy off)' } } }));
    const model = await loadModelVersion(old);
    try {
      const scored = model.scoreFirstLine(ds.rows.slice(0, 500));
      expect(scored.map((s) => s.isolationForest)).toEqual(Array.from(forest.scoreMany(ds.rows.slice(0, 500))));
      expect(scored.map((s) => s.xgboost)).toEqual(Array.from(xgb.predictMany(ds.rows.slice(0, 500))));
      expect(model.scoreFirstLine([ds.rows[7]])[0].isolationForest).toBe(forest.score(ds.rows[7]));
      expect(model.heavyMissing).toBe('disabled (--heavy off)');
    } finally {
      model.dispose();
      xgb.free();
    }
  });
});
