import type { Decision, Label } from '../../core/contracts.ts';

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number | null;
  recall: number | null;
}

export interface LabelSnapshot {
  labels: number;
  pending: number;
  bySourceAndModel: Record<string, Confusion>;
}

interface Outcome {
  blocked: boolean;
  model: string;
}

const MAX_TRACKED = 200_000;

function bounded<K, V>(m: Map<K, V>): void {
  while (m.size > MAX_TRACKED) {
    const first = m.keys().next().value;
    if (first === undefined) break;
    m.delete(first);
  }
}

/**
 * Precision and recall of final decisions (BLOCK = predicted fraud) against delayed ground truth, per model
 * version. A transaction counts once, when both its final decision and its first label are known, in
 * whichever order they arrive. Chargebacks are the ground truth; analyst verdicts are counted separately
 * since they only exist for reviewed cases.
 */
export class LabelMetrics {
  private readonly outcomes = new Map<string, Outcome>();
  private readonly pending = new Map<string, Label>();
  private readonly counted = new Set<string>();
  private readonly counts = new Map<string, { tp: number; fp: number; fn: number; tn: number }>();
  labels = 0;

  onDecision(d: Decision): void {
    if (!d.final) return;
    this.outcomes.set(d.txId, { blocked: d.action === 'BLOCK', model: d.versions.model });
    bounded(this.outcomes);
    const waiting = this.pending.get(d.txId);
    if (waiting) {
      this.pending.delete(d.txId);
      this.count(waiting);
    }
  }

  onLabel(l: Label): void {
    this.labels++;
    if (this.outcomes.has(l.txId)) this.count(l);
    else if (!this.pending.has(l.txId)) {
      this.pending.set(l.txId, l);
      bounded(this.pending);
    }
  }

  private count(l: Label): void {
    const key = `${l.source}:${l.txId}`;
    if (this.counted.has(key)) return;
    this.counted.add(key);
    if (this.counted.size > MAX_TRACKED) this.counted.clear();
    const o = this.outcomes.get(l.txId) as Outcome;
    for (const bucket of [`${l.source}|${o.model}`, `${l.source}|*`]) {
      const c = this.counts.get(bucket) ?? { tp: 0, fp: 0, fn: 0, tn: 0 };
      if (o.blocked && l.isFraud) c.tp++;
      else if (o.blocked) c.fp++;
      else if (l.isFraud) c.fn++;
      else c.tn++;
      this.counts.set(bucket, c);
    }
  }

  /** { "chargeback|*": {...}, "chargeback|model-v3": {...}, "analyst|*": {...} } */
  snapshot(): LabelSnapshot {
    const out: Record<string, Confusion> = {};
    for (const [k, c] of this.counts) {
      out[k] = {
        ...c,
        precision: c.tp + c.fp === 0 ? null : c.tp / (c.tp + c.fp),
        recall: c.tp + c.fn === 0 ? null : c.tp / (c.tp + c.fn),
      };
    }
    return { labels: this.labels, pending: this.pending.size, bySourceAndModel: out };
  }
}
