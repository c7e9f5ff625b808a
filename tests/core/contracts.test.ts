import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { MAX_TX_TS, TransactionSchema, describeZodError } from '../../core/contracts.ts';
import { splitBatch } from '../../router/runner/batch.ts';
import { testTransactions } from '../helpers/transactions.ts';

const tx = testTransactions(1)[0]!;
const reasonFor = (value: unknown): string | undefined => {
  const r = TransactionSchema.safeParse(value);
  return r.success ? undefined : describeZodError(r.error);
};

describe('TransactionSchema refuses hostile or impossible values', () => {
  it('accepts an ordinary transaction, including a right-to-left name with its letter marks', () => {
    expect(reasonFor(tx)).toBeUndefined();
    expect(reasonFor({ ...tx, merchantName: 'مقهى\u200F الشارع' })).toBeUndefined();
    expect(reasonFor({ ...tx, ts: MAX_TX_TS })).toBeUndefined();
  });

  it.each([
    ['beyond the largest Date', 8.64e15 + 1],
    ['year 2100 and later', MAX_TX_TS + 1],
    ['Number.MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER],
  ])('ts %s', (_what, ts) => {
    expect(reasonFor({ ...tx, ts })).toMatch(/^ts: epoch milliseconds no later than 2100-01-01/);
  });

  it.each([
    ['right-to-left override (Trojan Source)', 'Shop\u202Egnp.exe'],
    ['left-to-right embedding', '\u202AShop'],
    ['pop directional formatting', 'Shop\u202C'],
    ['first strong isolate', 'Shop\u2068x\u2069'],
    ['newline', 'Shop\nAdmin: approved'],
    ['NUL', 'Shop\u0000'],
    ['C1 control', 'Shop\u009B31m'],
    ['line separator', 'Shop\u2028x'],
  ])('merchantName with a %s', (_what, merchantName) => {
    expect(reasonFor({ ...tx, merchantName })).toMatch(/^merchantName: control or bidi override characters/);
  });

  it('such a transaction is dead-lettered with the reason, the batch goes on', () => {
    const msg = (value: unknown, offset: string): KafkaMessage =>
      ({ key: null, value: Buffer.from(JSON.stringify(value)), offset, timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage;
    const out = splitBatch([msg({ ...tx, merchantName: 'a\u202Eb' }, '0'), msg({ ...tx, txId: 'ok-1' }, '1'), msg({ ...tx, txId: 'late', ts: 9e15 }, '2')], 0, {
      schema: TransactionSchema,
      keyOf: (t) => t.txId,
    });
    expect(out.parsed.map((p) => p.key)).toEqual(['ok-1']);
    expect(out.rejected.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^schema: merchantName: control or bidi override/),
      expect.stringMatching(/^schema: ts: epoch milliseconds no later than/),
    ]);
  });
});
