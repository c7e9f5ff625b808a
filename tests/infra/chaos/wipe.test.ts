/** redis-wipe's comparison (infra/chaos/scenarios.ts wipeDifferences): each kind of loss it must name. */
import { describe, expect, it } from 'vitest';
import { wipeDifferences } from '../../../infra/chaos/scenarios.ts';

const before = {
  policyVersion: '3',
  policy: '{"version":3}',
  accounts: { 'p:ui:user:chaos': '{"hash":"a"}', 'p:ui:user:ana': '{"hash":"b"}' },
  openCases: { 'case-1': '{"id":1}', 'case-2': '{"id":2}' },
  shadow: { active: '{"model":"m"}', last: 'm' },
  auditHead: '4 abc',
  audit: ['e4', 'e3', 'e2', 'e1'],
};

describe('redis-wipe comparison', () => {
  it('equal state, and more open cases than before (traffic went on), are fine', () => {
    expect(wipeDifferences(before, { ...before, openCases: { ...before.openCases, 'case-3': '{}' } })).toEqual([]);
  });

  it('names a policy back at v1, a lost or changed account, a lost or changed open case, another shadow run, a chain restarted', () => {
    const d = wipeDifferences(before, {
      policyVersion: '1',
      policy: '{"version":1}',
      accounts: { 'p:ui:user:chaos': '{"hash":"other"}' },
      openCases: { 'case-2': '{"id":"changed"}' },
      shadow: { active: null, last: null },
      auditHead: '1 def',
      audit: ['x1'],
    });
    expect(d).toEqual([
      'policy: v3 before the wipe, v1 after',
      'account chaos: changed (hash, role or epoch)',
      'account ana: lost',
      '1 open cases lost (e.g. case-1)',
      '1 open cases changed (e.g. case-2; case-2: id 2 -> "changed")',
      'shadow run: not the one that ran before the wipe',
      'audit chain head: "4 abc" before, "1 def" after',
    ]);
  });
});
