/**
 * kafkajs 2.2.4 can hand a read_committed consumer records of aborted transactions. Its filter
 * (consumer/filterAbortedMessages.js) walks the fetch response's aborted-transaction list assuming it is sorted by
 * first offset, and activates at most one entry per record. The broker lists aborted transactions in the order they
 * ended, not began, and a fetch that starts inside several interleaved transactions needs several entries at once.
 * Both happen in this pipeline whenever a broker dies: every input partition's transactional producer aborts at the
 * same moment, and their transactions interleave on the output partitions. The consumer downstream (escalate, the
 * case view, the chaos observer) then saw a decision of an aborted attempt beside the committed retry: "decided
 * twice", and a "conflicting duplicate" dead letter for the copy with the other decidedAt.
 *
 * The fix does what the Java consumer does (Fetcher, consumeAbortedTransactionsUpTo): aborted transactions in a
 * queue by first offset; before each record, every transaction that began at or before the end of the record's
 * batch makes its producer "aborting"; an ABORT marker of that producer ends it; a transactional record of an
 * aborting producer is aborted. Aborted records are marked as control records, which kafkajs' Batch leaves out of
 * `messages` while keeping their offsets (so the consumer still moves past them), and the list is cleared so the
 * faulty filter has nothing left to do.
 *
 * It is installed by wrapping `decode` of kafkajs' fetch response modules (v4..v11; Kafka 4 answers nothing older).
 * kafkajs requires those modules at request time, so installing before the first fetch is enough.
 */
import { createRequire } from 'node:module';

export interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

/** A record as kafkajs decodes it (the fields the filter reads). */
export interface FetchedRecord {
  offset: string;
  key: Buffer | null;
  isControlRecord?: boolean;
  batchContext?: { firstOffset: string; lastOffsetDelta: number; producerId: string; inTransaction: boolean };
}

export interface FetchedPartition {
  abortedTransactions?: AbortedTransaction[];
  messages: FetchedRecord[];
}

/** An ABORT control record: key = version (int16), type (int16); type 0 aborts, 1 commits. */
function isAbortMarker(r: FetchedRecord): boolean {
  return r.isControlRecord === true && r.key !== null && r.key.length >= 4 && r.key.readInt16BE(2) === 0;
}

/**
 * Marks the records of aborted transactions in one fetched partition as control records and clears its aborted list.
 * Returns how many records it marked.
 */
export function markAbortedRecords(partition: FetchedPartition): number {
  const list = partition.abortedTransactions;
  if (!list || list.length === 0) return 0;
  const queue = list.map((t) => ({ producerId: t.producerId, first: BigInt(t.firstOffset) })).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const aborting = new Set<string>();
  let next = 0;
  let marked = 0;
  for (const r of partition.messages) {
    const b = r.batchContext;
    if (!b?.inTransaction) continue;
    const batchLast = BigInt(b.firstOffset) + BigInt(b.lastOffsetDelta);
    while (next < queue.length && queue[next]!.first <= batchLast) aborting.add(queue[next++]!.producerId);
    if (r.isControlRecord) {
      if (isAbortMarker(r)) aborting.delete(b.producerId);
    } else if (aborting.has(b.producerId)) {
      r.isControlRecord = true;
      marked += 1;
    }
  }
  partition.abortedTransactions = [];
  return marked;
}

interface FetchResponseModule {
  decode(raw: Buffer): Promise<{ responses: Array<{ partitions: FetchedPartition[] }> }>;
  [PATCHED]?: true;
}
const PATCHED = Symbol.for('fraudstream.readCommittedFix');

let installed = false;

/** Wraps kafkajs' fetch response decoders (idempotent). Returns the versions it wrapped. */
export function installReadCommittedFix(): number[] {
  if (installed) return [];
  installed = true;
  const require = createRequire(import.meta.url);
  const wrapped: number[] = [];
  for (let v = 4; v <= 11; v++) {
    let mod: FetchResponseModule;
    try {
      mod = require(`kafkajs/src/protocol/requests/fetch/v${v}/response.js`) as FetchResponseModule;
    } catch {
      continue;
    }
    if (mod[PATCHED]) continue;
    const decode = mod.decode.bind(mod);
    mod.decode = async (raw) => {
      const res = await decode(raw);
      for (const topic of res.responses ?? []) for (const p of topic.partitions ?? []) markAbortedRecords(p);
      return res;
    };
    mod[PATCHED] = true;
    wrapped.push(v);
  }
  return wrapped;
}
