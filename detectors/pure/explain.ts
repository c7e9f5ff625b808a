/**
 * Signed per-feature contributions for one row by occlusion: replace one feature at a time with its
 * legitimate-traffic median and measure how much the score falls (positive = this value pushed towards fraud).
 * ml-xgboost exposes no SHAP values; occlusion needs only the model's predict, costs one prediction per feature
 * that differs from its median, and reads in the score's own units (probability points).
 */
import type { FeatureContribution } from '../../core/contracts.ts';

export function occlusionExplain(
  row: ArrayLike<number>,
  k: number,
  names: readonly string[],
  baseline: ArrayLike<number>,
  predict: (x: Float64Array) => number,
  scratch: Float64Array = new Float64Array(names.length),
): FeatureContribution[] {
  if (k <= 0) return [];
  for (let j = 0; j < names.length; j++) scratch[j] = row[j];
  const full = predict(scratch);
  const out: FeatureContribution[] = [];
  for (let j = 0; j < names.length; j++) {
    if (row[j] === baseline[j]) continue;
    scratch[j] = baseline[j];
    const contribution = full - predict(scratch);
    scratch[j] = row[j];
    if (contribution !== 0) out.push({ name: names[j], value: row[j], contribution });
  }
  out.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution) || a.name.localeCompare(b.name));
  return out.slice(0, k);
}

/** Per-column medians of the given rows (the explanation baseline). */
export function columnMedians(rows: readonly ArrayLike<number>[], columns: number): Float64Array {
  const out = new Float64Array(columns);
  const col = new Float64Array(rows.length);
  for (let j = 0; j < columns; j++) {
    for (let i = 0; i < rows.length; i++) col[i] = rows[i][j];
    col.sort();
    const n = col.length;
    out[j] = n === 0 ? 0 : n % 2 ? col[(n - 1) / 2] : (col[n / 2 - 1] + col[n / 2]) / 2;
  }
  return out;
}
