import { describe, expect, it } from 'vitest';
import { stageThresholds } from '../../core/model-registry.ts';
import { withVelocity as withVelocityModel } from '../helpers/registries.ts';
import { stageLegend, thresholdFields } from '../../review-ui/web/src/policy-thresholds.ts';


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
    const withVelocity = withVelocityModel();
    expect(thresholdFields('detect', withVelocity).map((f) => f.path)).toContain('detect.velocityEscalateAbove');
    expect(thresholdFields('detect', withVelocity).at(-1)).toMatchObject({ label: 'escalate at or above (velocity)', short: 'velocity' });
    expect(stageLegend('detect', withVelocity)).toBe('Detect (XGBoost + isolation forest + velocity)');
  });
});
