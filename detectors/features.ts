/**
 * The feature module: one definition (detectors/pure/features.ts), two stores.
 * Online: RedisFeatureStore. Offline (trainer): MemoryFeatureStore. Same vectors for the same stream.
 */
import type { Features } from '../core/contracts.ts';
import type { FeatureVector } from './types.ts';

export {
  FEATURE_NAMES,
  FEATURE_COUNT,
  WINDOWS,
  defaultFeatureContext,
  featureVector,
  applyToState,
  type FeatureName,
  type FeatureContext,
} from './pure/features.ts';
export { LIMITS as CARD_STATE_LIMITS } from './pure/card-state.ts';
export { MemoryFeatureStore } from './feature-store/memory.ts';
export { RedisFeatureStore, type RedisFeatureStoreOptions } from './feature-store/redis.ts';

/** A vector as a name -> value record (for escalations, cases and the UI). */
export function vectorToRecord(names: readonly string[], v: FeatureVector): Features {
  const out: Features = {};
  for (let i = 0; i < names.length; i++) out[names[i]] = v[i];
  return out;
}
