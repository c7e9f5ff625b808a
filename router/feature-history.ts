/**
 * Does detect decide on whole feature history? After Redis lost its data the entity state (state/features.ts) is
 * rebuilt only by `fraudstream restore features`; until then detect marks decisions `partialHistory`. The signal is
 * a marker key (featureCompleteKey) that a wipe removes with everything else:
 * - present: complete;
 * - absent and the detect group has never committed an offset: a first start with nothing to lose, so this process
 *   writes the marker (SET NX) and decides as complete;
 * - absent and the group has decided before: the state was lost; partial until a restore writes the marker.
 * The marker is read once per batch (one EXISTS beside the feature read), so a wipe is noticed by the next batch.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../core/logger.ts';
import { featureCompleteKey, type FeatureCompleteMark } from '../state/features.ts';

export interface FeatureHistory {
  /** True when the feature state is whole (see above). */
  complete(): Promise<boolean>;
}

export interface FeatureHistoryDeps {
  redis: Pick<Redis, 'exists' | 'set'>;
  prefix: string;
  /** Has the detect group committed any offset on its input (decided anything) before? */
  decidedBefore: () => Promise<boolean>;
  log: Pick<Logger, 'warn' | 'info'>;
  now?: () => number;
}

export function featureHistory(deps: FeatureHistoryDeps): FeatureHistory {
  const key = featureCompleteKey(deps.prefix);
  // Shared by the calls that race to it (partitions decide concurrently): all wait for the one look.
  let firstLook: Promise<boolean> | undefined;
  let partial = false;
  return {
    async complete() {
      if ((await deps.redis.exists(key)) === 1) {
        if (partial) deps.log.info('feature state restored: decisions no longer marked partialHistory');
        partial = false;
        return true;
      }
      firstLook ??= (async () => {
        if (await deps.decidedBefore()) return false;
        const mark: FeatureCompleteMark = { at: (deps.now ?? Date.now)(), by: 'first-start' };
        await deps.redis.set(key, JSON.stringify(mark), 'NX');
        return true;
      })().catch((err: unknown) => {
        firstLook = undefined;
        throw err;
      });
      if ((await firstLook) && (await deps.redis.exists(key)) === 1) return true;
      if (!partial) deps.log.warn('feature state lost (its marker is gone from Redis and this group has decided before): decisions are marked partialHistory until `fraudstream restore features` rebuilds it');
      partial = true;
      return false;
    },
  };
}
