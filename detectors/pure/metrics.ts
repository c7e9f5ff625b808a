/** Ranking metrics for binary scores (higher = more likely positive). Ties are handled, not broken by order. */

function order(scores: ArrayLike<number>): Int32Array {
  const idx = new Int32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => scores[b] - scores[a]);
}

/** ROC-AUC via the rank-sum (Mann-Whitney U), ties counted as half. NaN when a class is missing. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = order(scores);
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) pos++;
    else neg++;
  }
  if (pos === 0 || neg === 0) return NaN;
  // Walk from the highest score down; for each negative, count positives ranked strictly above plus half the tied.
  let above = 0;
  let u = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    let p = 0;
    let n = 0;
    while (j < idx.length && scores[idx[j]] === scores[idx[i]]) {
      if (labels[idx[j]]) p++;
      else n++;
      j++;
    }
    u += n * (above + p / 2);
    above += p;
    i = j;
  }
  return u / (pos * neg);
}

/**
 * Area under the precision-recall curve as average precision: sum over thresholds of precision x recall gain,
 * one step per distinct score (as scikit-learn's average_precision_score).
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = order(scores);
  let pos = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) pos++;
  if (pos === 0) return NaN;
  let tp = 0;
  let seen = 0;
  let ap = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    let p = 0;
    while (j < idx.length && scores[idx[j]] === scores[idx[i]]) {
      if (labels[idx[j]]) p++;
      j++;
    }
    seen += j - i;
    tp += p;
    if (p > 0) ap += (tp / seen) * (p / pos);
    i = j;
  }
  return ap;
}

/** The smallest threshold t such that at most `fpr` of negatives score strictly above t. */
export function thresholdAtFpr(scores: ArrayLike<number>, labels: ArrayLike<number>, fpr: number): number {
  const neg: number[] = [];
  for (let i = 0; i < scores.length; i++) if (!labels[i]) neg.push(scores[i]);
  if (neg.length === 0) return -Infinity;
  neg.sort((a, b) => b - a);
  const allowed = Math.floor(fpr * neg.length);
  return neg[Math.min(allowed, neg.length - 1)];
}

/** Share of positives scoring strictly above the threshold that lets through at most `fpr` of negatives. */
export function recallAtFpr(scores: ArrayLike<number>, labels: ArrayLike<number>, fpr: number): number {
  const t = thresholdAtFpr(scores, labels, fpr);
  let pos = 0;
  let hit = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!labels[i]) continue;
    pos++;
    if (scores[i] > t) hit++;
  }
  return pos === 0 ? NaN : hit / pos;
}

/** Value at quantile q (0..1) of a numeric sample, by linear interpolation. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const pos = Math.min(Math.max(q, 0), 1) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * Daily card precision@k, as a review team works: each UTC day, every card gets its highest score of the day;
 * the k highest cards are reviewed; precision is the share of them with a fraudulent transaction that day. A card
 * found fraudulent is known from then on and drops out of later days. The mean over days that have any card.
 */
export function dailyCardPrecisionAtK(scores: ArrayLike<number>, labels: ArrayLike<number>, ts: ArrayLike<number>, cards: readonly string[], k: number): number {
  const days = new Map<number, Map<string, { score: number; fraud: boolean }>>();
  for (let i = 0; i < labels.length; i++) {
    const day = Math.floor(ts[i] / 86_400_000);
    let m = days.get(day);
    if (!m) days.set(day, (m = new Map()));
    const c = m.get(cards[i]);
    if (!c) m.set(cards[i], { score: scores[i], fraud: labels[i] === 1 });
    else {
      if (scores[i] > c.score) c.score = scores[i];
      if (labels[i] === 1) c.fraud = true;
    }
  }
  const known = new Set<string>();
  let sum = 0;
  let n = 0;
  for (const day of [...days.keys()].sort((a, b) => a - b)) {
    const ranked = [...(days.get(day) as Map<string, { score: number; fraud: boolean }>)]
      .filter(([card]) => !known.has(card))
      .sort((a, b) => b[1].score - a[1].score || (a[0] < b[0] ? -1 : 1))
      .slice(0, k);
    if (ranked.length === 0) continue;
    let hits = 0;
    for (const [card, c] of ranked) {
      if (c.fraud) {
        hits++;
        known.add(card);
      }
    }
    sum += hits / k;
    n++;
  }
  return n ? sum / n : NaN;
}
