import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, UserInputError } from '../../../core/errors.ts';
import { rocAuc } from '../../../detectors/heavy/auc.ts';
import { benchHeavy } from '../../../bench/heavy.ts';
import { loadHeavy } from '../../../detectors/heavy/io.ts';
import { encode, trainHeavy, type HeavyModel, type TrainHeavyInput } from '../../../detectors/heavy/model.ts';
import { Normaliser } from '../../../detectors/heavy/normaliser.ts';
import { generateSynthetic, isLargeCurrent, synthFeatureNames, type SynthRow } from '../../../detectors/heavy/synthetic.ts';

const K = 8;
const NOISE = 2;
const names = synthFeatureNames(NOISE);
const gen = (n: number, seed: number) => generateSynthetic({ n, maxHistory: K + 2, noiseFeatures: NOISE, fraudRate: 0.1, seed });

function asInput(rows: SynthRow[]): Pick<TrainHeavyInput, 'sequences' | 'currents' | 'labels'> {
  return { sequences: rows.map((r) => r.history), currents: rows.map((r) => r.current), labels: rows.map((r) => r.label) };
}

/** AUC among large purchases only: there the current vector is, by construction, uninformative. */
async function largeSubsetAuc(model: HeavyModel, rows: SynthRow[]): Promise<number> {
  const big = rows.filter(isLargeCurrent);
  return rocAuc(await model.predict(big), big.map((r) => r.label));
}

let model: HeavyModel;
let test: SynthRow[];
const progress: number[] = [];

beforeAll(async () => {
  const train = gen(3000, 11);
  test = gen(1500, 13);
  model = await trainHeavy({
    ...asInput(train),
    featureNames: names,
    k: K,
    epochs: 6,
    batchSize: 128,
    validation: asInput(gen(600, 12)),
    onProgress: (epoch) => progress.push(epoch),
  });
}, 60_000);

afterAll(() => model?.dispose());

describe('heavy model', () => {
  it('learns a burst-then-large pattern that the current vector alone cannot show', async () => {
    expect(progress[0]).toBe(1);
    expect(model.meta.training.bestValAuc).toBeGreaterThan(0.85);
    expect(rocAuc(await model.predict(test), test.map((r) => r.label))).toBeGreaterThan(0.9);
    expect(await largeSubsetAuc(model, test)).toBeGreaterThan(0.85);
  });

  it('returns probabilities on the base rate despite the positive class weight', async () => {
    expect(model.meta.training).toMatchObject({ arch: 'steps', loss: 'weighted-bce' });
    expect(model.meta.training.positiveWeight).toBeGreaterThan(5);
    const p = await model.predict(test);
    const mean = p.reduce((a, b) => a + b, 0) / p.length;
    const rate = test.filter((r) => r.label === 1).length / test.length;
    // Uncorrected, a weight of ~9 would put the mean near 0.5.
    expect(mean).toBeGreaterThan(rate / 2);
    expect(mean).toBeLessThan(rate * 2);
  });

  it('a control model that sees no history stays near chance on the same rows', async () => {
    const train = gen(3000, 11).map((r) => ({ ...r, history: [] }));
    const control = await trainHeavy({ ...asInput(train), featureNames: names, k: K, epochs: 4, batchSize: 128 });
    try {
      const blind = test.map((r) => ({ ...r, history: [] }));
      expect(await largeSubsetAuc(control, blind)).toBeLessThan(0.7);
    } finally {
      control.dispose();
    }
  });

  it('trains with the other architecture and loss too', async () => {
    const m = await trainHeavy({ ...asInput(gen(2000, 21)), featureNames: names, k: K, epochs: 4, batchSize: 128, arch: 'gru', loss: 'focal' });
    try {
      expect(m.meta.training).toMatchObject({ arch: 'gru', loss: 'focal', gamma: 2 });
      expect(await largeSubsetAuc(m, test)).toBeGreaterThan(0.85);
    } finally {
      m.dispose();
    }
  });

  it('pads short histories on the left with a mask, and uses only the last k', () => {
    const norm = Normaliser.fit(gen(200, 5).map((r) => r.current), names);
    const d = names.length;
    const v = (x: number) => Float64Array.from({ length: d }, () => x);
    const { seq, cur } = encode([{ history: [v(1), v(2)], current: v(3) }], 4, norm);
    const step = d + 1;
    expect(seq.length).toBe(4 * step);
    expect(Array.from(seq.slice(0, 2 * step)).every((x) => x === 0)).toBe(true);
    expect(seq[2 * step + d]).toBe(1);
    expect(seq[3 * step + d]).toBe(1);
    const expectStep2 = new Float32Array(d);
    norm.writeInto(v(1), expectStep2, 0);
    expect(Array.from(seq.slice(2 * step, 2 * step + d))).toEqual(Array.from(expectStep2));
    expect(cur[d]).toBe(0.5);

    const long = encode([{ history: [v(9), v(9), v(1), v(2), v(3), v(4)], current: v(3) }], 4, norm);
    const last4 = encode([{ history: [v(1), v(2), v(3), v(4)], current: v(3) }], 4, norm);
    expect(Array.from(long.seq)).toEqual(Array.from(last4.seq));
  });

  it('scores short histories: a burst shorter than k still flags, an empty history works', async () => {
    const fraud = test.filter((r) => r.kind === 'fraud' && r.label === 1);
    const decoys = test.filter((r) => r.kind === 'large-after-normal');
    const shortFraud = fraud.map((r) => ({ history: r.history.slice(-3), current: r.current }));
    const shortDecoy = decoys.map((r) => ({ history: r.history.slice(-3), current: r.current }));
    const pf = await model.predict(shortFraud);
    const pd = await model.predict(shortDecoy);
    expect(rocAuc([...pf, ...pd], [...pf.map(() => 1), ...pd.map(() => 0)])).toBeGreaterThan(0.85);
    const [empty] = await model.predict([{ history: [], current: test[0]!.current }]);
    expect(empty).toBeGreaterThanOrEqual(0);
    expect(empty).toBeLessThanOrEqual(1);
  });

  it('scores a batch in the same order as one at a time', async () => {
    const items = test.slice(0, 20);
    const batched = await model.predict(items);
    const single: number[] = [];
    for (const it of items) single.push((await model.predict([it]))[0]!);
    batched.forEach((p, i) => expect(p).toBeCloseTo(single[i]!, 5));
    expect(await model.predict([])).toEqual([]);
  });

  it('leaks no tensors across predict calls, including failed ones', async () => {
    await model.predict(test.slice(0, 10));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await model.predict(test.slice(i * 50, i * 50 + 50));
    await expect(model.predict([{ history: [], current: new Float64Array(2) }])).rejects.toThrow(/item 0: current has 2 features; the heavy model expects 5/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('saves to plain files and loads back with identical predictions', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'heavy-'));
    try {
      await model.save(dir);
      expect((await readdir(dir)).sort()).toEqual(['model.json', 'normaliser.json', 'weights.bin']);
      const loaded = await loadHeavy(dir);
      try {
        expect(loaded.k).toBe(K);
        expect(loaded.featureNames).toEqual(names);
        expect(loaded.meta.training).toEqual(model.meta.training);
        const items = test.slice(0, 200);
        expect(await loaded.predict(items)).toEqual(await model.predict(items));
      } finally {
        loaded.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('explains a missing model folder', async () => {
    await expect(loadHeavy('/nonexistent/heavy')).rejects.toMatchObject({ code: ErrorCodes.MODEL_NOT_FOUND, message: expect.stringContaining('model.json') });
  });

  it('rejects bad training input with a message saying what to fix', async () => {
    const rows = gen(50, 3);
    const base = { ...asInput(rows), featureNames: names, k: K, epochs: 1 };
    await expect(trainHeavy({ ...base, labels: base.labels.map(() => 0) })).rejects.toThrow(/need both classes/);
    await expect(trainHeavy({ ...base, labels: base.labels.map((y, i) => (i === 7 ? 2 : y)) })).rejects.toThrow(/labels\[7\] is 2/);
    const badSeq = base.sequences.map((s, i) => (i === 4 ? [new Float64Array(3)] : s));
    await expect(trainHeavy({ ...base, sequences: badSeq })).rejects.toThrow(/sequences\[4\]\[0\] has 3 features; featureNames has 5/);
    await expect(trainHeavy({ ...base, k: 0 })).rejects.toThrow(UserInputError);
  });

  it('bench reports positive µs per transaction for both modes', async () => {
    const r = await benchHeavy(model, 64, { batchSize: 32 });
    expect(r).toMatchObject({ k: K, features: names.length, n: 64, batchSize: 32 });
    expect(r.oneAtATimeUsPerTx).toBeGreaterThan(0);
    expect(r.batchedUsPerTx).toBeGreaterThan(0);
  });
});
