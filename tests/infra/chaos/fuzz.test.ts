import { describe, expect, it } from 'vitest';
import { TransactionSchema } from '../../../core/contracts.ts';
import { FUZZ_KINDS, fuzzMessages, type FuzzMessage } from '../../../infra/chaos/pure/fuzz.ts';
import { testTransactions } from '../../helpers/transactions.ts';

const originals = testTransactions(200, { prefix: 'orig' });
const bytes = (ms: FuzzMessage[]) => ms.map((m) => `${m.key?.toString('hex') ?? '-'}/${m.value?.toString('hex') ?? '-'}`);

/** What the pipeline's validation makes of a message: parsed transaction, or undefined for the DLQ. */
function parse(m: FuzzMessage) {
  let json: unknown;
  try {
    json = JSON.parse(m.value?.toString('utf8') ?? '');
  } catch {
    return undefined;
  }
  const r = TransactionSchema.safeParse(json);
  return r.success ? r.data : undefined;
}

describe('fuzz generator', () => {
  it('is deterministic: same seed, same bytes; another seed, other bytes', () => {
    const a = fuzzMessages({ seed: 7, count: 2_000, originals, tag: 't' });
    const b = fuzzMessages({ seed: 7, count: 2_000, originals, tag: 't' });
    const c = fuzzMessages({ seed: 8, count: 2_000, originals, tag: 't' });
    expect(bytes(a)).toEqual(bytes(b));
    expect(bytes(c)).not.toEqual(bytes(a));
    expect(a).toHaveLength(2_000);
  });

  it('makes every kind, and each message is what it claims to be for the real schema', () => {
    const ms = fuzzMessages({ seed: 11, count: 10_000, originals, tag: 'k' });
    expect(new Set(ms.map((m) => m.kind))).toEqual(new Set(FUZZ_KINDS));
    const byTx = new Map(originals.map((t) => [t.txId, t]));
    const wrong: string[] = [];
    const fail = (m: FuzzMessage, why: string) => wrong.push(`${m.kind}/${m.expect}: ${why}: ${m.value?.toString('utf8').slice(0, 100)}`);
    for (const m of ms) {
      const tx = parse(m);
      if (m.expect === 'invalid' && tx) fail(m, 'passes validation');
      if (m.expect === 'valid' && (!tx || tx.txId !== m.txId || byTx.has(tx.txId))) fail(m, 'not a fresh valid transaction');
      if (m.expect === 'conflict') {
        const orig = byTx.get(m.txId!);
        if (!tx || !orig || tx.txId !== orig.txId || tx.cardId !== orig.cardId || m.key?.toString() !== orig.cardId) fail(m, 'not a copy of an original on its card');
        else if (JSON.stringify(tx) === JSON.stringify(orig)) fail(m, 'same content as the original');
      }
      if (m.expect === 'repeat' && m.value?.toString('utf8') !== JSON.stringify(byTx.get(m.txId!))) fail(m, 'not the original bytes');
    }
    expect(wrong).toEqual([]);
  });

  it('includes the hard cases the issue names', () => {
    const ms = fuzzMessages({ seed: 3, count: 10_000, originals, tag: 'h' });
    const text = (m: FuzzMessage) => m.value?.toString('utf8') ?? '';
    expect(ms.some((m) => /[\u202a-\u202e\u2066-\u2069]/.test(text(m)) && m.expect === 'valid')).toBe(true);
    expect(ms.some((m) => text(m).includes('1e999'))).toBe(true);
    expect(ms.some((m) => text(m).includes('[['.repeat(5_000)))).toBe(true);
    expect(ms.some((m) => m.value === null)).toBe(true);
    // Fresh valid tx ids never collide, or "exactly one decision each" could not be judged.
    const fresh = ms.filter((m) => m.expect === 'valid').map((m) => m.txId);
    expect(new Set(fresh).size).toBe(fresh.length);
  });

  it('makes no duplicates without originals', () => {
    const ms = fuzzMessages({ seed: 1, count: 500, originals: [], tag: 'n' });
    expect(ms.some((m) => m.expect === 'conflict' || m.expect === 'repeat')).toBe(false);
  });
});
