import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  binCounts,
  binIndex,
  buildDriftReference,
  DriftAccumulator,
  driftCounts,
  driftReport,
  parseDriftHash,
  psi,
  quantileEdges,
  SCORE_ENTRIES,
} from '../../detectors/pure/drift.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { FEATURE_NAMES, MemoryFeatureStore } from '../../detectors/features.ts';
import { generateStream } from '../../producers/world/index.ts';
import { datasetFromEvents, trainModels } from '../../detectors/trainer.ts';
import { loadModelVersion } from '../../detectors/model-version.ts';
import { DRIFT_REFERENCE_FILE, loadDriftReference } from '../../detectors/drift.ts';
import { worldSnapshot } from '../../detectors/commands.ts';
import { tinyStream } from './tiny-stream.ts';

const normal = (rand: () => number, mean = 0, sd = 1) => mean + sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
const sample = (n: number, seed: number, mean = 0, sd = 1) => {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => normal(r, mean, sd));
};

describe('binIndex', () => {
  it('puts x in the bin whose upper edge is the first edge >= x', () => {
    const edges = [0, 1, 5];
    expect([-3, 0, 0.5, 1, 1.0001, 5, 5.1, Infinity, -Infinity].map((x) => binIndex(edges, x))).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 0]);
    expect(binIndex([], 42)).toBe(0);
    expect(binIndex(edges, NaN)).toBe(0);
  });

  it('agrees with a linear scan on random edges and values', () => {
    const r = mulberry32(3);
    for (let t = 0; t < 200; t++) {
      const edges = [...new Set(Array.from({ length: 1 + Math.floor(r() * 12) }, () => Math.round(r() * 20) / 2))].sort((a, b) => a - b);
      const x = Math.round(r() * 24 - 2) / 2;
      expect(binIndex(edges, x)).toBe(edges.filter((e) => e < x).length);
    }
  });
});

describe('quantileEdges', () => {
  it('cuts a continuous sample into ~equal tenths', () => {
    const xs = sample(10_000, 1);
    const edges = quantileEdges(xs, 10);
    expect(edges).toHaveLength(9);
    for (const c of binCounts(edges, xs)) expect(c).toBe(1_000);
  });

  it('gives a flag one cut at 0 (zeros vs ones) and a constant no cut', () => {
    const flag = Float64Array.from({ length: 1000 }, (_, i) => (i % 20 === 0 ? 1 : 0));
    expect(quantileEdges(flag)).toEqual([0]);
    expect(binCounts([0], flag)).toEqual([950, 50]);
    expect(quantileEdges(new Float64Array(100).fill(3))).toEqual([]);
    expect(quantileEdges([])).toEqual([]);
  });
});

describe('psi', () => {
  it('is 0 for identical shares, ~0 for a fresh sample of the same distribution, large for a shifted one', () => {
    const ref = sample(20_000, 1);
    const edges = quantileEdges(ref);
    const shares = binCounts(edges, ref).map((c) => c / ref.length);
    expect(psi(shares, shares.map((s) => s * 500))).toBeCloseTo(0, 12);
    const same = psi(shares, binCounts(edges, sample(5_000, 2)));
    const shifted = psi(shares, binCounts(edges, sample(5_000, 3, 0.5)));
    const wider = psi(shares, binCounts(edges, sample(5_000, 4, 0, 2)));
    expect(same).toBeLessThan(0.01);
    expect(shifted).toBeGreaterThan(0.2);
    expect(wider).toBeGreaterThan(0.2);
  });

  it('matches the formula by hand and stays finite with empty bins', () => {
    // (0.5-0.25)ln(0.5/0.25) + (0.5-0.75)ln(0.5/0.75)
    expect(psi([0.25, 0.75], [5, 5])).toBeCloseTo(0.25 * Math.log(2) - 0.25 * Math.log(2 / 3), 12);
    const p = psi([0.5, 0.5, 0], [0, 10, 0]);
    expect(Number.isFinite(p)).toBe(true);
    expect(p).toBeGreaterThan(2);
    expect(psi([0.5, 0.5], [0, 0])).toBeNaN();
    expect(() => psi([1], [1, 2])).toThrow(/bins/);
  });
});

describe('DriftAccumulator', () => {
  const names = ['a', 'flag'];
  const rows = Array.from({ length: 1000 }, (_, i) => Float64Array.of(i, i % 10 === 0 ? 1 : 0));
  const ref = buildDriftReference(names, rows, { isolationForest: rows.map((_, i) => i / 1000), xgboost: rows.map((_, i) => (i % 2) * 0.9), slice: 'validation' });

  it('counts rows per entry and bin, drains and starts again from zero', () => {
    const acc = new DriftAccumulator(ref, names);
    acc.observe([Float64Array.of(-5, 0), Float64Array.of(2000, 1), undefined], [{ isolationForest: 0, xgboost: 0.9 }, { isolationForest: 1, xgboost: 0 }, { isolationForest: 0.5, xgboost: 0.5 }]);
    expect(acc.rows).toBe(2);
    const first = acc.drain();
    const aBins = ref.entries[0]!.edges.length + 1;
    expect(first.a).toEqual([1, ...new Array(aBins - 2).fill(0), 1]);
    expect(first.flag).toEqual([1, 1]);
    expect(first[SCORE_ENTRIES.xgboost]).toEqual([1, 1]);
    expect(first[SCORE_ENTRIES.isolationForest]!.reduce((x, y) => x + y)).toBe(2);
    expect(acc.rows).toBe(0);
    expect(acc.drain()).toEqual({});
    acc.observe([Float64Array.of(500, 0)], [undefined]);
    const second = acc.drain();
    expect(second.a!.reduce((x, y) => x + y)).toBe(1);
    expect(second[SCORE_ENTRIES.xgboost]).toEqual([0, 0]);
  });

  it('follows the model\'s feature order and skips features the reference lacks', () => {
    const acc = new DriftAccumulator(ref, ['flag', 'unknown', 'a']);
    acc.observe([Float64Array.of(1, 99, -5)], [undefined]);
    const c = acc.drain();
    expect(c.flag).toEqual([0, 1]);
    expect(c.a![0]).toBe(1);
    expect(c.unknown).toBeUndefined();
  });

  it('gives PSI ~0 for the training distribution and high for a shifted one, through the report', () => {
    const same = new DriftAccumulator(ref, names);
    same.observe(rows, rows.map((_, i) => ({ isolationForest: i / 1000, xgboost: (i % 2) * 0.9 })));
    const r0 = driftReport(ref, same.drain());
    for (const row of r0) expect(row.psi).toBeCloseTo(0, 9);
    const moved = new DriftAccumulator(ref, names);
    moved.observe(rows.map((v) => Float64Array.of(v[0]! + 300, 1)), rows.map(() => ({ isolationForest: 0.99, xgboost: 0.9 })));
    const r1 = driftReport(ref, moved.drain());
    expect(r1.map((r) => r.status)).toEqual(['shifted', 'shifted', 'shifted', 'shifted']);
    expect(r1[0]!.psi!).toBeGreaterThanOrEqual(r1[3]!.psi!);
    expect(driftCounts(r1)).toEqual({ shifted: 4, moderate: 0, expected: 0 });
  });
});

describe('the Redis hash format', () => {
  it('parses fields back into counts, names with ":" included, ignoring junk', () => {
    expect(parseDriftHash({ '_rows': '7', 'a:0': '3', 'a:2': '4', 'x:y:1': '2', 'bad': '1', 'a:zz': '1' })).toEqual({ rows: 7, counts: { a: [3, 0, 4], 'x:y': [0, 2] } });
  });
});

/** A world stream's feature vectors; the first half is the reference, the second half "live". */
function halves(drift: boolean): { ref: Float64Array[]; live: Float64Array[] } {
  const n = 12_000;
  const store = new MemoryFeatureStore();
  const txs = Array.from(generateStream({ seed: 7, events: n, cards: 600, drift, driftAfterEvents: n / 2 }), (e) => e.tx);
  const vectors: Float64Array[] = [];
  for (let i = 0; i < n; i += 1_000) vectors.push(...store.computeAndApplySync(txs.slice(i, i + 1_000)));
  return { ref: vectors.slice(0, n / 2), live: vectors.slice(n / 2) };
}

function featurePsi(drift: boolean): Record<string, number> {
  const { ref, live } = halves(drift);
  const reference = buildDriftReference(FEATURE_NAMES, ref, { isolationForest: [], xgboost: [], slice: 'validation' });
  const acc = new DriftAccumulator(reference, FEATURE_NAMES);
  for (let i = 0; i < live.length; i += 500) acc.observe(live.slice(i, i + 500), []);
  const counts: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(acc.drain())) counts[k] = v;
  return Object.fromEntries(driftReport(reference, counts).filter((r) => r.kind === 'feature').map((r) => [r.name, r.psi ?? NaN]));
}

describe('end to end on the generated world: the holiday drift switch', () => {
  const without = featurePsi(false);
  const withDrift = featurePsi(true);

  it('behaviour the drift changes (merchant mix, online share, amounts) moves clearly only with drift', () => {
    // Measured: merchant_risk 0.002 -> 0.198, channel_ecommerce 0.001 -> 0.256, amount_log 0.002 -> 0.154 (12 features above 0.1 only with drift).
    for (const f of ['merchant_risk', 'channel_ecommerce', 'amount_log']) {
      expect(without[f]).toBeLessThan(0.02);
      expect(withDrift[f]).toBeGreaterThan(0.05);
      expect(withDrift[f]! / without[f]!).toBeGreaterThan(5);
    }
    expect(Math.max(withDrift.merchant_risk!, withDrift.channel_ecommerce!)).toBeGreaterThan(0.1);
    const moved = Object.keys(without).filter((f) => withDrift[f]! > 0.1 && without[f]! < 0.05);
    expect(moved.length).toBeGreaterThanOrEqual(4);
  });
});

describe('the trainer stores a reference and the loaded model exposes it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fraudstream-drift-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes drift-reference.json with bins for every feature and both scores; the card mentions it', async () => {
    const ds = datasetFromEvents(tinyStream(6_000, 2), { novelScenarios: new Set() });
    const result = await trainModels(ds, { modelDir: dir, heavy: { enabled: false }, xgboost: { iterations: 20 }, forest: { trees: 20 } });
    const ref = await loadDriftReference(result.dir);
    expect(ref).toBeDefined();
    expect(ref!.entries.map((e) => e.name)).toEqual([...FEATURE_NAMES, SCORE_ENTRIES.isolationForest, SCORE_ENTRIES.xgboost]);
    const trainRows = result.card.split.train.rows;
    for (const e of ref!.entries) {
      expect(e.shares.length).toBe(e.edges.length + 1);
      expect(e.edges.length).toBeLessThanOrEqual(9);
      expect(e.shares.reduce((a, b) => a + b)).toBeCloseTo(1, 9);
      expect(e.rows).toBe(e.kind === 'feature' ? trainRows : result.card.split.validation.rows);
    }
    // A continuous feature gets its full ten bins.
    expect(ref!.entries.find((e) => e.name === 'amount_log')!.edges.length).toBe(9);
    expect(result.card.drift).toMatchObject({ file: DRIFT_REFERENCE_FILE, features: FEATURE_NAMES.length, featureRows: trainRows });

    const model = await loadModelVersion(result.dir);
    try {
      expect(model.driftReference).toEqual(ref);
      // The training rows themselves, scored by the loaded model, give PSI ~0 on features.
      const acc = new DriftAccumulator(model.driftReference!, model.featureNames);
      const rows = ds.rows.slice(0, trainRows);
      acc.observe(rows, model.scoreFirstLine(rows));
      const report = driftReport(model.driftReference!, acc.drain());
      for (const r of report.filter((x) => x.kind === 'feature')) expect(r.psi).toBeLessThan(1e-6);
    } finally {
      model.dispose();
    }

    // Offline mode of `fraudstream drift --world`: events from --from on are counted, every entry sees each of them.
    const world = await worldSnapshot(result.dir, { events: 3_000, seed: 3, cards: 200, from: 1_000, holiday: false }, () => {});
    expect(world.liveRows).toBe(2_000);
    expect(world.rows).toHaveLength(FEATURE_NAMES.length + 2);
    for (const r of world.rows) {
      expect(r.liveRows).toBe(2_000);
      expect(r.liveShares.reduce((x, y) => x + y)).toBeCloseTo(1, 9);
    }

    // A broken reference does not stop the version from loading; an older version without one loads too.
    writeFileSync(path.join(result.dir, DRIFT_REFERENCE_FILE), '{"format":1,"entries":[{"name":"x","edges":[2,1],"shares":[1,0,0]}]}');
    const broken = await loadModelVersion(result.dir);
    expect(broken.driftReference).toBeUndefined();
    expect(broken.driftReferenceError).toMatch(/edges must ascend/);
    broken.dispose();
    rmSync(path.join(result.dir, DRIFT_REFERENCE_FILE));
    const older = await loadModelVersion(result.dir);
    expect(older.driftReference).toBeUndefined();
    expect(older.driftReferenceError).toBeUndefined();
    older.dispose();
  });
});
