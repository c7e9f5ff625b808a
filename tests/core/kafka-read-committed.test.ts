/**
 * The read_committed fix (core/kafka-read-committed.ts) against the shapes a broker sends after several
 * transactional producers aborted at once. kafkajs' own filter is run on the same shapes to show what it lets
 * through: if those expectations fail, kafkajs fixed its filter and the wrap can go.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { markAbortedRecords, type FetchedPartition, type FetchedRecord } from '../../core/kafka-read-committed.ts';

const require = createRequire(import.meta.url);
const kafkajsFilter = require('kafkajs/src/consumer/filterAbortedMessages.js') as (a: { messages: FetchedRecord[]; abortedTransactions: unknown[] }) => FetchedRecord[];

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);

/** One record per batch: transactional data of `pid`, or its marker. */
function rec(offset: number, pid: string, kind: 'data' | 'abort' | 'commit' | 'plain'): FetchedRecord {
  return {
    offset: String(offset),
    key: kind === 'abort' ? ABORT : kind === 'commit' ? COMMIT : Buffer.from(`k${offset}`),
    isControlRecord: kind === 'abort' || kind === 'commit',
    batchContext: { firstOffset: String(offset), lastOffsetDelta: 0, producerId: kind === 'plain' ? '-1' : pid, inTransaction: kind !== 'plain' },
  };
}

const visible = (records: FetchedRecord[]) => records.filter((r) => !r.isControlRecord).map((r) => Number(r.offset));

function partition(records: FetchedRecord[], aborted: Array<[string, number]>): FetchedPartition {
  return { messages: records.map((r) => ({ ...r })), abortedTransactions: aborted.map(([producerId, first]) => ({ producerId, firstOffset: String(first) })) };
}

describe('read_committed: records of aborted transactions', () => {
  // Producers 1 and 2 abort (2 ends first, so the broker lists it first); 3 commits in between; 4 writes plainly.
  const log = [rec(0, '1', 'data'), rec(1, '2', 'data'), rec(2, '3', 'data'), rec(3, '1', 'data'), rec(4, '-1', 'plain'), rec(5, '2', 'abort'), rec(6, '3', 'commit'), rec(7, '1', 'abort'), rec(8, '1', 'data'), rec(9, '1', 'commit')];
  const listed: Array<[string, number]> = [['2', 1], ['1', 0]];

  it('the list in the order the transactions ended: none of theirs is seen, the committed and plain ones are', () => {
    const p = partition(log, listed);
    expect(markAbortedRecords(p)).toBe(3);
    expect(visible(p.messages)).toEqual([2, 4, 8]);
    expect(p.abortedTransactions).toEqual([]);
    // kafkajs alone lets producer 1's first record through.
    expect(visible(kafkajsFilter({ messages: log.map((r) => ({ ...r })), abortedTransactions: partition(log, listed).abortedTransactions! }))).toContain(0);
  });

  it('a fetch that starts inside two aborted transactions at once', () => {
    const tail = log.slice(3);
    const p = partition(tail, listed);
    markAbortedRecords(p);
    expect(visible(p.messages)).toEqual([4, 8]);
    // kafkajs activates one listed transaction per record (here producer 2's): producer 1's record at 3 gets through.
    expect(visible(kafkajsFilter({ messages: tail.map((r) => ({ ...r })), abortedTransactions: partition(tail, listed).abortedTransactions! }))).toContain(3);
  });

  it('a producer whose later transaction commits is seen again after its abort marker', () => {
    const p = partition(log, [['1', 0]]);
    markAbortedRecords(p);
    expect(visible(p.messages)).toEqual([1, 2, 4, 8]);
  });

  it('a batch of several records counts from its last offset, and nothing is marked without a list', () => {
    const batch: FetchedRecord[] = [0, 1, 2].map((o) => ({ offset: String(o), key: null, isControlRecord: false, batchContext: { firstOffset: '0', lastOffsetDelta: 2, producerId: '7', inTransaction: true } }));
    const p = partition(batch, [['7', 2]]);
    expect(markAbortedRecords(p)).toBe(3);
    const none = partition(batch, []);
    expect(markAbortedRecords(none)).toBe(0);
    expect(visible(none.messages)).toEqual([0, 1, 2]);
  });
});
