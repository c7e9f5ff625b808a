import { resolve, relative, sep } from 'node:path';
import { UserInputError } from '../../core/errors.ts';
import { checkVersion, isVersionName, listVersionEntries, type VersionEntry } from '../../detectors/version-names.ts';

/**
 * The folder of version `name` under modelDir. Refuses (400) a name that cannot name a version (detectors/version-names.ts's
 * rule: one folder name, not hidden) and, as a second check, any path that would resolve outside modelDir.
 */
export function versionDir(modelDir: string, name: string): string {
  if (!isVersionName(name)) throw new UserInputError(`version: ${JSON.stringify(name.slice(0, 80))} is not a model version name (one folder name: letters, digits, . _ -; not starting with a dot)`);
  const root = resolve(modelDir);
  const dir = resolve(root, name);
  const rel = relative(root, dir);
  if (rel === '' || rel.startsWith('..') || rel.includes(sep)) throw new UserInputError(`version: ${JSON.stringify(name)} leaves MODEL_DIR`);
  return dir;
}

export interface ModelVersion {
  version: string;
  /** The folder's model-card.json, as written by the trainer; null when a trainer-named version's card is unreadable. */
  card: Record<string, unknown> | null;
  error?: string;
  modifiedAt: number;
}

const toModelVersion = (v: VersionEntry): ModelVersion => ({ version: v.name, card: v.card, ...(v.error !== undefined ? { error: v.error } : {}), modifiedAt: v.modifiedAt });

/** Every model version under modelDir (detectors/version-names.ts's rule, as every reader applies it), newest first. A missing modelDir is an empty registry, not an error. */
export async function listModels(modelDir: string): Promise<ModelVersion[]> {
  return (await listVersionEntries(modelDir)).reverse().map(toModelVersion);
}

/** One version by folder name; undefined when MODEL_DIR has no such folder; 400 for a name or a folder that is not a version. */
export async function findModel(modelDir: string, version: string): Promise<ModelVersion | undefined> {
  versionDir(modelDir, version);
  const c = await checkVersion(modelDir, version);
  if ('version' in c) return toModelVersion(c.version);
  if ('missing' in c) return undefined;
  throw new UserInputError(`version: ${c.reason}`);
}
