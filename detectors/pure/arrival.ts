/**
 * Labels as an input once they have arrived: a replay walks transactions in time order and feeds each label to the
 * store before the first transaction at or after its labeledAt (a label arriving at the same millisecond as a
 * transaction comes first). The trainer, `score`, `warm` and the file preview replay this way through the memory
 * store (MemoryFeatureStore.replayEvents), as detect meets labels online from the labels stage.
 */
import type { Label, Transaction } from '../../core/contracts.ts';
import { TimeHeap } from '../../core/heap.ts';

/**
 * Labels waiting for their arrival time while a replay walks transactions in time order. Before each transaction,
 * `due(tx.ts)` hands over the labels that have arrived by then (feed them to the store before the transaction).
 * A label gets its transaction's merchant and time, as a chargeback carries them.
 */
export class LabelArrivals {
  private readonly heap = new TimeHeap<{ t: number; seq: number; label: Label }>();
  private seq = 0;

  add(label: Label, tx: Transaction): void {
    this.heap.push({ t: label.labeledAt, seq: this.seq++, label: { ...label, merchantId: label.merchantId ?? tx.merchantId, txTs: label.txTs ?? tx.ts } });
  }

  due(now: number): Label[] {
    const out: Label[] = [];
    for (let top = this.heap.peek(); top !== undefined && top.t <= now; top = this.heap.peek()) out.push((this.heap.pop() as { label: Label }).label);
    return out;
  }

  get size(): number {
    return this.heap.size;
  }
}

/** A full label (it has an arrival time), as opposed to a bare training target. */
export const isArrivingLabel = (l: Label | { isFraud: boolean; scenario: string | null } | null | undefined): l is Label => !!l && 'labeledAt' in l;
