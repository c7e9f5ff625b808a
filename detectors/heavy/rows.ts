/**
 * Heavy-model rows packed into two flat arrays, so a batch crosses to the worker thread as two transferred buffers
 * instead of a structured clone of one small array per transaction.
 */
import { ErrorCodes, FraudstreamError } from '../../core/errors.ts';
import type { HeavyItem } from './model.ts';

export interface PackedRows {
  /** Features per vector. */
  dim: number;
  /** Per item, how many history vectors precede its current vector in `values`. */
  counts: Int32Array;
  /** Per item: its history vectors (oldest first), then its current vector, each `dim` numbers. */
  values: Float64Array;
}

export function packRows(items: ReadonlyArray<HeavyItem>, dim: number): PackedRows {
  const counts = new Int32Array(items.length);
  let vectors = 0;
  for (let i = 0; i < items.length; i++) {
    counts[i] = items[i]!.history.length;
    vectors += counts[i]! + 1;
  }
  const values = new Float64Array(vectors * dim);
  let at = 0;
  const put = (v: ArrayLike<number>, where: () => string) => {
    if (v.length !== dim) throw new FraudstreamError(ErrorCodes.BAD_INPUT, `${where()} has ${v.length} features; the heavy model expects ${dim} (its featureNames)`);
    for (let j = 0; j < dim; j++) values[at + j] = v[j]!;
    at += dim;
  };
  for (let i = 0; i < items.length; i++) {
    const { history, current } = items[i]!;
    for (let t = 0; t < history.length; t++) put(history[t]!, () => `item ${i}: history[${t}]`);
    put(current, () => `item ${i}: current`);
  }
  return { dim, counts, values };
}

/** The items again, each vector a view into `values` (no copy). */
export function unpackRows(p: PackedRows): HeavyItem[] {
  const out: HeavyItem[] = new Array(p.counts.length);
  let at = 0;
  const next = () => {
    const v = p.values.subarray(at, at + p.dim);
    at += p.dim;
    return v;
  };
  for (let i = 0; i < p.counts.length; i++) {
    const history = Array.from({ length: p.counts[i]! }, next);
    out[i] = { history, current: next() };
  }
  return out;
}
