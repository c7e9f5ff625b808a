import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.ts';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { FeatureStore, ModelBundle } from '../detectors/types.ts';
import { latestModelVersion, loadModelVersion } from '../detectors/model-version.ts';
import { requireVersion } from '../detectors/version-names.ts';
import { FEATURE_NAMES, RedisFeatureStore } from '../detectors/features.ts';

export interface ServingModels {
  models?: ModelBundle;
  featureStore: (redis: Redis) => FeatureStore;
}

/**
 * A version detect can serve reads exactly the vector the online store computes (the default feature spec). A
 * version from an older feature layout or from a numeric CSV would score misaligned columns: refuse it loudly.
 */
export function checkServable(m: ModelBundle): ModelBundle {
  const same = m.featureNames.length === FEATURE_NAMES.length && m.featureNames.every((n, i) => n === FEATURE_NAMES[i]);
  if (!same) {
    const missing = FEATURE_NAMES.filter((n) => !m.featureNames.includes(n)).slice(0, 3);
    throw new FraudstreamError(
      ErrorCodes.BAD_INPUT,
      `model version ${m.version} reads ${m.featureNames.length} features, detect computes ${FEATURE_NAMES.length} (the default feature spec${missing.length ? `; it lacks ${missing.join(', ')}` : ''}): ` +
        'train a version on transactions with this tree (npm run train, or train --data FILE.csv --map ...)',
    );
  }
  return m;
}

export const redisFeatureStore = (config: Config) => (redis: Redis): FeatureStore => new RedisFeatureStore(redis, { keyPrefix: config.redis.keyPrefix });

/**
 * Which model version the stages serve: a folder path, the newest under MODEL_DIR ("latest"), or "none"
 * (rules-only mode). "latest" with no version yet falls back to rules-only with a warning, so a fresh
 * system still decides; the feature store runs either way so card state is warm when a model arrives.
 */
export async function loadServingModels(config: Config, choice: string): Promise<ServingModels> {
  const featureStore = redisFeatureStore(config);
  if (choice === 'none') return { featureStore };
  if (choice === 'latest') {
    try {
      return { models: checkServable(await latestModelVersion(config.modelDir)), featureStore };
    } catch (err) {
      if (err instanceof FraudstreamError && err.code === ErrorCodes.MODEL_NOT_FOUND) {
        logger('models').warn({ modelDir: path.resolve(config.modelDir) }, 'no model version yet: rules-only mode (train one with npm run train)');
        return { featureStore };
      }
      throw err;
    }
  }
  return { models: checkServable(await loadModelVersion(choice)), featureStore };
}

/** Loads a version by name from MODEL_DIR: what a policy's modelVersion points at. */
export async function loadNamedVersion(config: Config, name: string): Promise<ModelBundle> {
  // The one rule of which folders are versions (detectors/version-names.ts), as the console and the CLI apply it.
  return checkServable(await loadModelVersion((await requireVersion(config.modelDir, name)).dir));
}
