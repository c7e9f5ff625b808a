import { describe, expect, it } from 'vitest';
import type { Label, Transaction } from '../../core/contracts.ts';
import { capRanges, DAY_MS, LabelBook, orderHistory, resolveLabels } from '../../detectors/pure/labels.ts';

const T0 = Date.UTC(2025, 0, 6);
const tx = (txId: string, days: number, cardId = 'c1'): Transaction => ({
  txId,
  cardId,
  merchantId: 'm1',
  merchantName: 'Shop',
  mcc: '5411',
  amountMinor: 1234,
  currency: 'EUR',
  ts: T0 + days * DAY_MS,
  channel: 'card_present',
  country: 'FR',
  lat: 48.85,
  lon: 2.35,
  deviceId: null,
});
const label = (txId: string, source: Label['source'], isFraud: boolean, labeledAt: number, scenario: string | null = isFraud ? 'card_testing' : null): Label => ({
  txId,
  isFraud,
  scenario,
  source,
  labeledAt,
});

describe('label merging for training from the topics', () => {
  it('prefers the chargeback over the analyst, whatever arrives last, and counts the disagreement', () => {
    const book = new LabelBook();
    book.add(label('a', 'chargeback', true, 100));
    book.add(label('a', 'analyst', false, 200)); // later, but a chargeback outranks a verdict
    book.add(label('b', 'analyst', true, 100, null));
    book.add(label('b', 'chargeback', false, 50));
    book.add(label('c', 'analyst', true, 10, null));
    const { events, stats } = resolveLabels([tx('a', 0), tx('b', 1), tx('c', 2)], book, 30);
    expect(events.map((e) => [e.tx.txId, e.label?.isFraud, e.label?.source, e.include])).toEqual([
      ['a', true, 'chargeback', true],
      ['b', false, 'chargeback', true],
      ['c', true, 'analyst', true],
    ]);
    expect(events[0].label?.scenario).toBe('card_testing');
    expect(stats.both).toBe(2);
    expect(stats.disagreements).toBe(2);
    expect(stats.used).toEqual({ chargeback: 2, analyst: 1, maturity: 0 });
    expect(stats.received).toEqual({ chargeback: 2, analyst: 3 });
    expect(stats.fraud).toBe(2);
  });

  it('takes the latest label within one source (a revised verdict, a reversed chargeback)', () => {
    const book = new LabelBook();
    book.add(label('a', 'analyst', true, 300, null));
    book.add(label('a', 'analyst', false, 100)); // older: ignored
    book.add(label('b', 'chargeback', true, 100));
    book.add(label('b', 'chargeback', false, 400));
    const { events } = resolveLabels([tx('a', 0), tx('b', 0)], book, 30);
    expect(events.map((e) => e.label?.isFraud)).toEqual([true, false]);
    expect(events[1].label?.scenario).toBeNull();
  });

  it('unlabelled transactions are legitimate only once older than the window before the newest transaction', () => {
    const book = new LabelBook();
    book.add(label('young-fraud', 'chargeback', true, 1));
    const txs = [tx('old', 0), tx('edge', 10), tx('young', 10.5), tx('young-fraud', 19), tx('newest', 20)];
    const { events, stats } = resolveLabels(txs, book, 10);
    expect(events.map((e) => [e.tx.txId, e.include, e.label?.source ?? null])).toEqual([
      ['old', true, 'maturity'],
      ['edge', true, 'maturity'], // exactly 10 days before the newest: mature
      ['young', false, null],
      ['young-fraud', true, 'chargeback'],
      ['newest', false, null],
    ]);
    expect(stats.maturityCutoffTs).toBe(T0 + 10 * DAY_MS);
    expect(stats.excludedYoung).toBe(2);
    expect(stats.used.maturity).toBe(2);
    // A window of 0 days makes every unlabelled transaction but those at the newest time mature.
    expect(resolveLabels(txs, book, 0).stats.excludedYoung).toBe(0);
  });

  it('counts labels whose transaction was not read', () => {
    const book = new LabelBook();
    book.add(label('gone', 'chargeback', true, 1));
    book.add(label('a', 'analyst', false, 1));
    expect(resolveLabels([tx('a', 0)], book, 30).stats.orphanLabels).toBe(1);
  });

  it('orders by time, keeps the first copy of a tx id and drops what is after --until-ms', () => {
    const read = [
      { tx: tx('b', 2, 'c2'), partition: 1, offset: 0 },
      { tx: tx('a', 1), partition: 0, offset: 0 },
      { tx: { ...tx('a', 1), amountMinor: 999 }, partition: 0, offset: 5 }, // a second copy
      { tx: tx('c', 3), partition: 0, offset: 1 },
      { tx: tx('d', 9), partition: 2, offset: 0 },
    ];
    const o = orderHistory(read, T0 + 3 * DAY_MS);
    expect(o.txs.map((t) => t.txId)).toEqual(['a', 'b', 'c']);
    expect(o.txs[0].amountMinor).toBe(1234);
    expect(o.duplicates).toBe(1);
    expect(o.afterUntil).toBe(1);
  });
});

describe('--max-events shares', () => {
  it('caps the partitions at N in all, evenly, giving what a short partition lacks to the others', () => {
    const ranges = [
      { partition: 0, from: 10, to: 1_000, reached: 10 },
      { partition: 1, from: 0, to: 5, reached: 0 },
      { partition: 2, from: 0, to: 1_000, reached: 0 },
    ];
    capRanges(ranges, 100);
    expect(ranges.map((r) => r.to - r.from)).toEqual([48, 5, 47]);
    const even = [0, 1, 2].map((partition) => ({ partition, from: 0, to: 10_000, reached: 0 }));
    capRanges(even, 20_000);
    expect(even.reduce((s, r) => s + r.to - r.from, 0)).toBe(20_000);
  });
});
