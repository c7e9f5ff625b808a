import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { UserInputError } from '../../core/errors.ts';
import { MODEL_CARD_JSON, VERSION_RE } from '../../detectors/version-names.ts';

/**
 * The folder of version `name` under modelDir. Refuses (400) a name that is not a version (detectors/version-names.ts's
 * rule) and, as a second check, any path that would resolve outside modelDir.
 */
export function versionDir(modelDir: string, name: string): string {
  if (!VERSION_RE.test(name)) throw new UserInputError(`version: ${JSON.stringify(name.slice(0, 80))} is not a model version name (v<UTC time>, e.g. v20261130T160545082Z)`);
  const root = resolve(modelDir);
  const dir = resolve(root, name);
  const rel = relative(root, dir);
  if (rel === '' || rel.startsWith('..') || rel.includes(sep)) throw new UserInputError(`version: ${JSON.stringify(name)} leaves MODEL_DIR`);
  return dir;
}

export interface ModelVersion {
  version: string;
  /** The folder's model-card.json, as written by the trainer; null when missing or unreadable. */
  card: Record<string, unknown> | null;
  error?: string;
  modifiedAt: number;
}

/** Every version folder under modelDir (named by VERSION_RE: never the trainer's hidden temporary folder), newest first. A missing modelDir is an empty registry, not an error. */
export async function listModels(modelDir: string): Promise<ModelVersion[]> {
  let names: string[];
  try {
    names = await readdir(modelDir);
  } catch {
    return [];
  }
  const out: ModelVersion[] = [];
  for (const name of names) {
    if (!VERSION_RE.test(name)) continue;
    const dir = versionDir(modelDir, name);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) continue;
    try {
      const raw = await readFile(join(dir, MODEL_CARD_JSON), 'utf8');
      if (raw.length > 2_000_000) throw new Error('model-card.json is larger than 2 MB');
      const card = JSON.parse(raw) as unknown;
      if (typeof card !== 'object' || card === null || Array.isArray(card)) throw new Error('model-card.json is not an object');
      out.push({ version: name, card: card as Record<string, unknown>, modifiedAt: info.mtimeMs });
    } catch (err) {
      out.push({ version: name, card: null, error: (err as Error).message, modifiedAt: info.mtimeMs });
    }
  }
  return out.sort((a, b) => b.modifiedAt - a.modifiedAt || b.version.localeCompare(a.version));
}

/** One version by folder name; undefined when MODEL_DIR has no such folder; 400 for a name that is not a version. */
export async function findModel(modelDir: string, version: string): Promise<ModelVersion | undefined> {
  versionDir(modelDir, version);
  return (await listModels(modelDir)).find((m) => m.version === version);
}
