/**
 * The Replay page's follow-up of an injected merchant breach: how the pipeline decided the breach's fraud, by
 * simulated day since the injection, and how often the merchant's label risk (fraud counted from chargebacks that
 * had arrived, `*_fraud_*_delayed` features) was among the reasons. Early on nobody has reported the merchant;
 * as chargebacks arrive its label risk rises and the same kind of transaction starts to be caught.
 */
import type { Decision } from '../../../core/contracts.ts';

const DAY_MS = 86_400_000;
/** Feature names of label risk learned from arrived labels (detectors/pure/feature-spec.ts). */
const LABEL_RISK = /_fraud_(count|rate)_\d+d_delayed$/;

export interface BreachDay {
  /** Simulated days since the injection (0 = the first day). */
  day: number;
  decided: number;
  allowed: number;
  reviewed: number;
  blocked: number;
  /** Reviewed or blocked with a label-risk feature pushing towards fraud among the decision's top contributions. */
  byLabelRisk: number;
}

export interface BreachFollowUp {
  merchantId: string;
  injectedAt: number;
  days: BreachDay[];
}

/** Folds the pipeline's decisions into per-breach, per-day counts; `breachOf` says which breach a tx is fraud of. */
export class BreachTracker {
  private readonly breaches = new Map<string, BreachFollowUp>();
  /** A transaction's decisions, once each (a REVIEW closed by an analyst is a second decision of the same tx). */
  private readonly seen = new Set<string>();

  constructor(private readonly max = 8) {}

  observe(d: Decision, breachOf: (txId: string) => { merchantId: string; injectedAt: number } | undefined): void {
    if (this.seen.has(d.txId)) return;
    const b = breachOf(d.txId);
    if (!b) return;
    this.seen.add(d.txId);
    let f = this.breaches.get(b.merchantId);
    if (!f) {
      f = { merchantId: b.merchantId, injectedAt: b.injectedAt, days: [] };
      this.breaches.set(b.merchantId, f);
      if (this.breaches.size > this.max) this.breaches.delete(this.breaches.keys().next().value as string);
    }
    const day = Math.max(0, Math.floor((d.tx.ts - b.injectedAt) / DAY_MS));
    let row = f.days.find((r) => r.day === day);
    if (!row) {
      row = { day, decided: 0, allowed: 0, reviewed: 0, blocked: 0, byLabelRisk: 0 };
      f.days.push(row);
      f.days.sort((a, c) => a.day - c.day);
    }
    row.decided++;
    if (d.action === 'ALLOW') row.allowed++;
    else if (d.action === 'BLOCK') row.blocked++;
    else row.reviewed++;
    if (d.action !== 'ALLOW' && d.topFeatures.some((c) => c.contribution > 0 && LABEL_RISK.test(c.name))) row.byLabelRisk++;
  }

  snapshot(): BreachFollowUp[] {
    return [...this.breaches.values()].map((f) => ({ ...f, days: f.days.map((r) => ({ ...r })) }));
  }
}
