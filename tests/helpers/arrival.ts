/**
 * Transactions and labels in the order they arrive, as one stream of store calls: the tests drive a Redis and a
 * memory store through exactly the same sequence with it (the stores' own replay is MemoryFeatureStore.replayEvents).
 */
import type { Label, Transaction } from '../../core/contracts.ts';

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

