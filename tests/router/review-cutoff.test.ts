/** Issue 13: decisions carry their expected loss, and the review cutoff follows from the staffing. */
import { describe, expect, it } from 'vitest';
import { DecisionSchema, DecisionWireSchema, type Policy } from '../../core/contracts.ts';
import { buildDecision } from '../../router/pure/decision.ts';
import { decisionLoss, reviewCutoff, StakeWindow } from '../../router/pure/money.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { decideEscalation, type CaseMoney } from '../../router/pure/policy.ts';
import { defaultPolicy } from '../../state/policy.ts';
import { openCase } from './review-queue-fixtures.ts';
import { reviewCutoffKey } from '../../state/review-cutoff.ts';

const thresholds = { detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } };
const base = defaultPolicy(thresholds);
/** 1 analyst taking 3 cases an hour: the last hour's 3 biggest stakes fit. */
const tiny: Policy = { ...base, review: { ...base.review, capacity: 1_000, analysts: 1, casesPerAnalystHour: 3 }, money: { chargebackFeeMinor: 2_500, falseBlockCostMinor: 1_000 } };
const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

const money = (stakes: StakeWindow, stake: number, cheaper: 'ALLOW' | 'BLOCK', now: number): CaseMoney => ({ stake, cheaper, stakes, now });

describe('decisionLoss', () => {
  it('states both losses and the stake in whole minor units, p clamped', () => {
    expect(decisionLoss(0.1, true, 10_000, tiny.money)).toEqual({ pFraud: 0.1, calibrated: true, ifAllowedMinor: 1_250, ifBlockedMinor: 900, stakeMinor: 900 });
    expect(decisionLoss(0.001, false, 500, tiny.money)).toEqual({ pFraud: 0.001, calibrated: false, ifAllowedMinor: 3, ifBlockedMinor: 999, stakeMinor: 3 });
    expect(decisionLoss(1.3, true, 100, tiny.money).pFraud).toBe(1);
    // p(fraud) to 6 significant digits, and the losses from that p: a reader recomputes them from the decision.
    const third = decisionLoss(1 / 3, true, 1_000_000_000, tiny.money);
    expect(third.pFraud).toBe(0.333333);
    expect(third.ifAllowedMinor).toBe(Math.round(0.333333 * (1_000_000_000 + tiny.money.chargebackFeeMinor)));
    expect(decisionLoss(0.00082576383154418, true, 500, tiny.money).pFraud).toBe(0.000825764);
  });

  it('travels on the decision and passes the contract', () => {
    const c = openCase('k', 0.6, 1_000);
    const expectedLoss = decisionLoss(0.4, true, c.tx.amountMinor, tiny.money);
    const d = buildDecision(c, { stage: 'escalate', action: 'ALLOW', reason: 'r', rulesFired: [], timings: {}, decidedAt: 5, expectedLoss });
    expect(DecisionSchema.parse(d).expectedLoss).toEqual(expectedLoss);
    expect(buildDecision(c, { stage: 'detect', action: 'ALLOW', reason: 'r', rulesFired: [], timings: {}, decidedAt: 5 })).not.toHaveProperty('expectedLoss');
  });
});

describe('StakeWindow', () => {
  it('forgets stakes older than its window and keeps at most its bound', () => {
    const w = new StakeWindow(HOUR, 3);
    w.add(T0, 10);
    w.add(T0 + 10, 20);
    expect(w.size).toBe(2);
    w.add(T0 + HOUR + 5, 30);
    expect(w.size).toBe(2);
    w.add(T0 + HOUR + 6, 40);
    w.add(T0 + HOUR + 7, 50);
    expect(w.size).toBe(3);
  });

  it('counts a case handled again (a replayed batch) once', () => {
    const w = new StakeWindow();
    w.add(T0, 10, 'tx-1');
    w.add(T0 + 1, 10, 'tx-1');
    w.add(T0 + 2, 20, 'tx-2');
    expect(w.size).toBe(2);
    w.add(T0 + HOUR + 1, 30, 'tx-3');
    w.add(T0 + HOUR + 2, 10, 'tx-1');
    expect(w.size).toBe(3);
  });

  it('cuts at the stake the capacity reaches, and says the review rate it allows', () => {
    const w = new StakeWindow();
    [500, 100, 900, 300, 700].forEach((s, i) => w.add(T0 + i * 1_000, s));
    const st = w.status(T0 + 5_000, tiny.review);
    expect(st.cutoff).toBe(500);
    expect(st.ambiguous).toBe(5);
    expect(st.reviewsPerHour).toBe(3);
    expect(st.capacityPerHour).toBe(3);
    expect(w.status(T0 + 5_000, { ...tiny.review, casesPerAnalystHour: 10 }).cutoff).toBe(0);
    expect(w.status(T0 + 5_000, { ...tiny.review, analysts: 0 }).cutoff).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('StakeWindow against reviewCutoff', () => {
  it('cuts where reviewCutoff cuts on the stakes it still holds, as cases arrive and expire', () => {
    const rand = mulberry32(7);
    const w = new StakeWindow(HOUR, 200);
    const kept: Array<[number, number]> = [];
    let now = T0;
    for (let i = 0; i < 1_500; i++) {
      now += Math.floor(rand() * 20_000);
      const stake = Math.floor(rand() * 50) * 100; // ties on purpose
      w.add(now, stake);
      kept.push([now, stake]);
      while (kept.length && kept[0]![0] < now - HOUR) kept.shift();
      while (kept.length > 200) kept.shift();
      const cap = { ...tiny.review, casesPerAnalystHour: 1 + (i % 40) };
      const st = w.status(now, cap);
      expect(st.ambiguous).toBe(kept.length);
      expect(st.cutoff).toBe(reviewCutoff(kept.map(([, s]) => s), st.spanHours, cap));
      expect(st.reviewsPerHour * st.spanHours).toBeCloseTo(kept.filter(([, s]) => s >= st.cutoff).length, 9);
    }
  });
});

describe('escalation routing with the review cutoff', () => {
  it('queues while the stakes fit, then decides small stakes by their cheaper action and still queues big ones', () => {
    const w = new StakeWindow();
    const ambiguous = 0.5;
    const first = [5_000, 4_000, 3_000].map((s, i) => decideEscalation(tiny, ambiguous, 0, money(w, s, 'BLOCK', T0 + i)));
    expect(first.map((r) => r.action)).toEqual(['REVIEW', 'REVIEW', 'REVIEW']);
    expect(first[2]!.rulesFired.map((r) => r.id)).toEqual(['model.heavy_ambiguous', 'review.capacity_fits']);

    const small = decideEscalation(tiny, ambiguous, 0, money(w, 200, 'ALLOW', T0 + 10));
    expect(small.action).toBe('ALLOW');
    expect(small.cutoff?.cutoff).toBe(3_000);
    const hit = small.rulesFired.find((r) => r.id === 'review.capacity_cutoff');
    expect(hit).toMatchObject({ description: 'review capacity: stake 200 below cutoff 3000', value: 200, threshold: 3_000 });
    expect(small.reason).toMatch(/^review capacity: stake 200 below cutoff 3000/);

    const smallBlock = decideEscalation(tiny, ambiguous, 0, money(w, 2_999, 'BLOCK', T0 + 11));
    expect(smallBlock.action).toBe('BLOCK');

    const big = decideEscalation(tiny, ambiguous, 0, money(w, 9_000, 'ALLOW', T0 + 12));
    expect(big.action).toBe('REVIEW');
    expect(big.cutoff?.cutoff).toBe(4_000);
  });

  it('leaves clear heavy scores alone and does not count them against capacity', () => {
    const w = new StakeWindow();
    expect(decideEscalation(tiny, 0.95, 0, money(w, 10, 'ALLOW', T0)).action).toBe('BLOCK');
    expect(decideEscalation(tiny, 0.1, 0, money(w, 10, 'BLOCK', T0)).action).toBe('ALLOW');
    expect(w.size).toBe(0);
  });

  it('without staffing no case is queued; a full queue still falls back to the heavy score', () => {
    const none: Policy = { ...tiny, review: { ...tiny.review, analysts: 0 } };
    const r = decideEscalation(none, 0.5, 0, money(new StakeWindow(), 1e9, 'BLOCK', T0));
    expect(r.action).toBe('BLOCK');
    expect(r.rulesFired.find((h) => h.id === 'review.capacity_cutoff')?.threshold).toBe('no capacity');
    expect(DecisionWireSchema.shape.rulesFired.parse(JSON.parse(JSON.stringify(r.rulesFired)))).toEqual(r.rulesFired);
    const full = decideEscalation({ ...tiny, review: { ...tiny.review, capacity: 0 } }, 0.7, 0, money(new StakeWindow(), 100, 'ALLOW', T0));
    expect(full.action).toBe('BLOCK');
    expect(full.rulesFired.map((h) => h.id)).toEqual(['review.capacity_fits', 'review.capacity_full']);
  });
});

describe('where the Live page reads the cutoff', () => {
  it('keeps its key spelling', () => {
    expect(reviewCutoffKey('fs:')).toBe('fs:review:cutoff');
  });
});
