import { describe, expect, it } from 'vitest';
import { downsample, modelCurves, operatingPoint, trapezoidArea, type CurvePoint } from '../../detectors/pure/curves.ts';
import { rocAuc } from '../../detectors/pure/metrics.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';

/** Scores where fraud is shifted up by `shift` standard deviations; optionally rounded to make ties. */
function synthetic(n: number, rate: number, shift: number, seed: number, decimals?: number) {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const labels: number[] = Array.from({ length: n }, () => (rand() < rate ? 1 : 0));
  const scores = labels.map((y) => {
    const s = 1 / (1 + Math.exp(-(gauss() + shift * y)));
    return decimals === undefined ? s : Number(s.toFixed(decimals));
  });
  return { scores, labels };
}

const ascending = (pts: CurvePoint[], axis: 0 | 1) => pts.every((p, i) => i === 0 || p[axis] >= pts[i - 1][axis]);

describe('model-card curves', () => {
  for (const [name, decimals] of [['distinct scores', undefined], ['heavily tied scores', 2]] as const) {
    it(`${name}: endpoints, monotone order, at most 100 points, area matching the reported ROC-AUC`, () => {
      const { scores, labels } = synthetic(20_000, 0.03, 2.5, 11, decimals);
      const c = modelCurves(scores, labels)!;
      const pos = labels.reduce((s, y) => s + y, 0);
      expect(c.roc.length).toBeLessThanOrEqual(100);
      expect(c.pr.length).toBeLessThanOrEqual(100);
      expect(c.roc.length).toBeGreaterThan(decimals === undefined ? 90 : 20);
      expect(c.roc[0]).toEqual([0, 0]);
      expect(c.roc.at(-1)).toEqual([1, 1]);
      expect(c.pr[0]).toEqual([0, 1]);
      expect(c.pr.at(-1)![0]).toBe(1);
      expect(c.pr.at(-1)![1]).toBeCloseTo(pos / labels.length, 4);
      expect(ascending(c.roc, 0) && ascending(c.roc, 1)).toBe(true);
      expect(ascending(c.pr, 0)).toBe(true);
      for (const [x, y] of [...c.pr, ...c.roc]) expect(x >= 0 && x <= 1 && y >= 0 && y <= 1).toBe(true);
      const auc = rocAuc(scores, labels);
      expect(auc).toBeGreaterThan(0.9);
      expect(Math.abs(trapezoidArea(c.roc) - auc)).toBeLessThan(0.003);
      // Before downsampling the trapezoids are exact up to the 5-decimal rounding (a tie is a diagonal step: half).
      expect(trapezoidArea(modelCurves(scores, labels, Infinity)!.roc)).toBeCloseTo(auc, 4);
    });
  }

  it('a useless model lies on the diagonal; a perfect one hugs the corner', () => {
    const rand = mulberry32(5);
    const labels: number[] = Array.from({ length: 5_000 }, () => (rand() < 0.1 ? 1 : 0));
    const random = modelCurves(labels.map(() => rand()), labels)!;
    expect(trapezoidArea(random.roc)).toBeGreaterThan(0.45);
    expect(trapezoidArea(random.roc)).toBeLessThan(0.55);
    const perfect = modelCurves(labels.map((y) => y + rand() * 0.5), labels)!;
    expect(trapezoidArea(perfect.roc)).toBeGreaterThan(0.999);
    expect(perfect.pr.filter(([r]) => r < 1).every(([, p]) => p === 1)).toBe(true);
  });

  it('is null when a class is missing, and downsampling keeps short curves as they are', () => {
    expect(modelCurves([0.1, 0.2], [0, 0])).toBeNull();
    const pts: CurvePoint[] = [[0, 0], [0.5, 0.9], [1, 1]];
    expect(downsample(pts, 100)).toBe(pts);
  });

  it('operating points count score >= threshold as flagged', () => {
    const m = operatingPoint('t', 0.5, (i) => [0.9, 0.5, 0.4, 0.7][i] >= 0.5, [1, 0, 1, 0]);
    expect(m).toEqual({ name: 't', threshold: 0.5, recall: 0.5, precision: 0.33333, fpr: 1 });
  });
});
