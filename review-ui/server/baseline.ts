/** Reads what a case is explained against (the feature store now, the card's decisions in the search index) and explains it. */
import type { Case } from '../../core/contracts.ts';
import type { FeatureStatePeek } from '../../detectors/types.ts';
import { DEFAULT_FEATURE_SPEC, type FeatureSpec } from '../../detectors/pure/feature-spec.ts';
import type { SearchIndex } from '../../state/search.ts';
import { baselineKeys, caseBaseline, type CaseBaseline } from './pure/baseline.ts';

/** The card's decisions read from the index for its median amount, usual merchants and hours (the index keeps 1,000 per card). */
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
    // No decidedAt bounds: a replayed or simulated stream is decided long after (or before) its transactions' time, so
    // a window on decidedAt around tx.ts found none of its rows. The pure part keeps the 30 days before by tx time.
    index.search({ card: c.cardId, limit: CARD_DECISIONS_READ }),
  ]);
  return caseBaseline({ tx: c.tx, features: c.features, spec, card, entities, decisions: found.rows, now });
}
