import { describe, expect, it } from 'vitest';
import { calibrate, fitIsotonic, reliability } from '../../detectors/pure/calibration.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';

describe('isotonic calibration', () => {
  it('pools adjacent violators into a non-decreasing step function', () => {
    const c = fitIsotonic([0.1, 0.2, 0.3, 0.4, 0.5], [0, 1, 0, 1, 1]);
    // 0.2 (1) and 0.3 (0) violate the order: pooled to 0.5.
    expect(c.x).toEqual([0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(c.y).toEqual([0, 0.5, 0.5, 1, 1]);
    expect(calibrate(c, 0.25)).toBeCloseTo(0.5);
    expect(calibrate(c, 0)).toBe(0);
    expect(calibrate(c, 9)).toBe(1);
    for (let i = 1; i < c.y.length; i++) expect(c.y[i]!).toBeGreaterThanOrEqual(c.y[i - 1]!);
  });

  it('gives tied scores one probability', () => {
    const c = fitIsotonic([0.5, 0.5, 0.5, 0.5], [1, 0, 0, 0]);
    expect(calibrate(c, 0.5)).toBeCloseTo(0.25);
  });

  it('recovers the true probability of a skewed score and lowers the calibration error', () => {
    const rng = mulberry32(7);
    const scores: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const s = rng();
      scores.push(s);
      labels.push(rng() < s ** 3 ? 1 : 0); // the score overstates the risk: p = s^3
    }
    const c = fitIsotonic(scores, labels);
    expect(calibrate(c, 0.5)).toBeCloseTo(0.125, 1);
    expect(calibrate(c, 0.9)).toBeCloseTo(0.729, 1);
    const raw = reliability(scores, labels);
    const fitted = reliability(scores.map((s) => calibrate(c, s)), labels);
    expect(raw.ece).toBeGreaterThan(0.15);
    expect(fitted.ece).toBeLessThan(0.03);
    expect(fitted.brier).toBeLessThan(raw.brier);
  });

  it('refuses mismatched or empty inputs', () => {
    expect(() => fitIsotonic([0.1], [])).toThrow(/1 scores but 0 labels/);
    expect(() => fitIsotonic([], [])).toThrow(/no validation rows/);
  });
});
