/**
 * Transactions and labels in the order they arrive, as one stream: a transaction at its time, a label at its
 * labeledAt (a label arriving at the same millisecond as a transaction comes first). The trainer and `score`
 * replay this order through the memory store, so a label is an input only once it has arrived, as online.
 */
import type { Label, Transaction } from '../../core/contracts.ts';
import { TimeHeap } from '../../core/heap.ts';

export type ArrivalEvent = { kind: 'tx'; tx: Transaction; index: number } | { kind: 'labels'; labels: Label[] };

/**
 * `txs` in time order (stable for equal times). Yields runs of transactions between label arrivals as single
 * events, and the labels due before the next transaction as one `labels` event, so a store can take batches.
 */
export function* arrivalOrder(txs: readonly Transaction[], labels: readonly Label[]): Generator<ArrivalEvent> {
  const due = [...labels].sort((a, b) => a.labeledAt - b.labeledAt);
  let j = 0;
  for (let i = 0; i < txs.length; i++) {
    const t = txs[i].ts;
    if (j < due.length && due[j].labeledAt <= t) {
      const start = j;
      while (j < due.length && due[j].labeledAt <= t) j++;
      yield { kind: 'labels', labels: due.slice(start, j) };
    }
    yield { kind: 'tx', tx: txs[i], index: i };
  }
  if (j < due.length) yield { kind: 'labels', labels: due.slice(j) };
}

/** The store calls for an arrival stream: transactions in batches of at most `batch`, labels flushed between. */
export function* arrivalBatches(txs: readonly Transaction[], labels: readonly Label[], batch: number): Generator<{ kind: 'txs'; txs: Transaction[]; first: number } | { kind: 'labels'; labels: Label[] }> {
  let run: Transaction[] = [];
  let first = 0;
  for (const e of arrivalOrder(txs, labels)) {
    if (e.kind === 'labels') {
      if (run.length) yield { kind: 'txs', txs: run, first };
      run = [];
      yield e;
      continue;
    }
    if (run.length === 0) first = e.index;
    run.push(e.tx);
    if (run.length >= batch) {
      yield { kind: 'txs', txs: run, first };
      run = [];
    }
  }
  if (run.length) yield { kind: 'txs', txs: run, first };
}

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
