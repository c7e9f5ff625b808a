import { describe, expect, it } from 'vitest';
import { gbmBand } from '../helpers/registries.ts';
import { calibrateBandModel } from '../../detectors/trainer.ts';
import { fitIsotonic } from '../../detectors/pure/calibration.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import type { RoutedRows } from '../../detectors/pure/routing.ts';


function slice(seed: number, n: number): { rows: RoutedRows; labels: number[] } {
  const rand = mulberry32(seed);
  const labels = Array.from({ length: n }, () => (rand() < 0.1 ? 1 : 0));
  const gbm = Float64Array.from(labels, (y) => Math.min(1, Math.max(0, (y ? 0.6 : 0.2) + (rand() - 0.5) * 0.5)));
  const xgboost = Float64Array.from(labels, () => rand());
  const rows = { isolationForest: Float64Array.from(labels, () => rand()), xgboost, gbm, second: Float64Array.from(labels, () => rand()) } as unknown as RoutedRows;
  return { rows, labels };
}

describe('calibrateBandModel', () => {
  const val = slice(1, 2_000);
  const test = slice(2, 2_000);
  const col = (r: RoutedRows, id: string) => (r as unknown as Record<string, Float64Array>)[id]!;

  it('calibrates the band model of the registry: XGBoost, as every card so far says', () => {
    const cal = calibrateBandModel(val.rows, val.labels, test.rows, test.labels)!;
    expect(cal.model).toBe('xgboost');
    expect(cal.calibrator).toEqual(fitIsotonic(col(val.rows, 'xgboost'), val.labels));
  });

  it('calibrates whichever model holds the band in another registry, on its own score', () => {
    const cal = calibrateBandModel(val.rows, val.labels, test.rows, test.labels, gbmBand)!;
    expect(cal.model).toBe('gbm');
    expect(cal.calibrator).toEqual(fitIsotonic(col(val.rows, 'gbm'), val.labels));
    expect(cal.calibrator).not.toEqual(fitIsotonic(col(val.rows, 'xgboost'), val.labels));
    // Measured on gbm's test scores: the fitted calibrator is reliable out of sample.
    expect(cal.reliability.calibrated.ece).toBeLessThan(0.05);
  });

  it('has nothing to calibrate against when a slice holds no fraud', () => {
    expect(calibrateBandModel(val.rows, val.labels.map(() => 0), test.rows, test.labels)).toBeUndefined();
  });
});
