import { describe, expect, it } from 'vitest';
import { gbmBand } from '../helpers/registries.ts';
import { bandLabel, bandScore, escalateScore } from '../../router/pure/band-score.ts';
import { caseLoss, decisionLoss } from '../../router/pure/money.ts';
import { RAW_BAND_P } from '../../detectors/calibrated.ts';


const scores = { isolationForest: 0.95, xgboost: 0.81, gbm: 0.33 };

describe('the band model stands in for the heavy model and gives p(fraud)', () => {
  it('is XGBoost in the registered models', () => {
    expect(bandScore(scores)).toBe(0.81);
    expect(escalateScore(undefined, scores)).toBe(0.81);
    expect(bandLabel()).toBe('XGBoost');
  });

  it('follows the registry when another model holds the band', () => {
    expect(bandScore(scores, gbmBand)).toBe(0.33);
    expect(escalateScore(undefined, scores, gbmBand)).toBe(0.33);
    expect(bandLabel(gbmBand)).toBe('GBM');
  });

  it('the heavy score wins when there is one; rules-only (no first-line scores) is undecided', () => {
    expect(escalateScore(0.12, scores)).toBe(0.12);
    expect(escalateScore(0, scores)).toBe(0);
    expect(escalateScore(undefined, {})).toBe(0.5);
    expect(escalateScore(undefined, { isolationForest: 0.9 })).toBe(0.5);
  });

  it("a case's loss takes p(fraud) from the band score through the version's calibrator", () => {
    const costs = { chargebackFeeMinor: 2_500, falseBlockCostMinor: 1_000 };
    const halve = { calibrated: true, fromBandScore: (s: number) => s / 2 };
    expect(caseLoss(halve, bandScore(scores), 0.9, 40_000, costs)).toEqual(decisionLoss(0.405, true, 40_000, costs));
    expect(caseLoss(RAW_BAND_P, bandScore(scores, gbmBand), 0.9, 40_000, costs)).toEqual(decisionLoss(0.33, false, 40_000, costs));
    expect(caseLoss(undefined, undefined, 0.7, 40_000, costs)).toEqual(decisionLoss(0.7, false, 40_000, costs));
  });
});
