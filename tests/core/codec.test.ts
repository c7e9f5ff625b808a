import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../core/errors.ts';
import { CSV_HEADER, csvDecoder, jsonlDecoder, labelsPathFor, numericName, txToCsv, txToJsonl } from '../../core/codec.ts';
import { parseCsvLine } from '../../core/csv.ts';
import { generateStream } from '../../producers/world/index.ts';

const sample = [...generateStream({ seed: 21, events: 300, cards: 50, merchants: 60 })].map((e) => e.tx);

describe('CSV and JSONL codecs', () => {
  it('round-trips generated transactions through CSV and JSONL', () => {
    const csv = csvDecoder(parseCsvLine(CSV_HEADER));
    const jsonl = jsonlDecoder();
    sample.forEach((tx, i) => {
      const a = csv.decode(txToCsv(tx), i + 2);
      const b = jsonl.decode(txToJsonl(tx), i + 1);
      expect(a.ok && a.tx).toEqual(tx);
      expect(b.ok && b.tx).toEqual(tx);
    });
  });

  it('parses quoted CSV cells and rejects an unterminated quote', () => {
    expect(parseCsvLine('a,"b, c","say ""hi""",')).toEqual(['a', 'b, c', 'say "hi"', '']);
    expect(() => parseCsvLine('a,"b')).toThrow(/unterminated/);
  });

  it('rejects JSONL rows that carry a label or miss a field, saying why', () => {
    const d = jsonlDecoder();
    const withLabel = d.decode(JSON.stringify({ ...sample[0], isFraud: true }), 1);
    expect(withLabel.ok).toBe(false);
    expect(!withLabel.ok && withLabel.reason).toMatch(/isFraud/);
    const { amountMinor: _drop, ...missing } = sample[0]!;
    const r = d.decode(JSON.stringify(missing), 2);
    expect(!r.ok && r.reason).toMatch(/amountMinor/);
    expect(d.decode('{nope', 3).ok).toBe(false);
  });

  it('labels files sit beside the transactions file', () => {
    expect(labelsPathFor('data/tx.jsonl')).toBe('data/tx.labels.jsonl');
    expect(labelsPathFor('out.csv')).toBe('out.labels.jsonl');
    expect(labelsPathFor('raw')).toBe('raw.labels.jsonl');
  });
});

describe('CSV column mapping', () => {
  const header = ['Time', 'Amount', 'Class', 'Card', 'Shop'];

  it('maps a user CSV and builds labels from a label column', () => {
    const d = csvDecoder(header, { map: 'amount=Amount,time=Time,label=Class,cardId=Card,merchantId=Shop', set: 'currency=GBP,country=GB', timeUnit: 's', timeBase: 1_000_000, labelDelayMs: 5000, idPrefix: 'f' });
    const r = d.decode('12,19.99,1,c-1,s-9', 7);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.tx).toMatchObject({ txId: 'f-7', cardId: 'c-1', merchantId: 's-9', amountMinor: 1999, ts: 1_012_000, currency: 'GBP', country: 'GB', deviceId: null });
    expect(r.label).toMatchObject({ txId: 'f-7', isFraud: true, labeledAt: 1_017_000, source: 'chargeback' });
  });

  it('names the missing column when --map points at a column the header lacks', () => {
    expect(() => csvDecoder(header, { map: 'amount=Amnt,time=Time,cardId=Card' })).toThrow(UserInputError);
    expect(() => csvDecoder(header, { map: 'amount=Amnt,time=Time,cardId=Card' })).toThrow(/column "Amnt" is not in the CSV header \(columns: Time, Amount, Class, Card, Shop\)/);
  });

  it('names an unknown target field and the required fields that are unmapped', () => {
    expect(() => csvDecoder(header, { map: 'price=Amount' })).toThrow(/unknown field "price"/);
    expect(() => csvDecoder(header, { map: 'amount=Amount,time=Time' })).toThrow(/cardId/);
    expect(() => csvDecoder(header, { map: 'cardId=Card,time=Time' })).toThrow(/amount/);
    expect(() => csvDecoder(header, { map: 'cardId=Card,amount=Amount' })).toThrow(/time/);
    expect(() => csvDecoder(header, { map: 'amount' })).toThrow(/--map "amount": expected field=value/);
    expect(() => csvDecoder(header)).toThrow(/not the generate format; map your columns/);
  });

  it('names the column of a bad value in a row', () => {
    const d = csvDecoder(header, { map: 'amount=Amount,time=Time,cardId=Card,label=Class' });
    const bad = d.decode('5,abc,0,c,s', 3);
    expect(!bad.ok && bad.reason).toBe('column "Amount" (amount): "abc" is not a number');
    const badTime = d.decode('yesterday,1,0,c,s', 4);
    expect(!badTime.ok && badTime.reason).toMatch(/column "Time" \(ts\)/);
    const badLabel = d.decode('5,1,maybe,c,s', 5);
    expect(!badLabel.ok && badLabel.reason).toMatch(/column "Class" \(label\)/);
    const short = d.decode('5,1', 6);
    expect(!short.ok && short.reason).toMatch(/expected 5 columns, found 2/);
    const negative = d.decode('5,-3,0,c,s', 7);
    expect(!negative.ok && negative.reason).toMatch(/^column "Amount" \(amount\)/);
  });
});

describe('--extra: numeric columns of a mapped CSV', () => {
  const header = ['id', 'Card', 'Amt', 'When', 'Risk Score', 'velocity'];
  const map = 'txId=id,cardId=Card,amount=Amt,time=When';

  it('reads them into tx.numbers under their numeric names; an empty cell is left out; a bad one rejects the row, naming the column', () => {
    const d = csvDecoder(header, { map, extra: 'Risk Score,velocity' });
    const ok = d.decode('t1,c1,10.5,1700000000000,0.75,3', 2);
    expect(ok.ok && ok.tx.numbers).toEqual({ risk_score: 0.75, velocity: 3 });
    const empty = d.decode('t2,c1,10.5,1700000000000,,3', 3);
    expect(empty.ok && empty.tx.numbers).toEqual({ velocity: 3 });
    const bad = d.decode('t3,c1,10.5,1700000000000,high,3', 4);
    expect(bad).toEqual({ ok: false, reason: 'column "Risk Score" (--extra): "high" is not a number' });
    // a version's spec names them by numeric name: the same columns are found
    const byName = csvDecoder(header, { map, numericNames: ['velocity'] }).decode('t1,c1,10.5,1700000000000,0.75,3', 2);
    expect(byName.ok && byName.tx.numbers).toEqual({ velocity: 3 });
  });

  it('says what to fix: an unknown column, one already mapped, a name no column gives', () => {
    expect(() => csvDecoder(header, { map, extra: 'Nope' })).toThrow(/--extra Nope: column "Nope" is not in the CSV header/);
    expect(() => csvDecoder(header, { map, extra: 'Amt' })).toThrow(/--extra Amt: the column is already mapped to amount/);
    expect(() => csvDecoder(header, { map, numericNames: ['age'] })).toThrow(/reads the extra number "age" \(num_age\), and no column of this file is named so/);
    expect(numericName('Risk Score')).toBe('risk_score');
    expect(numericName('2nd-try')).toBe('c_2nd_try');
  });
});
