/**
 * A trained isolation forest in flat form: one set of typed arrays for all trees, no training rows.
 * Node i is a leaf when feature[i] < 0; otherwise rows with x[feature] < split go left.
 * Score as in Liu, Ting & Zhou (2008): s = 2^(-E[h(x)] / c(psi)), psi = the per-tree subsample size.
 */

export interface FlatForestJson {
  kind: 'isolation-forest';
  sampleSize: number;
  /** Which columns of the feature vector the forest reads (feature[] indexes the full vector). */
  columns: number[];
  roots: number[];
  /** base64 of little-endian typed arrays */
  feature: string;
  split: string;
  left: string;
  right: string;
  size: string;
}

/** Average path length of an unsuccessful BST search among n points: c(n) = 2H(n-1) - 2(n-1)/n. */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + 0.5772156649015329) - (2 * (n - 1)) / n;
}

export class FlatForest {
  /** Path length credited on reaching each node if it is a leaf: depth + c(leaf size). */
  private readonly leafValue: Float64Array;
  private readonly norm: number;

  constructor(
    readonly sampleSize: number,
    readonly columns: number[],
    readonly roots: Int32Array,
    readonly feature: Int32Array,
    readonly split: Float64Array,
    readonly left: Int32Array,
    readonly right: Int32Array,
    readonly size: Int32Array,
  ) {
    this.leafValue = new Float64Array(feature.length);
    const stack: number[] = [];
    for (const root of roots) {
      stack.push(root, 0);
      while (stack.length) {
        const depth = stack.pop() as number;
        const node = stack.pop() as number;
        if (feature[node] < 0) this.leafValue[node] = depth + averagePathLength(size[node]);
        else stack.push(left[node], depth + 1, right[node], depth + 1);
      }
    }
    this.norm = averagePathLength(sampleSize);
    for (let i = 0; i < feature.length; i++) {
      if (feature[i] >= 0 && right[i] !== left[i] + 1) throw new Error('isolation forest: a right child must follow its left sibling');
    }
  }

  get trees(): number {
    return this.roots.length;
  }

  get nodes(): number {
    return this.feature.length;
  }

  /** Anomaly score 0..1 (about 0.5 or less is ordinary; towards 1 is isolated quickly). */
  score(x: ArrayLike<number>): number {
    const { feature, split, left, leafValue, roots } = this;
    let total = 0;
    for (let t = 0; t < roots.length; t++) {
      let node = roots[t];
      let f = feature[node];
      while (f >= 0) {
        // siblings are stored side by side: right = left + 1
        node = x[f] < split[node] ? left[node] : left[node] + 1;
        f = feature[node];
      }
      total += leafValue[node];
    }
    return Math.pow(2, -(total / roots.length) / this.norm);
  }

  /** Same scores as score() row by row (same sums in the same order), walked tree by tree: a tree stays in cache for the whole batch. */
  scoreMany(rows: readonly ArrayLike<number>[]): Float64Array {
    const { feature, split, left, leafValue, roots } = this;
    const n = rows.length;
    const total = new Float64Array(n);
    for (let t = 0; t < roots.length; t++) {
      const root = roots[t];
      for (let i = 0; i < n; i++) {
        const x = rows[i];
        let node = root;
        let f = feature[node];
        while (f >= 0) {
          node = x[f] < split[node] ? left[node] : left[node] + 1;
          f = feature[node];
        }
        total[i] += leafValue[node];
      }
    }
    for (let i = 0; i < n; i++) total[i] = Math.pow(2, -(total[i] / roots.length) / this.norm);
    return total;
  }

  toJSON(): FlatForestJson {
    return {
      kind: 'isolation-forest',
      sampleSize: this.sampleSize,
      columns: this.columns,
      roots: Array.from(this.roots),
      feature: toBase64(this.feature),
      split: toBase64(this.split),
      left: toBase64(this.left),
      right: toBase64(this.right),
      size: toBase64(this.size),
    };
  }

  static fromJSON(j: FlatForestJson): FlatForest {
    if (j.kind !== 'isolation-forest') throw new Error(`not an isolation forest file (kind ${String(j.kind)})`);
    const feature = new Int32Array(fromBase64(j.feature));
    const forest = new FlatForest(
      j.sampleSize,
      j.columns,
      Int32Array.from(j.roots),
      feature,
      new Float64Array(fromBase64(j.split)),
      new Int32Array(fromBase64(j.left)),
      new Int32Array(fromBase64(j.right)),
      new Int32Array(fromBase64(j.size)),
    );
    for (const arr of [forest.split, forest.left, forest.right, forest.size]) {
      if (arr.length !== feature.length) throw new Error('isolation forest file is inconsistent: node arrays differ in length');
    }
    return forest;
  }
}

/** Builder used by training: appends nodes tree by tree. */
export class FlatForestBuilder {
  private feature: number[] = [];
  private split: number[] = [];
  private left: number[] = [];
  private right: number[] = [];
  private size: number[] = [];
  private roots: number[] = [];

  addNode(): number {
    this.feature.push(-1);
    this.split.push(0);
    this.left.push(-1);
    this.right.push(-1);
    this.size.push(0);
    return this.feature.length - 1;
  }

  setLeaf(node: number, size: number): void {
    this.size[node] = size;
  }

  setSplit(node: number, feature: number, split: number, left: number, right: number): void {
    this.feature[node] = feature;
    this.split[node] = split;
    this.left[node] = left;
    this.right[node] = right;
  }

  addRoot(node: number): void {
    this.roots.push(node);
  }

  build(sampleSize: number, columns: number[]): FlatForest {
    return new FlatForest(
      sampleSize,
      columns,
      Int32Array.from(this.roots),
      Int32Array.from(this.feature),
      Float64Array.from(this.split),
      Int32Array.from(this.left),
      Int32Array.from(this.right),
      Int32Array.from(this.size),
    );
  }
}

function toBase64(a: Int32Array | Float64Array): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string): ArrayBuffer {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}
