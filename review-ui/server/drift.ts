/** The drift view's data: a version's training reference against the live counts the detect stage keeps in Redis. */
import type { Redis } from 'ioredis';
import { UserInputError } from '../../core/errors.ts';
import { driftSnapshot, type DriftSnapshot } from '../../detectors/drift.ts';
import { driftCounts, PSI_THRESHOLDS } from '../../detectors/pure/drift.ts';
import { checkVersion } from '../../detectors/version-names.ts';
import { versionDir } from './models.ts';

export interface DriftResponse extends Partial<Omit<DriftSnapshot, 'version'>> {
  version: string | null;
  /** True when this is the version the current policy names. */
  served: boolean;
  policyVersion: number;
  thresholds: typeof PSI_THRESHOLDS;
  counts?: ReturnType<typeof driftCounts>;
  /** Why there is nothing to show (no version named, no reference, unreadable reference). */
  message?: string;
}

/**
 * `version` from the query (validated) or the policy's model. Returns undefined when the folder does not exist
 * (the route answers 404).
 */
export async function driftForVersion(
  redis: Redis,
  prefix: string,
  modelDir: string,
  query: unknown,
  policy: { version: number; modelVersion?: string | null },
): Promise<DriftResponse | undefined> {
  if (query !== undefined && typeof query !== 'string') throw new UserInputError('version: one model version name');
  const version = (query as string | undefined) ?? policy.modelVersion ?? null;
  const base = { version, served: version !== null && version === policy.modelVersion, policyVersion: policy.version, thresholds: PSI_THRESHOLDS };
  if (version === null) return { ...base, message: 'The policy names no model version: nothing to compare live traffic with.' };
  // The policy's name is checked too: a policy written straight into Redis must not steer a read outside MODEL_DIR.
  const dir = versionDir(modelDir, version);
  // The one version rule (detectors/version-names.ts): a folder that is not a version is refused, a missing one is 404.
  const check = await checkVersion(modelDir, version);
  if ('missing' in check) return undefined;
  if ('notVersion' in check) throw new UserInputError(`version: ${check.reason}`);
  let snap: DriftSnapshot;
  try {
    snap = await driftSnapshot(redis, prefix, dir);
  } catch (err) {
    return { ...base, message: `drift-reference.json of ${version} is unusable: ${(err as Error).message}` };
  }
  if (!snap.hasReference) {
    return { ...base, ...snap, message: `${version} has no drift reference (trained before drift monitoring): train a new version to monitor drift.` };
  }
  return { ...base, ...snap, counts: driftCounts(snap.rows) };
}
