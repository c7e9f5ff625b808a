/** Reads what a case is explained against (the feature store now, the card's decisions in the search index) and explains it. */
import type { Case } from '../../core/contracts.ts';
import type { FeatureStatePeek } from '../../detectors/types.ts';
import { DEFAULT_FEATURE_SPEC, DAY_MS, type FeatureSpec } from '../../detectors/pure/feature-spec.ts';
import type { SearchIndex } from '../../state/search.ts';
import { BASELINE_DAYS, baselineKeys, caseBaseline, type CaseBaseline } from './pure/baseline.ts';

/** The card's decisions read from the index for its usual merchants and hours (the index keeps 1,000 per card). */
const CARD_DECISIONS_READ = 1_000;

export interface BaselineReader {
  peek: FeatureStatePeek;
  index: SearchIndex;
  /** The online store's spec (the stages serve DEFAULT_FEATURE_SPEC). */
  spec?: FeatureSpec;
}

export async function readCaseBaseline({ peek, index, spec = DEFAULT_FEATURE_SPEC }: BaselineReader, c: Case, now = Date.now()): Promise<CaseBaseline> {
  const [card, entities, found] = await Promise.all([
    peek.peekCard(c.cardId),
    peek.peekEntities(baselineKeys(spec, c.tx)),
    // decidedAt bounds: a decision comes after its transaction, so the upper bound keeps the flagged one's own out by its tx time below
    index.search({ card: c.cardId, from: c.tx.ts - BASELINE_DAYS * DAY_MS, to: c.tx.ts + DAY_MS, limit: CARD_DECISIONS_READ }),
  ]);
  return caseBaseline({ tx: c.tx, features: c.features, spec, card, entities, decisions: found.rows, now });
}
