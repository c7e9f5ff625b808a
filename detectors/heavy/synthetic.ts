/**
 * A synthetic card-testing pattern that only a sequence model can see: fraud is a large purchase right after a burst
 * of small, quick transactions. Decoys share every current-vector distribution with the fraud rows (large purchases
 * after normal history, after small-but-slow spending, or after a burst then normal spending), so among large
 * purchases the current vector alone carries no signal.
 */
import { mulberry32 } from '../pure/rng.ts';

export const LEGIT_PATTERN_SHARE = 0.1;

export const SYNTH_BASE_FEATURES = ['amount', 'secondsSincePrev', 'hourOfDay'] as const;

export type SynthKind = 'fraud' | 'ordinary' | 'large-after-normal' | 'large-after-slow-small' | 'burst-then-normal';

export interface SynthRow {
  history: Float64Array[];
  current: Float64Array;
  label: number;
  /** The generating pattern; 'fraud' rows carry label 0 with probability LEGIT_PATTERN_SHARE. */
  kind: SynthKind;
}

export interface SynthOptions {
  n: number;
  /** History length cap; histories are drawn from 0..maxHistory, so some are shorter than the model's k. */
  maxHistory: number;
  /** Extra pure-noise features appended after the base three. */
  noiseFeatures?: number;
  fraudRate?: number;
  seed?: number;
}

export function synthFeatureNames(noiseFeatures = 0): string[] {
  return [...SYNTH_BASE_FEATURES, ...Array.from({ length: noiseFeatures }, (_, i) => `noise${i}`)];
}

export function generateSynthetic(opts: SynthOptions): SynthRow[] {
  const rng = mulberry32(opts.seed ?? 1);
  const noise = opts.noiseFeatures ?? 0;
  const fraudRate = opts.fraudRate ?? 0.1;
  const d = SYNTH_BASE_FEATURES.length + noise;
  const uniform = (a: number, b: number) => a + (b - a) * rng();
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const vec = (amount: number, gap: number): Float64Array => {
    const v = new Float64Array(d);
    v[0] = Math.round(amount);
    v[1] = Math.round(gap);
    v[2] = Math.floor(uniform(0, 24));
    for (let j = 3; j < d; j++) v[j] = normal();
    return v;
  };
  const ordinaryTx = () => vec(Math.exp(normal() + Math.log(3000)), -Math.log(1 - rng()) * 2 * 3600);
  const smallQuick = () => vec(uniform(50, 800), uniform(20, 300));
  const smallSlow = () => vec(uniform(50, 800), uniform(1, 30) * 3600);
  // Every large purchase, fraud or not, comes from this one distribution.
  const largeCurrent = () => vec(uniform(20_000, 100_000), uniform(20, 600));
  const ordinaryCurrent = () => (rng() < 0.5 ? ordinaryTx() : vec(Math.exp(normal() + Math.log(3000)), uniform(20, 600)));

  const rows: SynthRow[] = [];
  const decoyRate = (1 - fraudRate) * 0.45;
  for (let i = 0; i < opts.n; i++) {
    const u = rng();
    const kind: SynthKind =
      u < fraudRate
        ? 'fraud'
        : u < fraudRate + decoyRate / 3
          ? 'large-after-normal'
          : u < fraudRate + (2 * decoyRate) / 3
            ? 'large-after-slow-small'
            : u < fraudRate + decoyRate
              ? 'burst-then-normal'
              : 'ordinary';
    const burst = 2 + Math.floor(rng() * 4);
    const history: Float64Array[] = [];
    let current: Float64Array;
    if (kind === 'fraud') {
      const before = Math.floor(rng() * Math.max(1, opts.maxHistory - burst + 1));
      for (let t = 0; t < before; t++) history.push(ordinaryTx());
      for (let t = 0; t < burst; t++) history.push(smallQuick());
      current = largeCurrent();
    } else if (kind === 'large-after-slow-small') {
      const before = Math.floor(rng() * Math.max(1, opts.maxHistory - burst + 1));
      for (let t = 0; t < before; t++) history.push(ordinaryTx());
      for (let t = 0; t < burst; t++) history.push(smallSlow());
      current = largeCurrent();
    } else if (kind === 'burst-then-normal') {
      for (let t = 0; t < burst; t++) history.push(smallQuick());
      const after = 2 + Math.floor(rng() * 3);
      for (let t = 0; t < after; t++) history.push(ordinaryTx());
      current = rng() < 0.5 ? largeCurrent() : ordinaryCurrent();
    } else {
      const len = Math.floor(rng() * (opts.maxHistory + 1));
      for (let t = 0; t < len; t++) history.push(ordinaryTx());
      current = kind === 'large-after-normal' ? largeCurrent() : ordinaryCurrent();
    }
    // A share of the pattern is innocent (a customer retrying a declined card, then buying): no model can reach AUC 1.
    const label = kind === 'fraud' && rng() >= LEGIT_PATTERN_SHARE ? 1 : 0;
    rows.push({ history: history.slice(-opts.maxHistory), current, label, kind });
  }
  return rows;
}

/** Rows whose current is a large purchase: the subset where the current vector alone is uninformative. */
export function isLargeCurrent(row: SynthRow): boolean {
  return row.current[0]! >= 20_000;
}
