import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../core/contracts.ts';
import { FEATURE_NAMES, MemoryFeatureStore, vectorToRecord } from '../../detectors/features.ts';
import { LIMITS, decodeCardState, decodeCardStateInto, emptyCardState, encodeCardState, resetCardState } from '../../detectors/pure/card-state.ts';
import { runBatch } from '../../detectors/pure/batch.ts';
import { applyToState, defaultFeatureContext, featureVector } from '../../detectors/pure/features.ts';
import { hash32, txKey } from '../../detectors/pure/hash.ts';
import { tinyStream } from './tiny-stream.ts';
import { CompiledSpec } from '../../detectors/pure/entity-features.ts';
import { emptyEntityState, type EntityState } from '../../detectors/pure/entity-state.ts';
import { DEFAULT_FEATURE_SPEC } from '../../detectors/pure/feature-spec.ts';

function memoryEntities() {
  const states = new Map<string, EntityState>();
  return { spec: new CompiledSpec(DEFAULT_FEATURE_SPEC), global: emptyEntityState(), load: (k: string) => states.get(k) ?? states.set(k, emptyEntityState()).get(k)!, peek: (k: string) => states.get(k) };
}

const T0 = Date.UTC(2024, 2, 4, 10, 0, 0); // a Monday, 10:00 UTC

function tx(over: Partial<Transaction> & { txId: string }): Transaction {
  return {
    cardId: 'c1',
    merchantId: 'm1',
    merchantName: 'Shop',
    mcc: '5411',
    amountMinor: 1_000,
    currency: 'EUR',
    ts: T0,
    channel: 'card_present',
    country: 'FR',
    lat: 48.85,
    lon: 2.35,
    deviceId: 'd1',
    ...over,
  };
}

function f(v: Float64Array) {
  return vectorToRecord(FEATURE_NAMES, v);
}

async function vectorsOf(txs: Transaction[], batchSizes: number[] = [txs.length]): Promise<Float64Array[]> {
  const store = new MemoryFeatureStore();
  const out: Float64Array[] = [];
  let i = 0;
  let b = 0;
  while (i < txs.length) {
    const size = batchSizes[b++ % batchSizes.length];
    out.push(...(await store.computeAndApply(txs.slice(i, i + size))));
    i += size;
  }
  return out;
}

describe('feature definition', () => {
  it('computes windows, spreads and novelty from prior transactions only', async () => {
    const txs = [
      tx({ txId: 'a', ts: T0, amountMinor: 1_000 }),
      tx({ txId: 'b', ts: T0 + 30_000, amountMinor: 3_000, merchantId: 'm2' }),
      tx({ txId: 'c', ts: T0 + 5 * 60_000, amountMinor: 200, deviceId: 'd2' }),
      tx({ txId: 'd', ts: T0 + 2 * 3_600_000, amountMinor: 100_000, country: 'US', lat: 40.71, lon: -74.0, channel: 'ecommerce', mcc: '4829' }),
    ];
    const [a, b, c, d] = (await vectorsOf(txs)).map(f);

    expect(a.tx_count_24h).toBe(0);
    expect(a.new_device).toBe(1);
    expect(a.new_country).toBe(1);
    expect(a.foreign_country).toBe(0);
    expect(a.card_tx_count_log).toBe(0);
    expect(a.hour_of_day).toBe(10);
    expect(a.day_of_week).toBe(1);
    expect(a.amount_log).toBeCloseTo(Math.log1p(10), 12);
    expect(a.amount_whole).toBe(1);

    expect(b.tx_count_1m).toBe(1);
    expect(b.amount_sum_1m_log).toBeCloseTo(Math.log1p(10), 12);
    expect(b.secs_since_prev_log).toBeCloseTo(Math.log1p(30), 12);
    expect(b.new_device).toBe(0);
    expect(b.new_merchant).toBe(1);
    expect(b.amount_ratio_mean).toBeCloseTo(3, 12);

    expect(c.tx_count_1m).toBe(0);
    expect(c.tx_count_10m).toBe(2);
    expect(c.distinct_merchants_24h).toBe(2);
    expect(c.new_device).toBe(1);
    expect(c.new_merchant).toBe(0);
    expect(c.amount_ratio_max_24h).toBeCloseTo(200 / 3_000, 12);
    expect(c.amount_zscore).toBeLessThan(0);

    expect(d.tx_count_1h).toBe(0);
    expect(d.tx_count_24h).toBe(3);
    expect(d.small_tx_count_1h).toBe(0);
    expect(d.new_country).toBe(1);
    expect(d.foreign_country).toBe(1);
    expect(d.distance_prev_km).toBeGreaterThan(5_800);
    expect(d.distance_prev_km).toBeLessThan(5_900);
    expect(d.speed_prev_kmh).toBeCloseTo(d.distance_prev_km / (115 / 60), 6);
    expect(d.channel_ecommerce).toBe(1);
    expect(d.channel_card_present).toBe(0);
    expect(d.merchant_risk).toBeGreaterThan(a.merchant_risk);
    expect(d.amount_zscore).toBeGreaterThan(2);
  });

  it('does not leak: a transaction keeps its vector when later transactions are added', async () => {
    const items = tinyStream(400, 7).map((i) => i.tx);
    const early = await vectorsOf(items.slice(0, 250));
    const all = await vectorsOf(items);
    for (let i = 0; i < 250; i++) expect(Array.from(all[i])).toEqual(Array.from(early[i]));
  });

  it('gives the same vectors whatever the batching (same card twice in a batch sees the first)', async () => {
    const items = tinyStream(300, 3, { cards: 4 }).map((i) => i.tx);
    const one = await vectorsOf(items, [1]);
    const whole = await vectorsOf(items);
    const mixed = await vectorsOf(items, [7, 1, 33, 2]);
    expect(whole.map((v) => Array.from(v))).toEqual(one.map((v) => Array.from(v)));
    expect(mixed.map((v) => Array.from(v))).toEqual(one.map((v) => Array.from(v)));
    // same card twice in one batch: the second sees the first
    const [, second] = await vectorsOf([tx({ txId: 'x1' }), tx({ txId: 'x2', ts: T0 + 1_000 })]);
    expect(f(second).tx_count_1m).toBe(1);
  });

  it('is idempotent per txId: re-applying returns the first vector and counts nothing twice', async () => {
    const items = tinyStream(120, 5, { cards: 3 }).map((i) => i.tx);
    const store = new MemoryFeatureStore();
    const first = await store.computeAndApply(items.slice(0, 80));
    const again = await store.computeAndApply(items.slice(40, 80)); // replayed after later state exists
    expect(again.map((v) => Array.from(v))).toEqual(first.slice(40, 80).map((v) => Array.from(v)));
    const dupInBatch = await store.computeAndApply([items[80], items[80], items[81]]);
    expect(Array.from(dupInBatch[1])).toEqual(Array.from(dupInBatch[0]));
    const rest = await store.computeAndApply(items.slice(82));
    const clean = await vectorsOf(items);
    expect([...dupInBatch.slice(0, 1), ...dupInBatch.slice(2), ...rest].map((v) => Array.from(v))).toEqual(
      clean.slice(80).map((v) => Array.from(v)),
    );
  });

  it('keeps the last K vectors per card as history, oldest first', async () => {
    const store = new MemoryFeatureStore();
    const txs = Array.from({ length: 5 }, (_, i) => tx({ txId: `h${i}`, ts: T0 + i * 60_000 }));
    const vs = await store.computeAndApply(txs);
    const h = await store.history('c1', 3);
    expect(h.map((v) => Array.from(v))).toEqual(vs.slice(2).map((v) => Array.from(v)));
    expect(await store.history('nobody', 3)).toEqual([]);
    // only transactions strictly before a time (escalate runs behind detect)
    const before = await store.history('c1', 3, T0 + 3 * 60_000);
    expect(before.map((v) => Array.from(v))).toEqual(vs.slice(0, 3).map((v) => Array.from(v)));
  });

  it('keeps card state bounded and encodes it losslessly', () => {
    const s = emptyCardState();
    for (let i = 0; i < 2_000; i++) {
      const t = tx({ txId: `b${i}`, ts: T0 + i * 1_000, merchantId: `m${i}`, deviceId: `d${i}`, country: i % 2 ? 'FR' : 'DE', amountMinor: 137 * i });
      featureVector(s, t);
      applyToState(s, t, txKey(t.txId));
    }
    expect(s.evTs.length).toBeLessThanOrEqual(LIMITS.events);
    expect(s.merchants.length).toBe(LIMITS.merchants);
    expect(s.devices.length).toBe(LIMITS.devices);
    expect(s.applied.length).toBe(LIMITS.applied);
    const blob = encodeCardState(s);
    expect(blob.byteLength).toBeLessThan(2_600);
    const back = decodeCardState(blob);
    expect(back).toEqual(s);
    const next = tx({ txId: 'next', ts: T0 + 2_001_000, amountMinor: 999 });
    expect(Array.from(featureVector(back, next))).toEqual(Array.from(featureVector(s, next)));
  });

  it('decodes into a reused state exactly as into a fresh one, and resets it to empty', () => {
    const big = emptyCardState();
    const small = emptyCardState();
    for (let i = 0; i < 300; i++) {
      const t = tx({ txId: `u${i}`, ts: T0 + i * 60_000, merchantId: `m${i % 40}`, deviceId: i % 5 ? `d${i % 11}` : null, country: i % 3 ? 'FR' : 'ES', amountMinor: 50 + 13 * i });
      featureVector(big, t);
      applyToState(big, t, txKey(t.txId));
      if (i < 3) applyToState(small, t, txKey(t.txId));
    }
    const reused = decodeCardState(encodeCardState(big));
    expect(decodeCardStateInto(encodeCardState(small), reused)).toEqual(small);
    expect(reused.evTs.length).toBe(3);
    expect(decodeCardStateInto(encodeCardState(big), reused)).toEqual(big);
    expect(resetCardState(reused)).toEqual(emptyCardState());
  });

  it('keeps identities in least-recently-seen order, dropping the oldest past the cap', () => {
    const s = emptyCardState();
    const seq = ['d1', 'd2', 'd3', 'd1', 'd4', 'd2', 'd5', 'd6', 'd7', 'd8', 'd9', 'd3', 'd10'];
    seq.forEach((d, i) => applyToState(s, tx({ txId: `l${i}`, ts: T0 + i * 1_000, deviceId: d }), txKey(`l${i}`)));
    // A list re-derived the obvious way: remove if present, append, keep the last LIMITS.devices.
    let expected: string[] = [];
    for (const d of seq) expected = [...expected.filter((x) => x !== d), d].slice(-LIMITS.devices);
    expect(s.devices).toEqual(expected.map((d) => hash32(d)));
    expect(expected).toEqual(['d2', 'd5', 'd6', 'd7', 'd8', 'd9', 'd3', 'd10']);
  });

  it('returns each vector of a batch as its own view: writing one leaves the others alone', async () => {
    const txs = Array.from({ length: 6 }, (_, i) => tx({ txId: `v${i}`, cardId: `c${i % 2}`, ts: T0 + i * 30_000, amountMinor: 100 * (i + 1) }));
    const outcome = runBatch(txs, (() => {
      const states = new Map<string, ReturnType<typeof emptyCardState>>();
      return (id: string) => states.get(id) ?? states.set(id, emptyCardState()).get(id)!;
    })(), defaultFeatureContext, memoryEntities());
    const before = outcome.vectors.map((v) => Array.from(v!));
    expect(before.every((v) => v.length === FEATURE_NAMES.length)).toBe(true);
    expect(before).toEqual(await vectorsOf(txs).then((vs) => vs.map((v) => Array.from(v))));
    outcome.vectors[2]!.fill(-1);
    expect(outcome.vectors.map((v, i) => (i === 2 ? before[2] : Array.from(v!)))).toEqual(before);
  });

  it('has one name per vector slot', () => {
    expect(new Set(FEATURE_NAMES).size).toBe(FEATURE_NAMES.length);
    expect(featureVector(emptyCardState(), tx({ txId: 'z' })).length + new CompiledSpec(DEFAULT_FEATURE_SPEC).width).toBe(FEATURE_NAMES.length);
    expect(new MemoryFeatureStore().computeAndApplySync([tx({ txId: 'z' })])[0].length).toBe(FEATURE_NAMES.length);
  });
});
