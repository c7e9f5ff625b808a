/** The model registry (core/model-registry.ts) is what the contracts, the policy and drift monitoring are built from. */
import { describe, expect, it } from 'vitest';
import { PolicySchema, ScoresSchema, scoresSchemaOf, thresholdsSchemaOf } from '../../core/contracts.ts';
import { coldStartThresholds, FIRST_LINE_MODELS, MODEL_IDS, MODELS, stageThresholds, type ModelSpec } from '../../core/model-registry.ts';
import { SCORE_ENTRIES } from '../../detectors/pure/drift.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';

const graph: ModelSpec = {
  id: 'graph',
  label: 'graph model',
  stage: 'detect',
  learns: 'unsupervised',
  score: '0..1, higher = closer to known fraud rings',
  thresholds: [{ key: 'ringEscalateAbove', description: 'graph score at or above which detect escalates', coldStart: 0.6 }],
};

describe('model registry', () => {
  it('has unique model ids, and unique threshold keys within each stage', () => {
    expect(new Set(MODEL_IDS).size).toBe(MODELS.length);
    for (const stage of ['detect', 'escalate'] as const) {
      const keys = stageThresholds(stage).map((t) => t.key);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  it('scores: one optional number per registered model, nothing else', () => {
    expect(Object.keys(ScoresSchema.shape).sort()).toEqual([...MODEL_IDS].sort());
    expect(ScoresSchema.parse({})).toEqual({});
    expect(ScoresSchema.safeParse({ unknownModel: 0.5 }).success).toBe(false);
  });

  it('policy thresholds: exactly the keys the models declare, per stage', () => {
    const p = defaultPolicy(coldStartThresholds());
    expect(Object.keys(p.thresholds.detect).sort()).toEqual(stageThresholds('detect').map((t) => t.key).sort());
    expect(Object.keys(p.thresholds.escalate).sort()).toEqual(stageThresholds('escalate').map((t) => t.key).sort());
    expect(PolicySchema.parse(p).thresholds).toEqual(p.thresholds);
    const { anomalyEscalateAbove: _dropped, ...missing } = p.thresholds.detect;
    expect(PolicySchema.safeParse({ ...p, thresholds: { ...p.thresholds, detect: missing } }).success).toBe(false);
  });

  it('a model added to the registry gets a score key, its policy thresholds and its cold-start values', () => {
    const models = [...MODELS, graph];
    expect(Object.keys(scoresSchemaOf(models.map((m) => m.id)).shape)).toContain('graph');
    const detect = thresholdsSchemaOf('detect', models);
    expect(Object.keys(detect.shape)).toContain('ringEscalateAbove');
    expect(detect.safeParse({ ...coldStartThresholds().detect }).success).toBe(false);
    expect(detect.parse({ ...coldStartThresholds().detect, ringEscalateAbove: 0.6 })).toMatchObject({ ringEscalateAbove: 0.6 });
    expect(coldStartThresholds(models).detect).toMatchObject({ ringEscalateAbove: 0.6 });
  });

  it('cold start: the values policy v1 always had', () => {
    const expected = { detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 }, escalate: { blockAbove: 0.8, allowBelow: 0.3 } };
    expect(coldStartThresholds()).toEqual(expected);
    expect(COLD_START_THRESHOLDS).toEqual(expected);
  });

  it('drift monitoring watches the score of every first-line model', () => {
    expect(Object.keys(SCORE_ENTRIES).sort()).toEqual(FIRST_LINE_MODELS.map((m) => m.id).sort());
    expect(FIRST_LINE_MODELS.every((m) => m.stage === 'detect')).toBe(true);
  });
});
