/**
 * Score calibration: turns a model score into p(fraud) so policy can be stated in money (p x amount).
 * Isotonic regression (pool-adjacent-violators) fitted on the validation slice: it assumes only that a higher
 * score never means less fraud, which holds for every first-line model here, and needs no parametric shape
 * (Platt's sigmoid bends badly on the isolation forest's scores). The reliability curve shows how well it did.
 */

export interface Calibrator {
  method: 'isotonic';
  /** Increasing score breakpoints; p is interpolated linearly between them and held flat outside. */
  x: number[];
  /** Non-decreasing p(fraud) at each breakpoint. */
  y: number[];
}

/** Fits isotonic regression of labels (0/1) on scores. Throws when the inputs cannot calibrate anything. */
export function fitIsotonic(scores: ArrayLike<number>, labels: ArrayLike<number>): Calibrator {
  const n = scores.length;
  if (n !== labels.length) throw new Error(`calibration: ${n} scores but ${labels.length} labels`);
  if (n === 0) throw new Error('calibration: no validation rows');
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  // Blocks of the PAV stack: mean label, weight, score range.
  const mean: number[] = [];
  const weight: number[] = [];
  const lo: number[] = [];
  const hi: number[] = [];
  for (const i of order) {
    const s = scores[i]!;
    const top = mean.length - 1;
    if (top >= 0 && hi[top] === s) {
      // Tied scores must get one p: merge into the block that holds that score.
      mean[top] = (mean[top]! * weight[top]! + labels[i]!) / (weight[top]! + 1);
      weight[top]! += 1;
    } else {
      mean.push(labels[i]!);
      weight.push(1);
      lo.push(s);
      hi.push(s);
    }
    while (mean.length > 1 && mean[mean.length - 2]! > mean[mean.length - 1]!) {
      const b = mean.length - 1;
      const w = weight[b - 1]! + weight[b]!;
      mean[b - 1] = (mean[b - 1]! * weight[b - 1]! + mean[b]! * weight[b]!) / w;
      weight[b - 1] = w;
      hi[b - 1] = hi[b]!;
      mean.pop();
      weight.pop();
      lo.pop();
      hi.pop();
    }
  }
  // Each block contributes its two ends, so p is flat inside a block and interpolated between blocks.
  const x: number[] = [];
  const y: number[] = [];
  for (let b = 0; b < mean.length; b++) {
    x.push(lo[b]!);
    y.push(mean[b]!);
    if (hi[b]! > lo[b]!) {
      x.push(hi[b]!);
      y.push(mean[b]!);
    }
  }
  return { method: 'isotonic', x, y };
}

/** p(fraud) for a score. */
export function calibrate(c: Calibrator, score: number): number {
  const { x, y } = c;
  if (score <= x[0]!) return y[0]!;
  const last = x.length - 1;
  if (score >= x[last]!) return y[last]!;
  let a = 0;
  let b = last;
  while (b - a > 1) {
    const m = (a + b) >> 1;
    if (x[m]! <= score) a = m;
    else b = m;
  }
  const t = (score - x[a]!) / (x[b]! - x[a]!);
  return y[a]! + t * (y[b]! - y[a]!);
}

export interface ReliabilityBin {
  /** Bin bounds on predicted p. */
  from: number;
  to: number;
  count: number;
  meanPredicted: number;
  observed: number;
}

export interface Reliability {
  bins: ReliabilityBin[];
  /** Expected calibration error: count-weighted |observed - predicted| over the bins. */
  ece: number;
  brier: number;
}

/** Observed fraud rate against predicted p, in equal-width bins of p (empty bins are left out). */
export function reliability(predicted: ArrayLike<number>, labels: ArrayLike<number>, binCount = 10): Reliability {
  const n = predicted.length;
  const sumP = new Float64Array(binCount);
  const sumY = new Float64Array(binCount);
  const count = new Float64Array(binCount);
  let brier = 0;
  for (let i = 0; i < n; i++) {
    const p = predicted[i]!;
    const b = Math.min(binCount - 1, Math.max(0, Math.floor(p * binCount)));
    sumP[b]! += p;
    sumY[b]! += labels[i]!;
    count[b]! += 1;
    brier += (p - labels[i]!) ** 2;
  }
  const bins: ReliabilityBin[] = [];
  let ece = 0;
  for (let b = 0; b < binCount; b++) {
    if (count[b] === 0) continue;
    const meanPredicted = sumP[b]! / count[b]!;
    const observed = sumY[b]! / count[b]!;
    bins.push({ from: b / binCount, to: (b + 1) / binCount, count: count[b]!, meanPredicted, observed });
    ece += (count[b]! / n) * Math.abs(observed - meanPredicted);
  }
  return { bins, ece: n === 0 ? 0 : ece, brier: n === 0 ? 0 : brier / n };
}
