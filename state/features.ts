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
/** Every entity hash and label claim under a prefix (SCAN MATCH), for a warm start that rebuilds them. */
export const featureEntityPattern = (prefix: string): string => `${prefix}feat:[el]:*`;
