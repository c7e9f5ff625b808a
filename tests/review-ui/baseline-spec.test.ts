/** The case page's baseline reads the entities of the spec its case was decided with, not always the default one. */
import { describe, expect, it } from 'vitest';
import type { FeatureStatePeek } from '../../detectors/types.ts';
import { DEFAULT_FEATURE_SPEC, type FeatureSpec } from '../../detectors/pure/feature-spec.ts';
import { readCaseBaseline } from '../../review-ui/server/baseline.ts';
import { baselineKeys } from '../../review-ui/server/pure/baseline.ts';
import type { SearchIndex } from '../../state/search.ts';
import { openCase } from '../router/review-queue-fixtures.ts';

function fakes() {
  const asked: string[][] = [];
  const peek = { peekCard: async () => undefined, peekEntities: async (keys: string[]) => (asked.push([...keys]), new Map()) } as unknown as FeatureStatePeek;
  const index = { search: async () => ({ rows: [], total: 0 }) } as unknown as SearchIndex;
  return { asked, peek, index };
}

// A user's version: the merchant entity named terminal (their word for it), label risk 2 days late.
const own: FeatureSpec = { ...DEFAULT_FEATURE_SPEC, labelDelayDays: 2, entities: DEFAULT_FEATURE_SPEC.entities.map((e) => (e.name === 'merchant' ? { ...e, name: 'terminal' } : e)) };

describe('case baseline: the spec of the version that decided the case', () => {
  it('peeks the entities of that version\'s spec', async () => {
    const c = openCase('c1', 0.7, 1_000, { versions: { model: 'v-own', policy: 1 } as never });
    const f = fakes();
    const seen: string[] = [];
    await readCaseBaseline({ peek: f.peek, index: f.index, specOf: async (v) => (seen.push(v), v === 'v-own' ? own : undefined) }, c);
    expect(seen).toEqual(['v-own']);
    expect(f.asked).toEqual([baselineKeys(own, c.tx)]);
    expect(baselineKeys(own, c.tx)).not.toEqual(baselineKeys(DEFAULT_FEATURE_SPEC, c.tx));
  });

  it('falls back to the default spec for rules only, a version without a spec, or one that cannot be read', async () => {
    const c = openCase('c2', 0.7, 1_000);
    for (const specOf of [undefined, async () => undefined, async () => Promise.reject(new Error('gone'))]) {
      const f = fakes();
      await readCaseBaseline({ peek: f.peek, index: f.index, ...(specOf ? { specOf } : {}) }, c);
      expect(f.asked).toEqual([baselineKeys(DEFAULT_FEATURE_SPEC, c.tx)]);
    }
  });
});
