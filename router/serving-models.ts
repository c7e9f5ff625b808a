import type { Config } from '../core/config.ts';
import type { FeatureStore, ModelBundle } from '../detectors/types.ts';
import type { Redis } from 'ioredis';

export interface ServingModels {
  models?: ModelBundle;
  featureStore?: (redis: Redis) => FeatureStore;
}

/**
 * Which model version the stages serve: a folder, the newest under MODEL_DIR ("latest"), or none
 * (rules-only mode). Not wired to detectors/ yet: every choice serves rules-only for now.
 */
export async function loadServingModels(_config: Config, choice: string): Promise<ServingModels> {
  void choice;
  return {};
}
