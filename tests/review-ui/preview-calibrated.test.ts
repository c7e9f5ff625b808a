/** Issue 13: the policy preview states money with the served version's calibrated p(fraud), and says so. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Policy } from '../../core/contracts.ts';
import { fraudProbabilityOf } from '../../detectors/calibrated.ts';
import { calibrate, type Calibrator } from '../../detectors/pure/calibration.ts';
import { moneyPreview, servedProbability } from '../../review-ui/server/preview.ts';
import type { ScoredSample } from '../../state/types.ts';
import { defaultPolicy } from '../../state/policy.ts';

const policy: Policy = defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.8 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } });
const calibrator: Calibrator = { method: 'isotonic', x: [0, 0.5, 1], y: [0, 0.05, 0.6] };
const card = { calibration: { model: 'xgboost', fittedOn: 'validation slice', calibrator, reliability: { raw: { bins: [], ece: 0, brier: 0 }, calibrated: { bins: [], ece: 0, brier: 0 }, on: 'test slice' } } };
const sample = (txId: string, amountMinor: number, xgboost: number): ScoredSample => ({ txId, cardId: 'c', merchantId: 'm', mcc: '5411', country: 'FR', amountMinor, scores: { xgboost }, rulesFired: [], action: 'ALLOW' });
const dir = mkdtempSync(join(tmpdir(), 'fs-preview-cal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('served p(fraud)', () => {
  it('a card with a calibrator serves it; one without serves the raw score, clamped', () => {
    const cal = fraudProbabilityOf(card as never, 'v1', { warn: false });
    expect(cal.calibrated).toBe(true);
    expect(cal.source).toMatch(/isotonic calibration of the XGBoost score/);
    expect(cal.fromBandScore(0.75)).toBeCloseTo(calibrate(calibrator, 0.75), 12);
    expect(cal.fromBandScore(0.75)).toBeCloseTo(0.325, 12);
    const raw = fraudProbabilityOf({}, 'v0', { warn: false });
    expect(raw.calibrated).toBe(false);
    expect(raw.fromBandScore(0.75)).toBe(0.75);
    expect(raw.fromBandScore(1.5)).toBe(1);
  });

  it('the preview takes the policy\'s version from MODEL_DIR and counts unlabelled money with the calibrated p', async () => {
    const name = 'v20260101T000000000Z';
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'model-card.json'), JSON.stringify({ version: name, ...card }));
    const served = await servedProbability(dir, { ...policy, modelVersion: name });
    expect(served?.version).toBe(name);
    // Allowed under both (0.75 is escalated without a heavy score, so counts as allowed): the missed money is p x amount.
    const samples = [sample('a', 10_000, 0.75), sample('b', 2_000, 0.1)];
    const m = moneyPreview(policy, policy, samples, served);
    expect(m.pFraudCalibrated).toBe(true);
    expect(m.pFraudSource).toContain(name);
    expect(m.current.fraudMoneyMissed).toBeCloseTo(10_000 * 0.325 + 2_000 * calibrate(calibrator, 0.1), 6);
    const raw = moneyPreview(policy, policy, samples);
    expect(raw.pFraudCalibrated).toBe(false);
    expect(raw.current.fraudMoneyMissed).toBeCloseTo(10_000 * 0.75 + 2_000 * 0.1, 6);
    expect(await servedProbability(join(dir, 'none'), policy)).toBeUndefined();
  });
});
