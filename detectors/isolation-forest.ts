import { createRequire } from 'node:module';
import { FlatForest, FlatForestBuilder } from './pure/isolation-forest.ts';
import { mulberry32, sampleIndices } from './pure/rng.ts';

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
