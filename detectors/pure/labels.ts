/**
 * Which label a transaction trains with, when labels come from the live [labels] topic: chargebacks and analysts'
 * verdicts both count, a chargeback beats an analyst's verdict (it is the card holder's bank speaking, after the
 * fact), and a transaction nobody has labelled yet counts as legitimate only once it is older than the maturity
 * window; younger unlabelled ones are left out of training (their chargeback may still be on its way).
 */
import type { Label, Transaction } from '../../core/contracts.ts';

export const DAY_MS = 86_400_000;
/** Default maturity: the generated world's chargeback window (legitimate transactions are known good after 30 days). */
export const DEFAULT_LABEL_MATURITY_DAYS = 30;

export type LabelSource = Label['source'];

export interface ResolvedLabel {
  isFraud: boolean;
  scenario: string | null;
  /** Where the label came from; `maturity` = unlabelled but older than the window, so taken as legitimate. */
  source: LabelSource | 'maturity';
}

/** Per transaction, the latest label of each source (an analyst may revise a verdict; a chargeback may be reversed). */
export class LabelBook {
  private readonly bySource: Record<LabelSource, Map<string, Label>> = { chargeback: new Map(), analyst: new Map() };
  /** Label messages taken in, by source (a revised label counts each time). */
  readonly received: Record<LabelSource, number> = { chargeback: 0, analyst: 0 };

  add(label: Label): void {
    this.received[label.source]++;
    const m = this.bySource[label.source];
    const prev = m.get(label.txId);
    if (!prev || prev.labeledAt <= label.labeledAt) m.set(label.txId, label);
  }

  /** The label a transaction trains with, or null when it has none. */
  get(txId: string): ResolvedLabel | null {
    const l = this.bySource.chargeback.get(txId) ?? this.bySource.analyst.get(txId);
    return l ? { isFraud: l.isFraud, scenario: l.isFraud ? l.scenario : null, source: l.source } : null;
  }

  /** The latest label of one source, if any. */
  of(txId: string, source: LabelSource): Label | undefined {
    return this.bySource[source].get(txId);
  }

  txIds(): Set<string> {
    return new Set([...this.bySource.chargeback.keys(), ...this.bySource.analyst.keys()]);
  }
}

export interface LabelledEvent {
  tx: Transaction;
  label: ResolvedLabel | null;
  /** False: the transaction still feeds the card's state (later features need it) but is no training row. */
  include: boolean;
}

export interface LabelStats {
  /** Label messages received, by source. */
  received: Record<LabelSource, number>;
  /** Training rows by where their label came from. */
  used: Record<LabelSource | 'maturity', number>;
  fraud: number;
  /** Transactions with both a chargeback and an analyst's verdict (the chargeback was used). */
  both: number;
  /** ... of which the two disagreed. */
  disagreements: number;
  /** Unlabelled transactions younger than the maturity window: replayed for features, not trained on. */
  excludedYoung: number;
  /** Labels for transactions that were not read (older than retention, beyond --max-events or --until-ms). */
  orphanLabels: number;
  maturityDays: number;
  /** Unlabelled transactions at or before this time count as legitimate. */
  maturityCutoffTs: number | null;
}

/**
 * Resolves every transaction's label. `txs` must be in time order; the maturity window is measured back from the
 * newest transaction's time (simulated time for a replayed history: the wall clock would make all of it mature).
 */
export function resolveLabels(txs: readonly Transaction[], book: LabelBook, maturityDays: number): { events: LabelledEvent[]; stats: LabelStats } {
  let newest = -Infinity;
  for (const tx of txs) if (tx.ts > newest) newest = tx.ts;
  const cutoff = txs.length ? newest - maturityDays * DAY_MS : null;
  const used = { chargeback: 0, analyst: 0, maturity: 0 };
  let fraud = 0;
  let both = 0;
  let disagreements = 0;
  let excludedYoung = 0;
  const seen = new Set<string>();
  const events = txs.map((tx): LabelledEvent => {
    seen.add(tx.txId);
    let label = book.get(tx.txId);
    const cb = book.of(tx.txId, 'chargeback');
    const an = book.of(tx.txId, 'analyst');
    if (cb && an) {
      both++;
      if (cb.isFraud !== an.isFraud) disagreements++;
    }
    if (!label && cutoff !== null && tx.ts <= cutoff) label = { isFraud: false, scenario: null, source: 'maturity' };
    if (!label) {
      excludedYoung++;
      return { tx, label: null, include: false };
    }
    used[label.source]++;
    if (label.isFraud) fraud++;
    return { tx, label, include: true };
  });
  let orphanLabels = 0;
  for (const id of book.txIds()) if (!seen.has(id)) orphanLabels++;
  return {
    events,
    stats: { received: { ...book.received }, used, fraud, both, disagreements, excludedYoung, orphanLabels, maturityDays, maturityCutoffTs: cutoff },
  };
}

export interface OrderedHistory {
  txs: Transaction[];
  /** Copies of a transaction id already read (at-least-once delivery, a replay run twice): the first copy is kept. */
  duplicates: number;
  /** Transactions after --until-ms, left out. */
  afterUntil: number;
}

/**
 * Time order for the point-in-time replay: by ts, then partition and offset (a card lives on one partition, so its
 * own order is the order it was produced in). The first copy of a transaction id wins.
 */
export function orderHistory(read: ReadonlyArray<{ tx: Transaction; partition: number; offset: number }>, untilMs?: number): OrderedHistory {
  const seen = new Set<string>();
  let duplicates = 0;
  let afterUntil = 0;
  const sorted = [...read].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  const kept: typeof sorted = [];
  for (const r of sorted) {
    if (seen.has(r.tx.txId)) {
      duplicates++;
      continue;
    }
    seen.add(r.tx.txId);
    if (untilMs !== undefined && r.tx.ts > untilMs) {
      afterUntil++;
      continue;
    }
    kept.push(r);
  }
  kept.sort((a, b) => a.tx.ts - b.tx.ts || a.partition - b.partition || a.offset - b.offset);
  return { txs: kept.map((r) => r.tx), duplicates, afterUntil };
}

export interface PartitionRange {
  partition: number;
  /** First offset read (the partition's low watermark at start). */
  from: number;
  /** End offset captured at start (exclusive): later messages are not read. */
  to: number;
  /** Offset reached (exclusive); equals `to` when the partition was read to the end. */
  reached: number;
}

/**
 * Caps the ranges at `max` messages in all, shared evenly; a partition holding less than its share leaves the rest to
 * the others. Deterministic (offsets, not arrival order), so the same --max-events reads the same messages.
 */
export function capRanges(ranges: PartitionRange[], max: number): void {
  let remaining = max;
  const bySize = [...ranges].sort((a, b) => a.to - a.from - (b.to - b.from) || a.partition - b.partition);
  bySize.forEach((r, i) => {
    const take = Math.min(r.to - r.from, Math.ceil(remaining / (bySize.length - i)));
    r.to = r.from + take;
    remaining -= take;
  });
}
