/** One Decision builder and one routing order: what detect, escalate, the analyst and the trainer share. */
import { describe, expect, it } from 'vitest';
import { DecisionSchema, type Case } from '../../core/contracts.ts';
import { buildDecision } from '../../router/pure/decision.ts';
import { decideEscalation, decideFirstLine } from '../../router/pure/policy.ts';
import { Outcome, route } from '../../detectors/pure/routing.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { defaultPolicy } from '../../state/policy.ts';
import { openCase } from './review-queue-fixtures.ts';

const thresholds = { detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } };
const policy = { ...defaultPolicy(thresholds), review: { capacity: 1_000_000 } };

describe('buildDecision', () => {
  const c: Case = openCase('k', 0.6, 1_000);
  const made = (action: 'ALLOW' | 'BLOCK' | 'REVIEW', stage: 'detect' | 'escalate' | 'review', extra: { analyst?: string; note?: string } = {}) =>
    buildDecision(c, { stage, action, reason: 'r', rulesFired: [], timings: { [stage]: 1 }, decidedAt: 5, ...extra });

  it('makes a valid decision named after the transaction and the deciding stage, carrying the case why', () => {
    const d = made('BLOCK', 'escalate');
    expect(DecisionSchema.parse(d)).toEqual(d);
    expect(d).toMatchObject({ decisionId: `${c.txId}:escalate`, txId: c.txId, cardId: c.cardId, scores: c.scores, versions: c.versions, tx: c.tx });
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

describe('routing order: the live policy and the trainer agree', () => {
  it('on 5,000 random score triples, the stages decide what the trainer routes', () => {
    const rand = mulberry32(7);
    for (let i = 0; i < 5_000; i++) {
      const [xgb, iforest, heavy] = [rand(), rand(), rand()];
      const first = decideFirstLine(policy, { scores: { xgboost: xgb, isolationForest: iforest }, amountMinor: 100, country: 'FR', mcc: '5411', cardId: 'c', merchantId: 'm' });
      const expected = route(thresholds, xgb, iforest, heavy);
      if (first.action !== 'ESCALATE') {
        expect(expected).toBe(first.action === 'BLOCK' ? Outcome.BLOCK_DETECT : Outcome.ALLOW_DETECT);
        continue;
      }
      const second = decideEscalation(policy, heavy, 0).action;
      expect(expected).toBe({ BLOCK: Outcome.BLOCK_ESCALATE, ALLOW: Outcome.ALLOW_ESCALATE, REVIEW: Outcome.REVIEW }[second]);
    }
  });
});
