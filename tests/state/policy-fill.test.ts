import { describe, expect, it } from 'vitest';
import { thresholdsSchemaOf } from '../../core/contracts.ts';
import { coldStartThresholds } from '../../core/model-registry.ts';
import { withVelocity as withVelocityModel } from '../helpers/registries.ts';
import { defaultPolicy, fillMissingThresholds, parseStoredPolicy } from '../../state/policy.ts';

const stored = defaultPolicy({ detect: { blockAbove: 0.93, allowBelow: 0.11, anomalyEscalateAbove: 0.55 }, escalate: { blockAbove: 0.85, allowBelow: 0.25 } }, 'm-1', 5);

/** A detector registered after `stored` was written: its threshold key is in no stored policy. */
const withVelocity = withVelocityModel(0.66);

describe('fillMissingThresholds', () => {
  it('gives a policy stored before a detector was registered that detector\'s cold-start threshold, keeping the stored ones', () => {
    const before = JSON.parse(JSON.stringify(stored));
    expect(thresholdsSchemaOf('detect', withVelocity).safeParse(before.thresholds.detect).success).toBe(false);
    const { doc, filled } = fillMissingThresholds(before, withVelocity);
    expect(filled).toEqual(['detect.velocityEscalateAbove']);
    const detect = (doc as typeof stored).thresholds.detect as Record<string, number>;
    expect(thresholdsSchemaOf('detect', withVelocity).parse(detect)).toEqual({ ...stored.thresholds.detect, velocityEscalateAbove: 0.66 });
    expect(before.thresholds.detect.velocityEscalateAbove).toBeUndefined();
  });

  it('leaves a complete policy as it is, and a document without thresholds to the schema', () => {
    expect(fillMissingThresholds(stored).filled).toEqual([]);
    expect(fillMissingThresholds(stored).doc).toBe(stored);
    expect(fillMissingThresholds({ version: 1 }).filled).toEqual([]);
  });
});

describe('parseStoredPolicy', () => {
  it('reads a stored policy lacking a registered key with the registry\'s cold-start value', () => {
    const raw = JSON.parse(JSON.stringify(stored));
    delete raw.thresholds.detect.anomalyEscalateAbove;
    delete raw.thresholds.escalate.allowBelow;
    const p = parseStoredPolicy(JSON.stringify(raw));
    const cold = coldStartThresholds();
    expect(p.thresholds.detect).toEqual({ blockAbove: 0.93, allowBelow: 0.11, anomalyEscalateAbove: cold.detect.anomalyEscalateAbove });
    expect(p.thresholds.escalate).toEqual({ blockAbove: 0.85, allowBelow: cold.escalate.allowBelow });
  });

  it('still rejects a stored policy that is wrong in another way', () => {
    const raw = JSON.parse(JSON.stringify(stored));
    raw.thresholds.detect.blockAbove = 2;
    expect(() => parseStoredPolicy(JSON.stringify(raw))).toThrow();
  });
});
