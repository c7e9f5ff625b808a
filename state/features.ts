/**
 * Feature store card state (detectors/feature-store/redis.ts): one hash per card, `<prefix>feat:{<cardId>}`,
 * hash-tagged by card for Redis Cluster. TTL: the store's ttlSeconds option (idle cards expire).
 */
export const featureCardKey = (prefix: string, cardId: string): string => `${prefix}feat:{${cardId}}`;
