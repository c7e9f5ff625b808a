/**
 * Evidence per rule and per list: which transactions each rule (and each block/allow list, whose hits are rules
 * named `list.*`) fired on, joined with the labels that come back later (chargebacks and closed cases).
 */
import type { Decision, Label } from '../../core/contracts.ts';
import { ruleStats, type RuleStats } from '../../router/pure/guard.ts';

/** Transactions (and labels) remembered; the oldest are forgotten first, so memory stays bounded. */
export const EVIDENCE_KEEP = 200_000;

interface TxEvidence {
  rules: Set<string>;
  amountMinor: number;
  currency: string;
}

export interface RuleStatsView extends RuleStats {
  /** `list` for block/allow list hits (ids `list.*`), `rule` for the rest. */
  kind: 'rule' | 'list';
  /** Currency of the money caught: the commonest among its labelled-fraud hits (amounts are minor units). */
  currency: string | null;
}

export class RuleEvidence {
  private readonly txs = new Map<string, TxEvidence>();
  private readonly labels = new Map<string, boolean>();

  constructor(private readonly keep = EVIDENCE_KEEP) {}

  /** Every stage's decision on a transaction adds the rules it fired; a transaction counts once per rule. */
  onDecision(d: Decision): void {
    let e = this.txs.get(d.txId);
    if (!e) {
      e = { rules: new Set(), amountMinor: d.tx.amountMinor, currency: d.tx.currency };
      this.txs.set(d.txId, e);
      bound(this.txs, this.keep);
    }
    for (const r of d.rulesFired) e.rules.add(r.id);
  }

  /** The latest label wins: an analyst's verdict can be overturned by a chargeback. */
  onLabel(l: Label): void {
    this.labels.delete(l.txId);
    this.labels.set(l.txId, l.isFraud);
    bound(this.labels, this.keep);
  }

  stats(minLabelled = 5): { rules: RuleStatsView[]; transactions: number; labelled: number } {
    const rows = [...this.txs.entries()].map(([txId, e]) => {
      const isFraud = this.labels.get(txId);
      return { rulesFired: [...e.rules], amountMinor: e.amountMinor, currency: e.currency, ...(isFraud === undefined ? {} : { isFraud }) };
    });
    const currencies = new Map<string, Map<string, number>>();
    for (const r of rows) {
      if (r.isFraud !== true) continue;
      for (const rule of r.rulesFired) {
        const m = currencies.get(rule) ?? new Map<string, number>();
        m.set(r.currency, (m.get(r.currency) ?? 0) + 1);
        currencies.set(rule, m);
      }
    }
    const rules = ruleStats(rows, minLabelled).map((s) => ({
      ...s,
      kind: s.rule.startsWith('list.') ? ('list' as const) : ('rule' as const),
      currency: [...(currencies.get(s.rule) ?? [])].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null,
    }));
    return { rules, transactions: rows.length, labelled: rows.filter((r) => r.isFraud !== undefined).length };
  }
}

function bound<K, V>(m: Map<K, V>, keep: number): void {
  while (m.size > keep) {
    const first = m.keys().next();
    if (first.done) return;
    m.delete(first.value);
  }
}
