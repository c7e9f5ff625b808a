import { describe, expect, it } from 'vitest';
import type { Label, Transaction } from '../../core/contracts.ts';
import { FEATURE_NAMES, MemoryFeatureStore } from '../../detectors/features.ts';
import { arrivalBatches } from '../helpers/arrival.ts';
import { DEFAULT_FEATURE_SPEC, parseFeatureSpec } from '../../detectors/pure/feature-spec.ts';
import { delayedStream } from './delayed-stream.ts';

const DAY = 86_400_000;
const col = (name: string) => {
  const i = FEATURE_NAMES.indexOf(name);
  if (i < 0) throw new Error(`no feature ${name}`);
  return i;
};

/** Replays the stream in arrival order (labels delivered `aheadMs` before their labeledAt) through a memory store. */
function replay(txs: Transaction[], labels: Label[], batch: number, aheadMs = 0): Float64Array[] {
  const store = new MemoryFeatureStore();
  const out: Float64Array[] = new Array(txs.length);
  const shifted = labels.map((l) => ({ ...l, labeledAt: l.labeledAt - aheadMs }));
  const original = new Map(labels.map((l) => [l.txId, l.labeledAt]));
  for (const step of arrivalBatches(txs, shifted, batch)) {
    if (step.kind === 'labels') store.applyLabelsSync(step.labels.map((l) => ({ ...l, labeledAt: original.get(l.txId) as number })));
    else store.computeAndApplySync(step.txs).forEach((v, j) => (out[step.first + j] = v));
  }
  return out;
}

describe('label-risk features', () => {
  const { txs, labels } = delayedStream({ days: 40, customers: 60, terminals: 30, seed: 5 });

  it('count, per merchant, the fraud labels of the delayed window that have arrived, as a brute-force reading of the definition does', () => {
    const vs = replay(txs, labels, 64);
    const delay = DEFAULT_FEATURE_SPEC.labelDelayDays;
    const windows = [1, 7, 30];
    let nonZero = 0;
    txs.forEach((tx, i) => {
      const today = Math.floor(tx.ts / DAY);
      for (const w of windows) {
        let want = 0;
        let count = 0;
        for (const l of labels) {
          const d = Math.floor((l.txTs as number) / DAY);
          if (l.isFraud && l.merchantId === tx.merchantId && l.labeledAt <= tx.ts && d > today - delay - w && d <= today - delay) want++;
        }
        for (let j = 0; j < i; j++) {
          const d = Math.floor(txs[j].ts / DAY);
          if (txs[j].merchantId === tx.merchantId && d > today - delay - w && d <= today - delay) count++;
        }
        expect(vs[i][col(`merchant_fraud_count_${w}d_delayed`)]).toBe(want);
        if (want > 0) {
          nonZero++;
          expect(vs[i][col(`merchant_fraud_rate_${w}d_delayed`)]).toBeGreaterThan(0);
          expect(vs[i][col(`merchant_fraud_rate_${w}d_delayed`)]).toBeLessThanOrEqual((want + DEFAULT_FEATURE_SPEC.smoothing) / (count + DEFAULT_FEATURE_SPEC.smoothing));
        }
        expect(vs[i][col(`merchant_count_${w}d`)]).toBe(txs.slice(0, i).filter((t) => t.merchantId === tx.merchantId && Math.floor(t.ts / DAY) > today - w).length);
      }
    });
    expect(nonZero).toBeGreaterThan(100);
  });

  it('never let a label change the vector of a transaction before its arrival, even when labels are read days early', () => {
    const inOrder = replay(txs, labels, 50);
    const early = replay(txs, labels, 50, 2 * DAY);
    expect(early.map((v) => Array.from(v))).toEqual(inOrder.map((v) => Array.from(v)));
    // and the labels did matter: without them the risk columns are all zero
    const none = replay(txs, [], 50);
    const c = col('merchant_fraud_count_30d_delayed');
    expect(none.every((v) => v[c] === 0)).toBe(true);
    expect(inOrder.some((v) => v[c] > 0)).toBe(true);
  });

  it('count a transaction\'s fraud once however many fraud labels it gets, and ignore legit labels', () => {
    const store = new MemoryFeatureStore();
    const fraud = labels.filter((l) => l.isFraud).slice(0, 5);
    const legit = labels.filter((l) => !l.isFraud).slice(0, 5);
    expect(store.applyLabelsSync([...fraud, ...legit])).toBe(5);
    expect(store.applyLabelsSync(fraud.map((l) => ({ ...l, source: 'analyst' as const })))).toBe(0);
    expect(store.applyLabelsSync([{ ...fraud[0], txId: 'no-time', txTs: undefined }])).toBe(0);
  });

  it('give the batching no say in the vectors', () => {
    const a = replay(txs, labels, 1);
    const b = replay(txs, labels, 500);
    expect(b.map((v) => Array.from(v))).toEqual(a.map((v) => Array.from(v)));
  });

  it('refuse a spec with a clear message naming the path', () => {
    expect(() => parseFeatureSpec({ ...DEFAULT_FEATURE_SPEC, entities: [{ ...DEFAULT_FEATURE_SPEC.entities[0], windowsDays: [0.5] }] })).toThrow(/entities\.0\.windowsDays\.0: whole days/);
    expect(() => parseFeatureSpec({ ...DEFAULT_FEATURE_SPEC, entities: [{ ...DEFAULT_FEATURE_SPEC.entities[0], field: 'ip' }] })).toThrow(/entities\.0\.field: one of cardId/);
    expect(() => parseFeatureSpec({ ...DEFAULT_FEATURE_SPEC, entities: [DEFAULT_FEATURE_SPEC.entities[0], DEFAULT_FEATURE_SPEC.entities[0]] })).toThrow(/declared twice/);
  });
});

describe('daily card precision@k', () => {
  it('counts each day\'s top-k cards by their best score, drops cards already caught, and a perfect ranking is its ceiling', async () => {
    const { dailyCardPrecisionAtK } = await import('../../detectors/pure/metrics.ts');
    const day = (d: number, h = 0) => Date.UTC(2025, 0, 1 + d, h);
    // day 0: cards a (fraud), b, c; day 1: a again (fraud, already caught), d (fraud)
    const cards = ['a', 'b', 'c', 'a', 'd', 'b'];
    const ts = [day(0), day(0, 1), day(0, 2), day(1), day(1, 1), day(1, 2)];
    const labels = [1, 0, 0, 1, 1, 0];
    const scores = [0.9, 0.8, 0.1, 0.99, 0.2, 0.5];
    // k=1: day 0 picks a (hit: 1/1); day 1 a is known, picks b (0.5) over d (0.2): 0/1 -> mean 0.5
    expect(dailyCardPrecisionAtK(scores, labels, ts, cards, 1)).toBe(0.5);
    expect(dailyCardPrecisionAtK(labels, labels, ts, cards, 1)).toBe(1);
    // k=2: day 0 a, b: 1/2; day 1 b, d: 1/2
    expect(dailyCardPrecisionAtK(scores, labels, ts, cards, 2)).toBe(0.5);
  });
});
