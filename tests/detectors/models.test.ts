import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { flattenLibraryTrees, trainIsolationForest, type LibNode } from '../../detectors/isolation-forest.ts';
import { averagePathLength, FlatForest } from '../../detectors/pure/isolation-forest.ts';
import { averagePrecision, recallAtFpr, rocAuc, thresholdAtFpr } from '../../detectors/pure/metrics.ts';
import { columnMedians, occlusionExplain } from '../../detectors/pure/explain.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { XgbModel } from '../../detectors/xgboost.ts';

const require = createRequire(import.meta.url);
const { IsolationForest } = require('ml-isolation-forest') as {
  IsolationForest: new (o: { nEstimators: number }) => { train(r: number[][]): void; predict(r: number[][]): number[]; forest: LibNode[] };
};

function gaussianRows(n: number, d: number, seed: number): number[][] {
  const rand = mulberry32(seed);
  const g = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  return Array.from({ length: n }, () => Array.from({ length: d }, g));
}

describe('metrics', () => {
  it('ROC-AUC counts ties as half and needs both classes', () => {
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])).toBe(1);
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0])).toBe(0.5);
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    expect(rocAuc([0.3, 0.2], [0, 0])).toBeNaN();
  });

  it('average precision matches the textbook example', () => {
    // scikit-learn's documented example: 0.8333...
    expect(averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.8333333333, 9);
    expect(averagePrecision([0.9, 0.1], [1, 0])).toBe(1);
  });

  it('recall at a false-positive rate uses a threshold negatives rarely pass', () => {
    const neg = Array.from({ length: 200 }, (_, i) => i / 200);
    const scores = [...neg, 0.999, 0.5, 0.9975];
    const labels = [...neg.map(() => 0), 1, 1, 1];
    const t = thresholdAtFpr(scores, labels, 0.01);
    expect(neg.filter((s) => s > t).length).toBeLessThanOrEqual(2);
    expect(recallAtFpr(scores, labels, 0.01)).toBeCloseTo(2 / 3, 12);
  });
});

describe('isolation forest', () => {
  it('flattened library trees take the same paths as the library trees and score by the paper', () => {
    const rows = gaussianRows(256, 4, 1);
    const lib = new IsolationForest({ nEstimators: 5 });
    lib.train(rows);
    const flat = flattenLibraryTrees(lib.forest, 256, [0, 1, 2, 3]);
    const probe = [...gaussianRows(50, 4, 2), [6, 6, 6, 6], [-5, 0, 4, 0]];
    // the library's own leaf credit (it adds Euler's constant once, where the paper's c(n) adds it twice)
    const cLib = (n: number) => (n <= 1 ? 0 : n === 2 ? 1 : 2 * Math.log(n - 1) + 0.57721 - (2 * (n - 1)) / n);
    for (const x of probe) {
      let total = 0;
      flat.roots.forEach((root, t) => {
        let node = root;
        let depth = 0;
        while (flat.feature[node] >= 0) {
          node = x[flat.feature[node]] < flat.split[node] ? flat.left[node] : flat.right[node];
          depth++;
        }
        const libTree = lib.forest[t] as LibNode & { pathLengthFromRoot(x: number[], d: number): number };
        expect(depth + cLib(flat.size[node])).toBeCloseTo(libTree.pathLengthFromRoot(x, 0), 12);
        total += depth + averagePathLength(flat.size[node]);
      });
      expect(flat.score(x)).toBeCloseTo(Math.pow(2, -(total / flat.trees) / averagePathLength(256)), 12);
    }
    expect(averagePathLength(256)).toBeCloseTo(10.2448, 3); // c(256) from the paper's formula
    expect(JSON.stringify(flat.toJSON())).not.toContain('trainingSet');
  });

  it('trains each tree on its own subsample, isolates outliers, and survives a save/load round trip', () => {
    const rows = gaussianRows(5_000, 3, 3);
    const forest = trainIsolationForest(rows, { trees: 60, sampleSize: 256, seed: 9 });
    expect(forest.trees).toBe(60);
    expect(forest.sampleSize).toBe(256);
    // each tree sees at most 256 rows: leaf sizes of a tree sum to 256
    const leafTotal = (root: number): number => {
      let total = 0;
      const stack = [root];
      while (stack.length) {
        const n = stack.pop() as number;
        if (forest.feature[n] < 0) total += forest.size[n];
        else stack.push(forest.left[n], forest.right[n]);
      }
      return total;
    };
    expect([...forest.roots].map(leafTotal)).toEqual(Array(60).fill(256));
    const normal = forest.scoreMany(gaussianRows(200, 3, 4));
    const outliers = forest.scoreMany([[8, 8, 8], [-7, -7, 7], [6, -6, 6]]);
    const meanNormal = normal.reduce((a, b) => a + b, 0) / normal.length;
    expect(Math.min(...outliers)).toBeGreaterThan(meanNormal + 0.15);
    expect(Math.min(...outliers)).toBeGreaterThan(Math.max(...normal));

    const loaded = FlatForest.fromJSON(JSON.parse(JSON.stringify(forest.toJSON())));
    const probe = gaussianRows(100, 3, 5);
    expect(Array.from(loaded.scoreMany(probe))).toEqual(Array.from(forest.scoreMany(probe)));
    // the batch walk (tree by tree) gives exactly the one-row scores
    expect(Array.from(forest.scoreMany(probe))).toEqual(probe.map((r) => forest.score(r)));
    // the seed reproduces the forest
    const again = trainIsolationForest(rows, { trees: 60, sampleSize: 256, seed: 9 });
    expect(Array.from(again.scoreMany(probe))).toEqual(Array.from(forest.scoreMany(probe)));
  });
});

describe('xgboost', () => {
  it('learns a separable rule and saves/loads to identical scores', async () => {
    const rand = mulberry32(11);
    const n = 3_000;
    const d = 4;
    const X = new Float32Array(n * d);
    const y: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) X[i * d + j] = rand();
      y.push(X[i * d] + X[i * d + 1] > 1.4 ? 1 : 0);
    }
    const model = await XgbModel.train(X, y, d, { iterations: 30, maxDepth: 4 });
    const loaded = await XgbModel.load(model.save().file, model.save().bytes);
    try {
      const rows = Array.from({ length: 200 }, (_, i) => Array.from(X.subarray(i * d, i * d + d)));
      const a = model.predictMany(rows);
      const b = loaded.predictMany(rows);
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(rocAuc(a, y.slice(0, 200))).toBeGreaterThan(0.97);
      expect(model.predict([0.95, 0.95, 0.5, 0.5])).toBeGreaterThan(0.8);
      expect(model.predict([0.05, 0.05, 0.5, 0.5])).toBeLessThan(0.2);
    } finally {
      model.free();
      loaded.free();
    }
  });

  it('trains past the size where the library overflows its wasm stack', async () => {
    const n = 60_000;
    const d = 30;
    const rand = mulberry32(3);
    const X = new Float32Array(n * d).map(() => rand());
    const y = Array.from({ length: n }, (_, i) => (X[i * d] > 0.9 ? 1 : 0));
    const model = await XgbModel.train(X, y, d, { iterations: 5, maxDepth: 3 });
    try {
      expect(model.predict(Array.from({ length: d }, (_, j) => (j === 0 ? 0.99 : 0.5)))).toBeGreaterThan(0.5);
    } finally {
      model.free();
    }
  });
});

describe('occlusion explanations', () => {
  it('gives signed contributions against the legitimate median, largest first', () => {
    const names = ['a', 'b', 'c'];
    const baseline = columnMedians([[0, 0, 1], [0, 2, 1], [0, 1, 1]], 3);
    expect(Array.from(baseline)).toEqual([0, 1, 1]);
    const predict = (x: Float64Array) => 0.1 + 0.3 * x[0] - 0.05 * x[1] + 0.2 * x[2];
    const top = occlusionExplain([1, 3, 1], 2, names, baseline, predict);
    expect(top.map((t) => t.name)).toEqual(['a', 'b']);
    expect(top[0].contribution).toBeCloseTo(0.3, 12);
    expect(top[1].contribution).toBeCloseTo(-0.1, 12);
    expect(top[1].value).toBe(3);
    expect(occlusionExplain([0, 1, 1], 3, names, baseline, predict)).toEqual([]);
  });
});
