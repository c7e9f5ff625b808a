import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.ts';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { FeatureStore, ModelBundle } from '../detectors/types.ts';
import { latestModelVersion, loadModelVersion } from '../detectors/model-version.ts';
import { requireVersion } from '../detectors/version-names.ts';
import { RedisFeatureStore } from '../detectors/features.ts';
import { featureNamesFor } from '../detectors/pure/features.ts';
import { DEFAULT_FEATURE_SPEC, type FeatureSpec } from '../detectors/pure/feature-spec.ts';

export interface ServingModels {
  models?: ModelBundle;
  featureStore: (redis: Redis) => FeatureStore;
  /** The feature spec the online store computes: the served version's, or the default without one. */
  spec: FeatureSpec;
}

/** The spec a version's vectors were made with: its own, or the default for versions saved before specs were. */
export const specOf = (m: ModelBundle): FeatureSpec => m.spec ?? DEFAULT_FEATURE_SPEC;

/** Where two specs differ, in a few words (empty when they are the same). */
export function specDifference(a: FeatureSpec, b: FeatureSpec): string {
  if (JSON.stringify(a) === JSON.stringify(b)) return '';
  const parts: string[] = [];
  if (a.labelDelayDays !== b.labelDelayDays) parts.push(`label delay ${a.labelDelayDays} d against ${b.labelDelayDays} d`);
  if (a.smoothing !== b.smoothing) parts.push(`smoothing ${a.smoothing} against ${b.smoothing}`);
  const names = (s: FeatureSpec) => featureNamesFor(s).join(',');
  if (names(a) !== names(b)) parts.push(`${featureNamesFor(a).length} features against ${featureNamesFor(b).length}`);
  return parts.join('; ') || 'entities or windows differ';
}

/**
 * A version detect can serve reads exactly the vector the online store computes with `spec` (by default the
 * version's own spec, which the store is then built with). A version from an older feature layout, from a numeric
 * CSV, or made with another spec than the running store's would score misaligned or differently meant columns:
 * refuse it loudly.
 */
export function checkServable(m: ModelBundle, spec: FeatureSpec = specOf(m)): ModelBundle {
  const diff = specDifference(specOf(m), spec);
  if (diff) {
    throw new FraudstreamError(
      ErrorCodes.BAD_INPUT,
      `model version ${m.version} was trained with another feature spec than the running stages compute (${diff}): restart the stages with --model ${m.version} to serve it`,
    );
  }
  const expected = featureNamesFor(spec);
  const same = m.featureNames.length === expected.length && m.featureNames.every((n, i) => n === expected[i]);
  if (!same) {
    const missing = expected.filter((n) => !m.featureNames.includes(n)).slice(0, 3);
    throw new FraudstreamError(
      ErrorCodes.BAD_INPUT,
      `model version ${m.version} reads ${m.featureNames.length} features, detect computes ${expected.length} (its feature spec${missing.length ? `; it lacks ${missing.join(', ')}` : ''}): ` +
        'train a version on transactions with this tree (npm run train, or train --data FILE.csv --map ...)',
    );
  }
  return m;
}

export const redisFeatureStore =
  (config: Config, spec: FeatureSpec = DEFAULT_FEATURE_SPEC) =>
  (redis: Redis): FeatureStore =>
    new RedisFeatureStore(redis, { keyPrefix: config.redis.keyPrefix, spec, newCardCap: config.features.newCardCap });

/** A served version and the store computing its spec; the spec is logged when it is not the default. */
function serving(config: Config, models: ModelBundle): ServingModels {
  const spec = specOf(checkServable(models));
  if (specDifference(spec, DEFAULT_FEATURE_SPEC)) logger('models').info({ version: models.version, spec: specDifference(spec, DEFAULT_FEATURE_SPEC) }, 'serving a version trained with its own feature spec: the online store computes that spec');
  return { models, featureStore: redisFeatureStore(config, spec), spec };
}

/**
 * Which model version the stages serve: a folder path, the newest under MODEL_DIR ("latest"), or "none"
 * (rules-only mode). "latest" with no version yet falls back to rules-only with a warning, so a fresh
 * system still decides; the feature store runs either way so card state is warm when a model arrives. The store
 * computes the served version's feature spec (its label delay, entities and windows); later versions a policy
 * points at must share it.
 */
export async function loadServingModels(config: Config, choice: string): Promise<ServingModels> {
  const rulesOnly = { featureStore: redisFeatureStore(config), spec: DEFAULT_FEATURE_SPEC };
  if (choice === 'none') return rulesOnly;
  if (choice === 'latest') {
    try {
      return serving(config, await latestModelVersion(config.modelDir));
    } catch (err) {
      if (err instanceof FraudstreamError && err.code === ErrorCodes.MODEL_NOT_FOUND) {
        logger('models').warn({ modelDir: path.resolve(config.modelDir) }, 'no model version yet: rules-only mode (train one with npm run train)');
        return rulesOnly;
      }
      throw err;
    }
  }
  return serving(config, await loadModelVersion(choice));
}

/**
 * Loads a version by name from MODEL_DIR: what a policy's modelVersion points at. `spec` is the running store's (a
 * version made with another is refused); 'its own' for offline work that computes the version's own spec.
 */
export async function loadNamedVersion(config: Config, name: string, spec: FeatureSpec | 'its own'): Promise<ModelBundle> {
  // The one rule of which folders are versions (detectors/version-names.ts), as the console and the CLI apply it.
  const m = await loadModelVersion((await requireVersion(config.modelDir, name)).dir);
  try {
    return checkServable(m, spec === 'its own' ? specOf(m) : spec);
  } catch (err) {
    m.dispose();
    throw err;
  }
}
