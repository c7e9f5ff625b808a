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
  /**
   * The feature spec of the version a case was decided with (its windows, entities and label delay are what the
   * stages computed for it); undefined for rules only or a version without one: the default spec.
   */
  specOf?: (version: string) => Promise<FeatureSpec | undefined>;
}

export async function readCaseBaseline({ peek, index, specOf }: BaselineReader, c: Case, now = Date.now()): Promise<CaseBaseline> {
  const spec = (await specOf?.(c.versions.model).catch(() => undefined)) ?? DEFAULT_FEATURE_SPEC;
  const [card, entities, found] = await Promise.all([
    peek.peekCard(c.cardId),
    peek.peekEntities(baselineKeys(spec, c.tx)),
    // No decidedAt bounds: a replayed or simulated stream is decided long after (or before) its transactions' time, so
    // a window on decidedAt around tx.ts found none of its rows. The pure part keeps the 30 days before by tx time.
    index.search({ card: c.cardId, limit: CARD_DECISIONS_READ }),
  ]);
  return caseBaseline({ tx: c.tx, features: c.features, spec, card, entities, decisions: found.rows, now });
}
