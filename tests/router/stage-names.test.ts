/** The chaos suite reads its stages from the registry (router/stages.ts): a kill per stage, members per stage. */
import { describe, expect, it } from 'vitest';
import { PIPELINE_STAGES, DECISION_STAGES } from '../../core/contracts.ts';
import { SCENARIOS } from '../../infra/chaos/scenarios.ts';
import { STAGES } from '../../router/stages.ts';

describe('stage names come from the registry', () => {
  it('chaos kills a member of every registered decision stage mid-transaction, and only registered stages', () => {
    const kills = SCENARIOS.filter((s) => s.name.startsWith('kill-'));
    expect(kills.map((s) => s.name)).toEqual(DECISION_STAGES.map((s) => `kill-${s}`));
    // the labels stage and the ops service write no topic (nothing to catch uncommitted); their once-only counting is
    // the runner's claim (and the feature store's); the ops service has its own scenario (console-down)
    expect(PIPELINE_STAGES.filter((s) => !(DECISION_STAGES as readonly string[]).includes(s))).toEqual(['labels', 'ops']);
    expect(SCENARIOS.find((s) => s.name === 'console-down')?.ops?.length).toBe(2);
    for (const [i, stage] of DECISION_STAGES.entries()) {
      expect(kills[i][stage]?.map((m) => m.id)).toEqual([`${stage}-held`, `${stage}-peer`]);
      for (const other of PIPELINE_STAGES.filter((s) => s !== stage)) expect(kills[i][other]).toBeUndefined();
    }
    expect(Object.keys(STAGES)).toEqual([...PIPELINE_STAGES]);
  });
});
