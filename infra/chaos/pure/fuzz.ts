/**
 * Fuzzed input for the chaos suite: seeded, so a failing run can be replayed byte for byte. Every message says
 * what the pipeline owes it: a decision (`valid`), a dead letter (`invalid`, or `conflict` for a second message
 * with a decided tx id and different content), or nothing new (`repeat`: the same bytes again).
 */
import type { Transaction } from '../../../core/contracts.ts';
import { Rng } from '../../../producers/world/index.ts';

export const FuzzExpect = { VALID: 'valid', INVALID: 'invalid', CONFLICT: 'conflict', REPEAT: 'repeat' } as const;
export type FuzzExpect = (typeof FuzzExpect)[keyof typeof FuzzExpect];

export const FUZZ_KINDS = [
  'random-bytes',
  'wrong-type',
  'missing-field',
  'extra-field',
  'huge-number',
  'non-finite',
  'bidi-valid',
  'bidi-invalid',
  'deep-nesting',
  'edge-valid',
  'empty',
  'conflicting-duplicate',
  'identical-duplicate',
] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

export interface FuzzMessage {
  kind: FuzzKind;
  expect: FuzzExpect;
  /** Kafka key; random bytes for some invalid messages, the card for duplicates (same partition as the original). */
  key: Buffer | null;
  /** null is a tombstone (no value at all). */
  value: Buffer | null;
  /** For valid, conflict and repeat messages. */
  txId?: string;
  cardId?: string;
}

export interface FuzzOptions {
  seed: number;
  count: number;
  /** Transactions already sent as JSON.stringify(tx): the targets of duplicates. Without them no duplicates are made. */
  originals: readonly Transaction[];
  /** Makes the fuzz's own tx ids and cards unique to a run. */
  tag: string;
}

/** Relative weights; duplicates need originals. */
const WEIGHTS: Record<FuzzKind, number> = {
  'random-bytes': 14,
  'wrong-type': 14,
  'missing-field': 6,
  'extra-field': 5,
  'huge-number': 9,
  'non-finite': 8,
  'bidi-valid': 6,
  'bidi-invalid': 6,
  'deep-nesting': 4,
  'edge-valid': 8,
  empty: 0,
  'conflicting-duplicate': 12,
  'identical-duplicate': 8,
};

const BIDI = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'];

const REQUIRED: ReadonlyArray<keyof Transaction> = ['txId', 'cardId', 'merchantId', 'merchantName', 'mcc', 'amountMinor', 'currency', 'ts', 'channel', 'country', 'lat', 'lon', 'deviceId'];

/** Values of the wrong type (or out of the field's rules) for each field. */
const WRONG: Record<keyof Transaction, unknown[]> = {
  txId: [42, null, '', 'x'.repeat(129), { id: 1 }, ['a']],
  cardId: [7, null, '', true],
  merchantId: [false, 3.5, ''],
  merchantName: [12, null, 'n'.repeat(201), ['a', 'b']],
  mcc: [5411, '541', '54111', 'abcd', null],
  amountMinor: ['1000', -1, 12.5, null, true, [100]],
  currency: ['eur', 'EURO', 978, '', null],
  ts: ['2025-01-01', -5, 1.5, null],
  channel: ['pos', 0, null, 'CARD_PRESENT'],
  country: ['fra', 'F', 33, null],
  lat: [91, -90.5, '48.8', null],
  lon: [180.01, -181, '2.3', {}],
  deviceId: [123, '', ['d'], {}],
  entities: [{ IP: '1.2.3.4' }, { ip: '' }, 'ip', [1]],
  numbers: [{ Amount2: 1 }, { x: 'NaN' }, { x: null }, 7],
};

function bidi(rng: Rng, text: string): string {
  const at = rng.int(text.length + 1);
  return text.slice(0, at) + rng.pick(BIDI) + text.slice(at) + rng.pick(BIDI);
}

export function fuzzMessages(opts: FuzzOptions): FuzzMessage[] {
  if (!Number.isInteger(opts.count) || opts.count < 0) throw new Error(`fuzz count must be a non-negative integer, got ${opts.count}`);
  const rng = new Rng(opts.seed, 91);
  const kinds = FUZZ_KINDS.filter((k) => WEIGHTS[k] > 0 && (opts.originals.length > 0 || !k.endsWith('duplicate')));
  const cum: number[] = [];
  kinds.reduce((s, k) => (cum.push(s + WEIGHTS[k]), s + WEIGHTS[k]), 0);
  const out: FuzzMessage[] = [];
  // A tombstone and an empty value: both are "no JSON at all", once each.
  if (opts.count > 0) out.push({ kind: 'empty', expect: 'invalid', key: null, value: null });
  if (opts.count > 1) out.push({ kind: 'empty', expect: 'invalid', key: Buffer.from(`empty-${opts.tag}`), value: Buffer.alloc(0) });
  for (let i = out.length; i < opts.count; i++) out.push(one(rng, kinds[rng.weighted(cum)]!, i, opts));
  return out;
}

function base(i: number, tag: string, rng: Rng): Transaction {
  return {
    txId: `fz-${tag}-${i}`,
    cardId: `fz-${tag}-card-${i % 97}`,
    merchantId: `fz-m-${rng.int(50)}`,
    merchantName: `Fuzz Merchant ${rng.int(50)}`,
    mcc: rng.pick(['5411', '5812', '5999', '6011', '4829']),
    amountMinor: rng.between(1, 50_000),
    currency: 'EUR',
    ts: 1_736_121_600_000 + i * 1_000,
    channel: rng.pick(['card_present', 'ecommerce', 'atm'] as const),
    country: rng.pick(['FR', 'DE', 'NL', 'ES']),
    lat: rng.uniform(-60, 60),
    lon: rng.uniform(-120, 120),
    deviceId: rng.chance(0.5) ? `fz-dev-${rng.int(30)}` : null,
  };
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const keyOf = (tx: { cardId: string }) => Buffer.from(tx.cardId);

function one(rng: Rng, kind: FuzzKind, i: number, opts: FuzzOptions): FuzzMessage {
  const tx = base(i, opts.tag, rng);
  switch (kind) {
    case 'random-bytes': {
      const len = rng.chance(0.9) ? rng.between(1, 300) : rng.between(301, 4_000);
      const value = Buffer.alloc(len);
      for (let j = 0; j < len; j++) value[j] = rng.int(256);
      // A leading NUL keeps random bytes from ever being JSON (JSON text cannot start with one).
      value[0] = 0;
      const key = rng.chance(0.5) ? null : Buffer.from(Array.from({ length: rng.between(1, 40) }, () => rng.int(256)));
      return { kind, expect: 'invalid', key, value };
    }
    case 'wrong-type': {
      const field = rng.pick(REQUIRED);
      const bad = { ...tx, [field]: rng.pick(WRONG[field]) };
      return { kind, expect: 'invalid', key: keyOf(tx), value: json(bad) };
    }
    case 'missing-field': {
      const field = rng.pick(REQUIRED);
      const copy: Record<string, unknown> = { ...tx };
      delete copy[field];
      return { kind, expect: 'invalid', key: keyOf(tx), value: json(copy) };
    }
    case 'extra-field':
      // Ground truth must never travel inside a transaction: the schema is strict.
      return { kind, expect: 'invalid', key: keyOf(tx), value: json({ ...tx, [rng.pick(['isFraud', 'scenario', '__proto_x', 'extra'])]: rng.chance(0.5) }) };
    case 'huge-number': {
      const [field, value] = rng.pick<[keyof Transaction, number]>([
        ['amountMinor', 1e300],
        ['amountMinor', 2 ** 60],
        ['amountMinor', Number.MAX_SAFE_INTEGER + 2],
        ['ts', 9e99],
        ['lat', 1e308],
        ['lon', -1e308],
        ['amountMinor', Number.MIN_VALUE],
      ]);
      return { kind, expect: 'invalid', key: keyOf(tx), value: json({ ...tx, [field]: value }) };
    }
    case 'non-finite': {
      // JSON has no Infinity or NaN: write the text by hand. 1e999 parses to Infinity, NaN does not parse at all.
      const field = rng.pick(['amountMinor', 'ts', 'lat', 'lon'] as const);
      const token = rng.pick(['1e999', '-1e999', 'NaN', 'Infinity', '-Infinity']);
      const text = JSON.stringify({ ...tx, [field]: 0 }).replace(`"${field}":0`, `"${field}":${token}`);
      return { kind, expect: 'invalid', key: keyOf(tx), value: Buffer.from(text) };
    }
    case 'bidi-valid': {
      // Id fields accept any characters: these must be decided, and shown safely. (Merchant names refuse bidi
      // controls since issue 12: they are display text, where an override makes a name read as another.)
      const v: Transaction = { ...tx, txId: bidi(rng, tx.txId), merchantId: rng.chance(0.5) ? bidi(rng, tx.merchantId) : tx.merchantId };
      return { kind, expect: 'valid', key: keyOf(v), value: json(v), txId: v.txId, cardId: v.cardId };
    }
    case 'bidi-invalid': {
      const field = rng.pick(['currency', 'country', 'mcc', 'merchantName'] as const);
      // A merchant name may hold letter marks (LRM, RLM, ALM): give it an override or isolate, which it may not.
      const value = field === 'merchantName' ? bidi(rng, tx.merchantName) + rng.pick(BIDI.slice(0, 9)) : bidi(rng, tx[field]);
      return { kind, expect: 'invalid', key: keyOf(tx), value: json({ ...tx, [field]: value }) };
    }
    case 'deep-nesting': {
      const depth = rng.chance(0.8) ? rng.between(20, 2_000) : rng.between(10_000, 50_000);
      const nested = '['.repeat(depth) + '"x"' + ']'.repeat(depth);
      const field = rng.pick(['merchantName', 'deviceId', 'amountMinor'] as const);
      const text = JSON.stringify({ ...tx, [field]: 0 }).replace(`"${field}":0`, `"${field}":${nested}`);
      return { kind, expect: 'invalid', key: keyOf(tx), value: Buffer.from(text) };
    }
    case 'edge-valid': {
      const v: Transaction = rng.pick<Transaction>([
        { ...tx, amountMinor: 0 },
        { ...tx, amountMinor: Number.MAX_SAFE_INTEGER },
        { ...tx, lat: 90, lon: -180 },
        { ...tx, lat: -90, lon: 180 },
        { ...tx, merchantName: 'M'.repeat(200) },
        { ...tx, merchantName: '' },
        { ...tx, merchantName: 'Café 東京 🍣 <script>alert(1)</script>' },
        { ...tx, txId: `${tx.txId}-${'é'.repeat(60)}`.slice(0, 128) },
        { ...tx, deviceId: null, ts: 0 },
      ]);
      return { kind, expect: 'valid', key: keyOf(v), value: json(v), txId: v.txId, cardId: v.cardId };
    }
    case 'conflicting-duplicate': {
      const orig = rng.pick(opts.originals);
      const changed: Transaction = rng.chance(0.5)
        ? { ...orig, amountMinor: orig.amountMinor + rng.between(1, 100_000) }
        : { ...orig, merchantName: `${orig.merchantName} (copy ${i})` };
      return { kind, expect: 'conflict', key: keyOf(orig), value: json(changed), txId: orig.txId, cardId: orig.cardId };
    }
    case 'identical-duplicate': {
      const orig = rng.pick(opts.originals);
      return { kind, expect: 'repeat', key: keyOf(orig), value: json(orig), txId: orig.txId, cardId: orig.cardId };
    }
    case 'empty':
      return { kind, expect: 'invalid', key: null, value: Buffer.alloc(0) };
  }
}
