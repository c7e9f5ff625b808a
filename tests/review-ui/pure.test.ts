import { describe, expect, it } from 'vitest';
import { DecisionSchema, type Case, type Decision, type Label, type Policy } from '../../core/contracts.ts';
import { haversineKm } from '../../detectors/pure/geo.ts';
import { cardNorm, travelFromPrevious } from '../../review-ui/server/card.ts';
import type { CardTx } from '../../state/card-history.ts';
import { LabelMetrics } from '../../review-ui/server/metrics.ts';
import { previewPolicy } from '../../review-ui/server/preview.ts';
import { verdictMessages } from '../../review-ui/server/verdict.ts';
import { amountCurrencies } from '../../review-ui/server/routes/policy.ts';
import { amountText, majorInput, minorDigits, minorFromInput, thresholdText } from '../../review-ui/web/src/format.ts';
import { defaultPolicy } from '../../state/policy.ts';
import type { ScoredSample } from '../../state/types.ts';
import { openCase, tx } from '../router/review-queue-fixtures.ts';

const hist = (over: Partial<CardTx>): CardTx => ({
  txId: 'h', ts: 0, amountMinor: 1000, currency: 'EUR', merchantId: 'm-1', merchantName: 'Shop', mcc: '5411', country: 'FR',
  channel: 'card_present', lat: 48.85, lon: 2.35, deviceId: 'd-1', action: 'ALLOW', stage: 'detect', decidedAt: 0, ...over,
});

describe('card norm and travel', () => {
  it('measures Paris to New York at about 5 800 km', () => {
    expect(haversineKm(48.8566, 2.3522, 40.7128, -74.006)).toBeGreaterThan(5_800);
    expect(haversineKm(48.8566, 2.3522, 40.7128, -74.006)).toBeLessThan(5_900);
  });

  it('compares the transaction with the card’s earlier ones only', () => {
    const t = tx({ txId: 'now', ts: 10 * 3_600_000, amountMinor: 10_000, country: 'US', merchantId: 'm-new', deviceId: 'd-2' });
    const history = [
      hist({ txId: 'a', ts: 1 * 3_600_000, amountMinor: 1000 }),
      hist({ txId: 'b', ts: 2 * 3_600_000, amountMinor: 3000 }),
      hist({ txId: 'later', ts: 11 * 3_600_000, amountMinor: 999_999, country: 'US' }),
      hist({ txId: 'now', ts: 10 * 3_600_000, amountMinor: 10_000, country: 'US' }),
    ];
    const n = cardNorm(t, history);
    expect(n.n).toBe(2);
    expect(n.amountMean).toBe(2000);
    expect(n.amountStd).toBeCloseTo(Math.SQRT2 * 1000, 6);
    expect(n.amountZ).toBeCloseTo(8000 / (Math.SQRT2 * 1000), 6);
    expect(n).toMatchObject({ newCountry: true, newMerchant: true, newDevice: true, countries: { FR: 2 } });
  });

  it('gives the implied speed from the previous transaction', () => {
    const t = tx({ txId: 'now', ts: 3_600_000, lat: 40.7128, lon: -74.006 });
    const tr = travelFromPrevious(t, [hist({ txId: 'p', ts: 0, lat: 48.8566, lon: 2.3522 }), hist({ txId: 'older', ts: -1 })]);
    expect(tr?.fromTxId).toBe('p');
    expect(tr?.minutes).toBe(60);
    expect(tr?.speedKmh).toBeCloseTo(tr?.distanceKm ?? 0, 6);
    expect(travelFromPrevious(t, [])).toBeNull();
  });
});

const decision = (txId: string, action: Decision['action'], final = true, model = 'v1'): Decision => ({
  decisionId: `${txId}:x`, txId, cardId: 'c', action, stage: 'detect', final, reason: '', scores: {}, rulesFired: [], topFeatures: [],
  versions: { model, policy: 1 }, timings: {}, decidedAt: 1, tx: tx({ txId }),
});
const label = (txId: string, isFraud: boolean, source: Label['source'] = 'chargeback'): Label => ({ txId, isFraud, scenario: isFraud ? 'card_testing' : null, source, labeledAt: 2 });

describe('LabelMetrics', () => {
  it('counts each transaction once, whichever arrives first, and waits for the final decision', () => {
    const m = new LabelMetrics();
    m.onDecision(decision('tp', 'BLOCK'));
    m.onLabel(label('tp', true));
    m.onLabel(label('tp', true));
    m.onLabel(label('fn', true));
    m.onDecision(decision('fn', 'ALLOW'));
    m.onDecision(decision('fp', 'BLOCK', true, 'v2'));
    m.onLabel(label('fp', false));
    m.onDecision(decision('rev', 'REVIEW', false));
    m.onLabel(label('rev', true));
    const s = m.snapshot();
    expect(s.pending).toBe(1);
    expect(s.bySourceAndModel['chargeback|*']).toMatchObject({ tp: 1, fn: 1, fp: 1, tn: 0, precision: 0.5, recall: 0.5 });
    expect(s.bySourceAndModel['chargeback|v1']).toMatchObject({ tp: 1, fn: 1, fp: 0, precision: 1 });
    m.onDecision({ ...decision('rev', 'BLOCK'), stage: 'review' });
    expect(m.snapshot().bySourceAndModel['chargeback|*']?.tp).toBe(2);
  });
});

describe('policy preview', () => {
  const policy: Policy = defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.8 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } });
  const s = (txId: string, scores: ScoredSample['scores'], over: Partial<ScoredSample> = {}): ScoredSample => ({
    txId, cardId: 'c', merchantId: 'm', mcc: '5411', country: 'FR', amountMinor: 100, scores, rulesFired: [], action: 'ALLOW', ...over,
  });

  it('counts the outcomes under both policies and lists what changes', () => {
    const samples = [s('a', { xgboost: 0.1 }), s('b', { xgboost: 0.5 }), s('c', { xgboost: 0.95 }), s('d', { xgboost: 0.5, heavy: 0.5 }), s('e', { xgboost: 0.1 }, { country: 'RU' })];
    const proposed: Policy = { ...policy, version: 2, rules: { ...policy.rules, blockedCountries: ['RU'] }, thresholds: { ...policy.thresholds, detect: { ...policy.thresholds.detect, blockAbove: 0.45 } } };
    const r = previewPolicy(policy, proposed, samples);
    expect(r.current).toEqual({ ALLOW: 2, BLOCK: 1, ESCALATE: 1, REVIEW: 1 });
    expect(r.proposed).toEqual({ ALLOW: 1, BLOCK: 4, ESCALATE: 0, REVIEW: 0 });
    expect(r.delta).toEqual({ ALLOW: -1, BLOCK: 3, ESCALATE: -1, REVIEW: -1 });
    expect(r.changed).toBe(3);
    expect(r.recorded.ALLOW).toBe(5);
    expect(r.examples.map((e) => `${e.txId}:${e.from}->${e.to}`)).toEqual(['b:ESCALATE->BLOCK', 'd:REVIEW->BLOCK', 'e:ALLOW->BLOCK']);
  });
});

describe('verdictMessages', () => {
  it('turns a confirmed-fraud case into an analyst label and a final BLOCK decision', () => {
    const c: Case = { ...openCase('k', 0.6, 1_000), status: 'confirmed_fraud', closedAt: 61_000, closedBy: 'alice', note: 'stolen' };
    const { label: l, decision: d } = verdictMessages(c, 'confirm_fraud', 'alice');
    expect(l).toMatchObject({ txId: c.txId, isFraud: true, source: 'analyst', analyst: 'alice', note: 'stolen', labeledAt: 61_000 });
    expect(d).toMatchObject({ decisionId: `${c.txId}:review`, action: 'BLOCK', stage: 'review', final: true, timings: { review: 60_000 } });
    expect(d.rulesFired.at(-1)?.id).toBe('analyst.verdict');
    expect(verdictMessages({ ...c, status: 'approved' }, 'approve', 'bob').decision.action).toBe('ALLOW');
    expect(d.expectedLoss).toBeUndefined();
  });

  it("carries the expected loss the case was queued for into the analyst's final decision", () => {
    const loss = { pFraud: 0.4, calibrated: true, ifAllowedMinor: 4_100, ifBlockedMinor: 600, stakeMinor: 600 };
    const c: Case = { ...openCase('m', 0.6, 1_000), status: 'approved', closedAt: 2_000, closedBy: 'bob', loss };
    const d = verdictMessages(c, 'approve', 'bob').decision;
    expect(d.expectedLoss).toEqual(loss);
    expect(DecisionSchema.parse(d).expectedLoss).toEqual(loss);
  });
});

describe('Policy page numbers', () => {
  it('shows thresholds with three decimals at most', () => {
    expect(thresholdText(0.5633531814486681)).toBe('0.563');
    expect(thresholdText(0.9)).toBe('0.9');
    expect(thresholdText(0.35)).toBe('0.35');
    expect(thresholdText(1)).toBe('1');
    expect(thresholdText(0)).toBe('0');
    expect(thresholdText(0.0000123)).toBe('0.000012');
  });

  it('shows minor units as money in the currency, with its own digits', () => {
    expect(amountText(250_000, 'EUR', 'en-US')).toBe('EUR\u00a02,500.00');
    expect(amountText(250_050, 'GBP', 'en-US')).toBe('GBP\u00a02,500.50');
    expect(amountText(2_500, 'JPY', 'en-US')).toBe('JPY\u00a02,500');
    expect(amountText(250_000, null, 'en-US')).toBe('2,500.00');
    expect(minorDigits('JPY')).toBe(0);
    expect(minorDigits(null)).toBe(2);
  });

  it('reads amounts typed in major units back to exact minor units, and says what is wrong otherwise', () => {
    expect(majorInput(250_000, 'EUR')).toBe('2500.00');
    expect(minorFromInput(majorInput(250_000, 'EUR'), 'EUR', 'x')).toBe(250_000);
    expect(minorFromInput('2500.37', 'EUR', 'x')).toBe(250_037);
    expect(minorFromInput('0.29', 'EUR', 'x')).toBe(29);
    expect(minorFromInput('2500', 'JPY', 'x')).toBe(2_500);
    expect(() => minorFromInput('2500.375', 'EUR', 'block amounts above')).toThrow('block amounts above: at most 2 digits after the decimal point');
    expect(() => minorFromInput('-5', 'EUR', 'x')).toThrow('a positive amount');
    expect(() => minorFromInput('abc', 'EUR', 'x')).toThrow('a positive amount');
  });

  it('shows amount rules in the currency most recent decisions were in, naming the others', () => {
    const d = (currency: string) => ({ tx: { ...tx({ txId: 't' }), currency } });
    expect(amountCurrencies([d('GBP'), d('EUR'), d('EUR'), d('USD')])).toEqual({ currency: 'EUR', seen: ['EUR', 'GBP', 'USD'] });
    expect(amountCurrencies([])).toEqual({ currency: null, seen: [] });
  });
});
