import { describe, expect, it } from 'vitest';
import { MODELS, stageThresholds, type ModelSpec } from '../../detectors/registry.ts';
import { stageLegend, thresholdFields } from '../../review-ui/web/src/policy-thresholds.ts';

const velocity: ModelSpec = {
  id: 'velocity',
  label: 'velocity',
  stage: 'detect',
  learns: 'unsupervised',
  score: '0..1',
  thresholds: [{ key: 'velocityEscalateAbove', description: 'velocity at or above which detect escalates', coldStart: 0.8 }],
  routing: { role: 'escalateAbove', threshold: 'velocityEscalateAbove', ruleId: 'model.velocity_escalate', description: 'velocity is unusual', reasonLabel: 'velocity' },
};

describe("the Policy page's threshold fields come from the registry", () => {
  it('the registered models: the band first, then the isolation forest; the escalate stage its two', () => {
    expect(thresholdFields('detect').map((f) => [f.path, f.label, f.short])).toEqual([
      ['detect.blockAbove', 'block at or above', 'block'],
      ['detect.allowBelow', 'allow below', 'allow'],
      ['detect.anomalyEscalateAbove', 'escalate at or above (isolation forest)', 'anomaly'],
    ]);
    expect(thresholdFields('escalate').map((f) => [f.path, f.label])).toEqual([
      ['escalate.blockAbove', 'block at or above'],
      ['escalate.allowBelow', 'allow below'],
    ]);
    expect(stageLegend('detect')).toBe('Detect (XGBoost + isolation forest)');
    expect(stageLegend('escalate')).toBe('Escalate (heavy model)');
  });

  it('every threshold the policy holds has exactly one field, with its description', () => {
    for (const stage of ['detect', 'escalate'] as const) {
      const fields = thresholdFields(stage);
      expect(fields.map((f) => f.key).sort()).toEqual(stageThresholds(stage).map((t) => t.key).sort());
      for (const f of fields) expect(f.description).toBe(stageThresholds(stage).find((t) => t.key === f.key)!.description);
    }
  });

  it('a newly registered detector gets its field without touching the page', () => {
    const withVelocity = [...MODELS, velocity];
    expect(thresholdFields('detect', withVelocity).map((f) => f.path)).toContain('detect.velocityEscalateAbove');
    expect(thresholdFields('detect', withVelocity).at(-1)).toMatchObject({ label: 'escalate at or above (velocity)', short: 'velocity' });
    expect(stageLegend('detect', withVelocity)).toBe('Detect (XGBoost + isolation forest + velocity)');
  });
});
