import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FirstLineDetector, FittedDetector } from './detector.ts';
import { FlatForest, FlatForestBuilder, type FlatForestJson } from './pure/isolation-forest.ts';
import { mulberry32, sampleIndices } from './pure/rng.ts';
import { readVersionJson } from './version-names.ts';
import { BASE_FEATURE_NAMES } from './pure/features.ts';

/** ml-isolation-forest's tree node as it leaves training (only what the conversion reads). */
export interface LibNode {
  left?: LibNode;
  right?: LibNode;
  splitColumn?: number;
  splitValue?: number;
  trainingSet?: unknown[];
}

interface LibForest {
  train(rows: number[][]): void;
  forest: LibNode[];
}

const require = createRequire(import.meta.url);
const { IsolationForest } = require('ml-isolation-forest') as { IsolationForest: new (o: { nEstimators: number }) => LibForest };

export interface TrainForestOptions {
  trees?: number;
  /** Rows per tree (psi in the paper). */
  sampleSize?: number;
  /** Columns of each row the forest may split on (default: all). */
  columns?: number[];
  seed?: number;
}

/**
 * Trains with ml-isolation-forest, one single-tree forest per subsample of `sampleSize` rows (the library alone
 * would grow every tree on the full set and keep it), then flattens every tree into typed arrays.
 */
export function trainIsolationForest(rows: readonly ArrayLike<number>[], opts: TrainForestOptions = {}): FlatForest {
  if (rows.length < 2) throw new Error(`isolation forest needs at least 2 training rows, got ${rows.length}`);
  const trees = opts.trees ?? 100;
  const sampleSize = Math.min(opts.sampleSize ?? 256, rows.length);
  const columns = opts.columns ?? Array.from({ length: rows[0].length }, (_, i) => i);
  const rand = mulberry32(opts.seed ?? 1);
  const builder = new FlatForestBuilder();

  // The library draws split columns and values from Math.random; a seeded stand-in makes training reproducible.
  const original = Math.random;
  Math.random = rand;
  try {
    for (let t = 0; t < trees; t++) {
      const sample = Array.from(sampleIndices(rows.length, sampleSize, rand), (i) => columns.map((c) => rows[i][c]));
      const lib = new IsolationForest({ nEstimators: 1 });
      lib.train(sample);
      builder.addRoot(flatten(lib.forest[0], builder, columns));
    }
  } finally {
    Math.random = original;
  }
  return builder.build(sampleSize, columns);
}

/** Flattens trees grown by ml-isolation-forest (exported so a test can compare against the library's own scores). */
export function flattenLibraryTrees(trees: readonly LibNode[], sampleSize: number, columns: number[]): FlatForest {
  const builder = new FlatForestBuilder();
  for (const t of trees) builder.addRoot(flatten(t, builder, columns));
  return builder.build(sampleSize, columns);
}

function flatten(root: LibNode, b: FlatForestBuilder, columns: number[]): number {
  const top = b.addNode();
  const stack: Array<[LibNode, number]> = [[root, top]];
  while (stack.length) {
    const [node, id] = stack.pop() as [LibNode, number];
    if (node.left && node.right && node.splitColumn !== undefined && node.splitValue !== undefined) {
      const l = b.addNode();
      const r = b.addNode();
      b.setSplit(id, columns[node.splitColumn], node.splitValue, l, r);
      stack.push([node.left, l], [node.right, r]);
    } else {
      b.setLeaf(id, node.trainingSet?.length ?? 0);
    }
  }
  return top;
}

/** The forest's file in a version folder. */
export const FOREST_FILE = 'isolation-forest.json';

function fittedForest(forest: FlatForest, card: Record<string, unknown>): FittedDetector<FlatForest> {
  return {
    id: 'isolationForest',
    model: forest,
    card,
    score: (row) => forest.score(row),
    // One row: the plain walk; more: tree by tree over the batch (identical scores, tested).
    scoreMany: (rows) => (rows.length > 1 ? forest.scoreMany(rows) : Float64Array.from(rows, (r) => forest.score(r))),
    save: (dir) => writeFile(path.join(dir, FOREST_FILE), JSON.stringify(forest.toJSON())),
    dispose: () => {},
  };
}

/**
 * The columns the forest isolates on: for transaction vectors, the card's own behaviour (its built-in features and
 * the spec's card aggregates); merchant and device aggregates and label risk are XGBoost's (a rare merchant or a
 * breached one is not what "unlike anything this card does" means, and their spread drowns the card's anomalies).
 * A CSV's columns are all used.
 */
export function forestColumns(featureNames: readonly string[]): number[] | undefined {
  if (!BASE_FEATURE_NAMES.every((n, i) => featureNames[i] === n)) return undefined;
  return featureNames.flatMap((n, i) => (i < BASE_FEATURE_NAMES.length || (n.startsWith('card_') && !n.endsWith('_delayed')) ? [i] : []));
}

/** Unsupervised, on the legitimate rows of the training slice: anomalies nobody labelled yet. */
export const isolationForestDetector: FirstLineDetector<'isolationForest', FlatForest> = {
  id: 'isolationForest',
  label: 'isolation forest',
  files: [FOREST_FILE],
  async train({ ds, trainIdx, opts, seed, progress }) {
    const started = performance.now();
    const legitTrain = trainIdx.filter((i) => !ds.labels[i]).map((i) => ds.rows[i]);
    const forest = trainIsolationForest(legitTrain, { trees: opts.forest?.trees ?? 100, sampleSize: opts.forest?.sampleSize ?? 256, seed, columns: forestColumns(ds.featureNames) });
    progress('isolation forest', `${forest.trees} trees, ${forest.nodes} nodes in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return fittedForest(forest, { trees: forest.trees, sampleSize: forest.sampleSize, nodes: forest.nodes, trainRows: legitTrain.length, trainedOn: 'legitimate rows of the training slice' });
  },
  async load(dir) {
    return fittedForest(FlatForest.fromJSON(await readVersionJson<FlatForestJson>(dir, FOREST_FILE)), {});
  },
  cardLine: (m) => `Isolation forest: ${String(m.trees)} trees, ${String(m.sampleSize)} rows each, ${String(m.nodes)} nodes, trained on ${String(m.trainRows)} ${String(m.trainedOn)}.`,
};
