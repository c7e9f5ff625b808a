import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VERSION_NAME } from './serving.ts';

export interface ModelVersion {
  version: string;
  /** The folder's model-card.json, as written by the trainer; null when missing or unreadable. */
  card: Record<string, unknown> | null;
  error?: string;
  modifiedAt: number;
}

/** Every version folder under modelDir, newest first. A missing modelDir is an empty registry, not an error. */
export async function listModels(modelDir: string): Promise<ModelVersion[]> {
  let names: string[];
  try {
    names = await readdir(modelDir);
  } catch {
    return [];
  }
  const out: ModelVersion[] = [];
  for (const name of names) {
    if (!VERSION_NAME.test(name)) continue;
    const dir = join(modelDir, name);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) continue;
    try {
      const raw = await readFile(join(dir, 'model-card.json'), 'utf8');
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

/** One version by folder name; undefined when MODEL_DIR has no such folder. */
export async function findModel(modelDir: string, version: string): Promise<ModelVersion | undefined> {
  return (await listModels(modelDir)).find((m) => m.version === version);
}
