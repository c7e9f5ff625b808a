/**
 * Precision-recall and ROC curves for the model card, small enough to chart: one point per distinct score
 * (ties move together, as in the metrics), then at most ~100 points kept evenly along the curve's length.
 */

/** [x, y]: [recall, precision] on a PR curve, [false-positive rate, true-positive rate] on a ROC curve. */
export type CurvePoint = [number, number];

export interface ModelCurves {
  /** Recall ascending, from [0, 1] (the usual convention) to [1, positives / rows]. */
  pr: CurvePoint[];
  /** Both coordinates ascending, from [0, 0] to [1, 1]. */
  roc: CurvePoint[];
}

export interface ThresholdMark {
  /** Which threshold (e.g. "detect.blockAbove") or routed outcome ("caught: review or block"). */
  name: string;
  /** Flagged when score >= threshold; null for the routed ensemble's outcome marks. */
  threshold: number | null;
  recall: number;
  precision: number;
  fpr: number;
}

export const DEFAULT_CURVE_POINTS = 100;

/** Every distinct-threshold point of both curves, highest threshold first. */
function sweep(scores: ArrayLike<number>, labels: ArrayLike<number>): { pr: CurvePoint[]; roc: CurvePoint[] } | null {
  const idx = new Int32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  idx.sort((a, b) => scores[b] - scores[a]);
  let pos = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) pos++;
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) return null;
  const pr: CurvePoint[] = [[0, 1]];
  const roc: CurvePoint[] = [[0, 0]];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < idx.length; ) {
    const s = scores[idx[i]];
    while (i < idx.length && scores[idx[i]] === s) {
      if (labels[idx[i]]) tp++;
      else fp++;
      i++;
    }
    pr.push([tp / pos, tp / (tp + fp)]);
    roc.push([fp / neg, tp / pos]);
  }
  return { pr, roc };
}

/**
 * Keeps the first and last points and the points nearest to `max - 2` evenly spaced positions along the curve's
 * length (so the steep start of a good ROC curve keeps its detail); order, hence monotonicity, is preserved.
 */
export function downsample(points: CurvePoint[], max = DEFAULT_CURVE_POINTS): CurvePoint[] {
  if (points.length <= max) return points;
  const cum = new Float64Array(points.length);
  for (let i = 1; i < points.length; i++) cum[i] = cum[i - 1] + Math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1]);
  const total = cum[cum.length - 1];
  const keep: number[] = [0];
  let j = 0;
  for (let k = 1; k < max - 1; k++) {
    const target = (total * k) / (max - 1);
    while (j < points.length - 1 && cum[j] < target) j++;
    if (j > keep[keep.length - 1] && j < points.length - 1) keep.push(j);
  }
  keep.push(points.length - 1);
  return keep.map((i) => points[i]);
}

const round = (p: CurvePoint): CurvePoint => [Number(p[0].toFixed(5)), Number(p[1].toFixed(5))];

/** Both curves of one model's scores on labelled rows, downsampled; null when a class is missing. */
export function modelCurves(scores: ArrayLike<number>, labels: ArrayLike<number>, max = DEFAULT_CURVE_POINTS): ModelCurves | null {
  const full = sweep(scores, labels);
  if (!full) return null;
  return { pr: downsample(full.pr, max).map(round), roc: downsample(full.roc, max).map(round) };
}

/** Area under a polyline by the trapezoid rule (x ascending). */
export function trapezoidArea(points: readonly CurvePoint[]): number {
  let a = 0;
  for (let i = 1; i < points.length; i++) a += ((points[i][0] - points[i - 1][0]) * (points[i][1] + points[i - 1][1])) / 2;
  return a;
}

/** Recall, precision and false-positive rate of flagging `flag(i)` rows. */
export function operatingPoint(name: string, threshold: number | null, flag: (i: number) => boolean, labels: ArrayLike<number>): ThresholdMark {
  let tp = 0;
  let fp = 0;
  let pos = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) pos++;
    if (!flag(i)) continue;
    if (labels[i]) tp++;
    else fp++;
  }
  const neg = labels.length - pos;
  const r5 = (x: number) => Number(x.toFixed(5));
  return { name, threshold, recall: r5(pos ? tp / pos : 0), precision: r5(tp + fp ? tp / (tp + fp) : 1), fpr: r5(neg ? fp / neg : 0) };
}
