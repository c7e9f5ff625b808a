import { describe, expect, it } from 'vitest';
import type { Case } from '../../../core/contracts.ts';
import { heavyPath } from '../../../infra/chaos/pure/heavy-path.ts';
import { buildDecision, encodeDecision } from '../../../router/pure/decision.ts';
import { openCase } from '../../router/review-queue-fixtures.ts';

const c: Case = openCase('k', 0.6, 1_000);
const wire = (stage: 'detect' | 'escalate', action: 'ALLOW' | 'BLOCK' | 'REVIEW', scores: Case['scores'], model = c.versions.model) =>
  encodeDecision(buildDecision({ ...c, scores, versions: { ...c.versions, model } }, { stage, action, reason: 'r', rulesFired: [], timings: {}, decidedAt: 5 }));

describe('the chaos suite counts the heavy path from decisions as written on the topic', () => {
  it('counts escalate decisions with a heavy score, the REVIEWs among them, and decisions of another version', () => {
    const decisions = [
      wire('detect', 'ALLOW', { isolationForest: 0.1, xgboost: 0.01 }),
      wire('escalate', 'REVIEW', { isolationForest: 0.1, xgboost: 0.5, heavy: 0.6 }),
      wire('escalate', 'BLOCK', { isolationForest: 0.1, xgboost: 0.5, heavy: 0.9 }),
      // Escalate decided on XGBoost: no heavy score (the wire leaves the trailing null out).
      wire('escalate', 'ALLOW', { isolationForest: 0.1, xgboost: 0.3 }),
      wire('detect', 'ALLOW', { xgboost: 0.01 }, 'v-other'),
      'not json',
    ];
    expect(heavyPath(decisions, c.versions.model)).toEqual({ decisions: 6, escalateDecisions: 3, escalateScoredByHeavy: 2, reviews: 1, otherModel: 1 });
  });
});
