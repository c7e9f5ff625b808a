/**
 * Feature store card state (detectors/feature-store/redis.ts): one hash per card, `<prefix>feat:{<cardId>}`,
 * hash-tagged by card for Redis Cluster. TTL: the store's ttlSeconds option (idle cards expire).
 */
export const featureCardKey = (prefix: string, cardId: string): string => `${prefix}feat:{${cardId}}`;
/**
 * Entity state of the feature spec (detectors/pure/entity-state.ts): one hash per entity, `<prefix>feat:e:{<name>:<id>}`
 * (the global entity is `*:*`), fields d<day>, m, c, p, o. TTL: the store's ttlSeconds, refreshed on every write.
 * Size: at most the spec's retention in day buckets (38 for the default spec: 32 bytes each), 64 counterparties
 * (12 bytes each) and 256 pending labels (12 bytes each).
 */
export const featureEntityKey = (prefix: string, entityKey: string): string => `${prefix}feat:e:{${entityKey}}`;
/** "This transaction's fraud label was counted" (the first fraud label counts once); TTL = the store's ttlSeconds. */
export const featureLabelKey = (prefix: string, txId: string): string => `${prefix}feat:l:${txId}`;
/**
 * The new-card cap's counters (detectors/pure/new-card-cap.ts): per scope (`m:<merchantId>` or `p:<card prefix>`) and
 * minute of event time, a hash of the cards admitted as new (at most the cap's per-minute count: bounded whatever the
 * attack's rate). TTL NEW_CARDS_TTL_SECONDS from its first card. All share the hash tag `{newcards}` (one slot, so the
 * cap's one script runs on Redis Cluster too).
 */
export const featureNewCardsKey = (prefix: string, scope: string, minute: number): string => `${prefix}feat:n:{newcards}:${scope}:${minute}`;
export const NEW_CARDS_TTL_SECONDS = 180;
/** Every entity hash and label claim under a prefix (SCAN MATCH), for a warm start that rebuilds them. */
export const featureEntityPattern = (prefix: string): string => `${prefix}feat:[el]:*`;
/**
 * "The feature state is whole": written (no TTL) by detect's first start on a group that never decided anything
 * (nothing to lose yet) and by `fraudstream restore features` when its replay finished. A Redis that lost its data
 * (FLUSHALL, a restart without persistence) loses this key with the rest, so detect, finding it absent on a group
 * that has decided before, marks its decisions `partialHistory` until a restore writes it again. Not matched by
 * featureEntityPattern (a warm start keeps it).
 */
export const featureCompleteKey = (prefix: string): string => `${prefix}feat:complete`;
/** Every feature key (cards, entities, label claims and the marker) under a prefix (SCAN MATCH), for a restore that rebuilds them. */
export const featureKeysPattern = (prefix: string): string => `${prefix}feat:*`;

export interface FeatureCompleteMark {
  at: number;
  by: 'first-start' | 'restore';
  /** What a restore replayed. */
  transactions?: number;
  labels?: number;
  /** Event time of the oldest transaction replayed. */
  fromTs?: number;
}
