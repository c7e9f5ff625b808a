/**
 * Per-feature standardisation fitted on training rows and saved with the model.
 * Heavy-tailed non-negative features (amounts, gaps in seconds, counts) are log1p'd first: a z-score of a raw
 * amount lets one whale transaction dominate a GRU's state; log1p keeps the order and tames the tail.
 */
export interface NormaliserJson {
  featureNames: string[];
  log1p: boolean[];
  mean: number[];
  std: number[];
  clip: number;
}

export const Z_CLIP = 8;
const SKEW_FOR_LOG = 2;

export class Normaliser {
  readonly featureNames: string[];
  readonly dim: number;
  private readonly log1p: boolean[];
  private readonly mean: Float64Array;
  private readonly invStd: Float64Array;
  private readonly clip: number;
  private readonly json: NormaliserJson;

  constructor(json: NormaliserJson) {
    const d = json.featureNames.length;
    for (const [key, arr] of [['log1p', json.log1p], ['mean', json.mean], ['std', json.std]] as const) {
      if (!Array.isArray(arr) || arr.length !== d) throw new Error(`normaliser.${key} has ${arr?.length} entries, expected ${d}`);
    }
    this.json = json;
    this.featureNames = [...json.featureNames];
    this.dim = d;
    this.log1p = [...json.log1p];
    this.mean = Float64Array.from(json.mean);
    this.invStd = Float64Array.from(json.std, (s) => (s > 1e-12 ? 1 / s : 0));
    this.clip = json.clip;
  }

  /** Fits on rows (each of length featureNames.length). Constant features map to 0. */
  static fit(rows: ArrayLike<number>[], featureNames: string[]): Normaliser {
    const d = featureNames.length;
    const n = rows.length;
    if (n === 0) throw new Error('cannot fit a normaliser on zero rows');
    const log1p: boolean[] = [];
    const mean: number[] = [];
    const std: number[] = [];
    const col = new Float64Array(n);
    for (let j = 0; j < d; j++) {
      let min = Infinity;
      for (let i = 0; i < n; i++) {
        const v = rows[i]![j]!;
        col[i] = Number.isFinite(v) ? v : 0;
        if (col[i]! < min) min = col[i]!;
      }
      const useLog = min >= 0 && skewness(col) > SKEW_FOR_LOG;
      if (useLog) for (let i = 0; i < n; i++) col[i] = Math.log1p(col[i]!);
      const [m, s] = meanStd(col);
      log1p.push(useLog);
      mean.push(m);
      std.push(s);
    }
    return new Normaliser({ featureNames: [...featureNames], log1p, mean, std, clip: Z_CLIP });
  }

  /** Writes the standardised row into out[offset..offset+dim). Non-finite inputs become 0 (the training mean). */
  writeInto(row: ArrayLike<number>, out: Float32Array, offset: number): void {
    for (let j = 0; j < this.dim; j++) {
      let v = row[j]!;
      if (!Number.isFinite(v)) {
        out[offset + j] = 0;
        continue;
      }
      if (this.log1p[j]) v = Math.log1p(Math.max(v, 0));
      const z = (v - this.mean[j]!) * this.invStd[j]!;
      out[offset + j] = z > this.clip ? this.clip : z < -this.clip ? -this.clip : z;
    }
  }

  toJSON(): NormaliserJson {
    return this.json;
  }
}

function meanStd(xs: Float64Array): [number, number] {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i]!;
  m /= xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i]! - m) ** 2;
  return [m, Math.sqrt(v / xs.length)];
}

function skewness(xs: Float64Array): number {
  const [m, s] = meanStd(xs);
  if (s < 1e-12) return 0;
  let acc = 0;
  for (let i = 0; i < xs.length; i++) acc += ((xs[i]! - m) / s) ** 3;
  return acc / xs.length;
}
