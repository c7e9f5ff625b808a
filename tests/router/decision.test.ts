/** One Decision builder and one routing order: what detect, escalate, the analyst and the trainer share. */
import { withVelocity as withVelocityModel } from '../helpers/registries.ts';
import { describe, expect, it } from 'vitest';
import { DecisionSchema, DecisionTxSchema, type Case } from '../../core/contracts.ts';
import { buildDecision, encodeDecision } from '../../router/pure/decision.ts';
import { decideEscalation, decideFirstLine } from '../../router/pure/policy.ts';
import { chooseThresholds, Outcome, route, routeAll } from '../../detectors/pure/routing.ts';
import { MODELS } from '../../core/model-registry.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { defaultPolicy } from '../../state/policy.ts';
import { openCase } from './review-queue-fixtures.ts';

const thresholds = { detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } };
const base = defaultPolicy(thresholds);
const policy = { ...base, review: { ...base.review, capacity: 1_000_000 } };

describe('buildDecision', () => {
  const c: Case = openCase('k', 0.6, 1_000);
  const made = (action: 'ALLOW' | 'BLOCK' | 'REVIEW', stage: 'detect' | 'escalate' | 'review', extra: { analyst?: string; note?: string } = {}) =>
    buildDecision(c, { stage, action, reason: 'r', rulesFired: [], timings: { [stage]: 1 }, decidedAt: 5, ...extra });

  it('makes a valid decision named after the transaction and the deciding stage, carrying the case why', () => {
    const d = made('BLOCK', 'escalate');
    expect(DecisionSchema.parse(d)).toEqual(d);
    const { txId: _t, cardId: _c, entities: _e, numbers: _n, ...shown } = c.tx;
    expect(d).toMatchObject({ decisionId: `${c.txId}:escalate`, txId: c.txId, cardId: c.cardId, scores: c.scores, versions: c.versions, tx: shown });
    expect(Object.keys(d.tx).sort()).toEqual(Object.keys(DecisionTxSchema.shape).sort());
    expect(d).not.toHaveProperty('caseId');
    expect(d).not.toHaveProperty('analyst');
  });

  it('only REVIEW is provisional', () => {
    expect(made('REVIEW', 'escalate').final).toBe(false);
    expect(made('ALLOW', 'detect').final).toBe(true);
    expect(made('BLOCK', 'review').final).toBe(true);
  });

  it('keeps an analyst and a non-empty note, drops an empty note', () => {
    expect(made('ALLOW', 'review', { analyst: 'a', note: 'ok' })).toMatchObject({ analyst: 'a', note: 'ok' });
    expect(made('ALLOW', 'review', { analyst: 'a', note: '' })).not.toHaveProperty('note');
  });
});

describe('encodeDecision: the decision on the topic', () => {
  const c: Case = openCase('k', 0.6, 1_000);
  const made = (action: 'ALLOW' | 'BLOCK' | 'REVIEW', stage: 'detect' | 'escalate' | 'review', rulesFired: Parameters<typeof buildDecision>[1]['rulesFired'] = []) =>
    buildDecision(c, { stage, action, reason: 'r', rulesFired, timings: { [stage]: 0.123456789 }, decidedAt: 5 });

  it('leaves out what follows from other fields, and DecisionSchema gives the same decision back', () => {
    for (const [action, stage] of [['ALLOW', 'detect'], ['REVIEW', 'escalate'], ['BLOCK', 'review']] as const) {
      const d = made(action, stage);
      const wire = JSON.parse(encodeDecision(d)) as Record<string, unknown>;
      expect(wire).not.toHaveProperty('decisionId');
      expect(wire).not.toHaveProperty('final');
      expect(wire).not.toHaveProperty('rulesFired');
      expect(DecisionSchema.parse(wire)).toEqual(d);
    }
  });

  it('keeps a rule hit, the top features and an unusual decisionId or final', () => {
    const hit = { id: 'x', description: 'x fired', effect: 'block' as const };
    const d = { ...made('BLOCK', 'detect', [hit]), decisionId: 'other-id', final: false };
    const wire = JSON.parse(encodeDecision(d)) as Record<string, unknown>;
    expect(wire).toMatchObject({ decisionId: 'other-id', final: false, rulesFired: [hit], topFeatures: c.topFeatures });
    expect(DecisionSchema.parse(wire)).toEqual(d);
  });

  it('numbers at the precision readers use: scores 5 decimals, features 4 significant digits, p(fraud) and coordinates whole; the stake left out', () => {
    const t = {
      ...c,
      scores: { xgboost: 0.123456789, isolationForest: 0.999994 },
      topFeatures: [{ name: 'amount', value: 1234.5678, contribution: 0.000123456 }, { name: 'count', value: 7, contribution: -2.3456789 }],
      tx: { ...c.tx, lat: 48.856613579, lon: 2.352219876 },
    };
    const loss = { pFraud: 0.3333333333, calibrated: true, ifAllowedMinor: 340, ifBlockedMinor: 1200, stakeMinor: 340 };
    const d = buildDecision(t, { stage: 'detect', action: 'REVIEW', reason: 'r', rulesFired: [], timings: { detect: 1 }, decidedAt: 5, expectedLoss: loss });
    expect(d.scores).toEqual({ xgboost: 0.12346, isolationForest: 0.99999 });
    expect(d.topFeatures).toEqual([{ name: 'amount', value: 1234.6, contribution: 0.0001235 }, { name: 'count', value: 7, contribution: -2.346 }]);
    expect([d.tx.lat, d.tx.lon]).toEqual([48.856613579, 2.352219876]);
    expect(d.expectedLoss).toEqual(loss);
    const text = encodeDecision(d);
    expect(JSON.parse(text).expectedLoss).toEqual([0.3333333333, 340, 1200]);
    expect(DecisionSchema.parse(JSON.parse(text))).toEqual(d);
    // A stake that is not the smaller loss (never written so, but not ours to correct) stays on the wire.
    const odd = { ...d, expectedLoss: { ...d.expectedLoss!, stakeMinor: 99 } };
    expect(DecisionSchema.parse(JSON.parse(encodeDecision(odd))).expectedLoss?.stakeMinor).toBe(99);
  });

  it('stage timings to the microsecond', () => {
    expect(made('ALLOW', 'detect').timings).toEqual({ detect: 0.123 });
  });

  it('names the transaction, scores, expected loss and versions by position, and reads them back', () => {
    const t = { ...c, scores: { heavy: 0.75, isolationForest: 0.5 }, tx: { ...c.tx, deviceId: 'dev-1' } };
    const loss = { pFraud: 0.25, calibrated: false, ifAllowedMinor: 300, ifBlockedMinor: 900, stakeMinor: 300 };
    const d = buildDecision(t, { stage: 'escalate', action: 'BLOCK', reason: 'r', rulesFired: [], timings: { escalate: 2 }, decidedAt: 5, expectedLoss: loss });
    const wire = JSON.parse(encodeDecision(d)) as Record<string, unknown>;
    const x = t.tx;
    expect(wire).toMatchObject({
      tx: [x.merchantId, x.merchantName, x.mcc, x.amountMinor, x.currency, x.ts, x.channel, x.country, x.lat, x.lon, 'dev-1'],
      // isolationForest, xgboost (did not run), heavy: the registry's order.
      scores: [0.5, null, 0.75],
      expectedLoss: [0.25, 300, 900, false],
      versions: [c.versions.model, c.versions.policy],
    });
    expect(DecisionSchema.parse(wire)).toEqual(d);
    // No device: the last field is left out, and reads back as null.
    const noDevice = buildDecision({ ...c, tx: { ...c.tx, deviceId: null } }, { stage: 'detect', action: 'ALLOW', reason: 'r', rulesFired: [], timings: {}, decidedAt: 5 });
    const noDeviceWire = JSON.parse(encodeDecision(noDevice)) as { tx: unknown[] };
    expect(noDeviceWire.tx).toHaveLength(10);
    expect(DecisionSchema.parse(noDeviceWire).tx.deviceId).toBeNull();
  });

  it('refuses a positional field of the wrong length or type', () => {
    const wire = JSON.parse(encodeDecision(made('ALLOW', 'detect'))) as Record<string, unknown[]>;
    expect(DecisionSchema.safeParse({ ...wire, scores: [0.1, 0.2, 0.3, 0.4] }).success).toBe(false);
    expect(DecisionSchema.safeParse({ ...wire, tx: wire.tx!.slice(0, 9) }).success).toBe(false);
    expect(DecisionSchema.safeParse({ ...wire, tx: [...wire.tx!.slice(0, 3), '12', ...wire.tx!.slice(4)] }).success).toBe(false);
    expect(DecisionSchema.safeParse({ ...wire, expectedLoss: [0.5, 1] }).success).toBe(false);
    expect(DecisionSchema.safeParse({ ...wire, versions: ['v1'] }).success).toBe(false);
  });

  it('reads a decision of the issue 20 shape before positions (keys for the transaction, scores, loss and versions)', () => {
    const loss = { pFraud: 0.25, calibrated: true, ifAllowedMinor: 300, ifBlockedMinor: 900, stakeMinor: 300 };
    const d = buildDecision(c, { stage: 'detect', action: 'ALLOW', reason: 'r', rulesFired: [], timings: { detect: 1 }, decidedAt: 5, expectedLoss: loss });
    const { stakeMinor: _s, ...lossOnWire } = loss;
    const { decisionId: _d, final: _f, ...keyed } = { ...d, expectedLoss: lossOnWire };
    expect(DecisionSchema.parse(JSON.parse(JSON.stringify(keyed)))).toEqual(d);
  });

  it('reads a decision written before issue 20 (the whole transaction, every field): the extra keys are dropped', () => {
    const d = made('ALLOW', 'detect');
    const old = { ...d, tx: c.tx };
    expect(DecisionSchema.parse(JSON.parse(JSON.stringify(old)))).toEqual(d);
  });
});

describe('routing order: the live policy and the trainer agree', () => {
  it('on 5,000 random score triples, the stages decide what the trainer routes', () => {
    const rand = mulberry32(7);
    for (let i = 0; i < 5_000; i++) {
      const [xgb, iforest, heavy] = [rand(), rand(), rand()];
      const first = decideFirstLine(policy, { scores: { xgboost: xgb, isolationForest: iforest }, amountMinor: 100, country: 'FR', mcc: '5411', cardId: 'c', merchantId: 'm' });
      const expected = route(thresholds, { xgboost: xgb, isolationForest: iforest }, heavy);
      if (first.action !== 'ESCALATE') {
        expect(expected).toBe(first.action === 'BLOCK' ? Outcome.BLOCK_DETECT : Outcome.ALLOW_DETECT);
        continue;
      }
      const second = decideEscalation(policy, heavy, 0).action;
      expect(expected).toBe({ BLOCK: Outcome.BLOCK_ESCALATE, ALLOW: Outcome.ALLOW_ESCALATE, REVIEW: Outcome.REVIEW }[second]);
    }
  });

  /** A registry with a third detect model that escalates above its threshold, as a new detector would declare. */
  const withVelocity = withVelocityModel();
  const t3 = { ...thresholds, detect: { ...thresholds.detect, velocityEscalateAbove: 0.8 } };
  const policy3 = { ...policy, thresholds: { ...policy.thresholds, detect: t3.detect } };

  it('with an extra escalateAbove model in the registry, on 5,000 random score quadruples, they still agree and the model escalates', () => {
    const rand = mulberry32(11);
    let byVelocity = 0;
    for (let i = 0; i < 5_000; i++) {
      const first = { xgboost: rand(), isolationForest: rand(), velocity: rand() };
      const heavy = rand();
      const d = decideFirstLine(policy3, { scores: first, amountMinor: 100, country: 'FR', mcc: '5411', cardId: 'c', merchantId: 'm' }, withVelocity);
      const expected = route(t3, first, heavy, withVelocity);
      const velocityFires = first.xgboost < 0.9 && first.velocity >= 0.8;
      expect(d.rulesFired.some((h) => h.id === 'model.velocity_escalate')).toBe(velocityFires);
      if (velocityFires) {
        byVelocity++;
        expect(d.action).toBe('ESCALATE');
        expect(d.reason).toContain(`velocity ${first.velocity.toFixed(3)} >= 0.800`);
      }
      if (d.action !== 'ESCALATE') {
        expect(expected).toBe(d.action === 'BLOCK' ? Outcome.BLOCK_DETECT : Outcome.ALLOW_DETECT);
        continue;
      }
      const second = decideEscalation(policy3, heavy, 0).action;
      expect(expected).toBe({ BLOCK: Outcome.BLOCK_ESCALATE, ALLOW: Outcome.ALLOW_ESCALATE, REVIEW: Outcome.REVIEW }[second]);
    }
    expect(byVelocity).toBeGreaterThan(500);
  });

  it('the threshold search: identical for the registered models, and the extra model shares the anomaly budget', () => {
    const rand = mulberry32(3);
    const n = 20_000;
    const labels = Array.from({ length: n }, () => (rand() < 0.03 ? 1 : 0));
    const xgboost = labels.map((y) => (y ? 0.4 + 0.5 * rand() : rand() ** 3));
    const isolationForest = labels.map((y) => 0.5 * rand() + (y ? 0.3 : 0));
    const second = labels.map(() => rand());
    const rows = { xgboost, isolationForest, second };
    const plain = chooseThresholds(rows, labels);
    // A registry without the extra model is the registry: the same thresholds and outcomes.
    expect(chooseThresholds(rows, labels, undefined, [...MODELS])).toEqual(plain);
    const vel = labels.map(() => rand());
    const three = chooseThresholds({ ...rows, velocity: vel } as typeof rows, labels, undefined, withVelocity);
    const d3 = three.thresholds.detect as Record<string, number>;
    expect(Object.keys(d3)).toEqual(['blockAbove', 'allowBelow', 'anomalyEscalateAbove', 'velocityEscalateAbove']);
    expect(d3.blockAbove).toBe(plain.thresholds.detect.blockAbove);
    // Each escalateAbove model gets half of the 30% anomaly slice of the 3% escalation budget on legitimate rows.
    const legit = labels.flatMap((y, i) => (y ? [] : [i]));
    const share = (col: number[], at: number) => legit.filter((i) => col[i] >= at).length / legit.length;
    expect(share(isolationForest, plain.thresholds.detect.anomalyEscalateAbove)).toBeCloseTo(0.3 * 0.03, 3);
    expect(share(isolationForest, d3.anomalyEscalateAbove)).toBeCloseTo(0.15 * 0.03, 3);
    expect(share(vel, d3.velocityEscalateAbove)).toBeCloseTo(0.15 * 0.03, 3);
    expect(three.validation.escalateShare).toBeLessThanOrEqual(0.03);
    // And the validation numbers are the routing with the extra model.
    const outcomes = routeAll(three.thresholds, { ...rows, velocity: vel } as typeof rows, withVelocity);
    expect(outcomes.filter((o) => o !== Outcome.ALLOW_DETECT && o !== Outcome.BLOCK_DETECT).length / n).toBeCloseTo(three.validation.escalateShare, 12);
  });
});
