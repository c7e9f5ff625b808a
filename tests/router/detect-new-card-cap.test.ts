/** Detect on a card over the new-card cap (issue 19): the decision says its features had no stored state, as a rule hit. */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { DecisionSchema, type Transaction } from '../../core/contracts.ts';
import { loadConfig } from '../../core/config.ts';
import { MemoryFeatureStore } from '../../detectors/features.ts';
import { detectLogic } from '../../router/detect-stage.ts';
import type { PolicySource } from '../../router/policy-source.ts';
import { defaultPolicy } from '../../state/policy.ts';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const tx = (i: number): Transaction => ({
  txId: `t${i}`, cardId: `c${i}`, merchantId: 'M1', merchantName: 'M', mcc: '5411', amountMinor: 1000, currency: 'EUR',
  ts: T0 + i * 1000, channel: 'ecommerce', country: 'FR', lat: 48.8, lon: 2.3, deviceId: null,
});

describe('detect with the new-card cap', () => {
  it('marks the decisions of capped cards with the info rule new-card-cap, and only those', async () => {
    const policy = defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } });
    const source: PolicySource = { current: () => policy, refresh: async () => policy, onChange: () => undefined, close: async () => undefined };
    const logic = detectLogic({
      config: loadConfig({}),
      policy: source,
      redis: {} as Redis,
      features: new MemoryFeatureStore({ newCardCap: { perMinute: 2, prefixLength: 6 } }),
      models: () => undefined,
    });
    const out = await logic.handle([1, 2, 3].map((i) => ({ value: tx(i), receivedAt: T0 })));
    const decisions = out.map((o) => DecisionSchema.parse(JSON.parse(String(o[0]!.value))));
    expect(decisions.map((d) => d.rulesFired.filter((r) => r.id === 'new-card-cap').length)).toEqual([0, 0, 1]);
    expect(decisions[2]!.rulesFired.find((r) => r.id === 'new-card-cap')).toMatchObject({ effect: 'info', value: 'merchant M1', threshold: 2 });
    expect(decisions[2]!.action).toBe(decisions[0]!.action);
  });
});
