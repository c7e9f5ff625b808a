/**
 * Which world a model version was trained on, read from its model card's `source` (a plain JSON file under
 * MODEL_DIR; producers read the one field the trainer copied from the world options, nothing of the models).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserInputError } from '../core/errors.ts';
import { parseWorldHistory, type WorldHistory } from './world/index.ts';

const CARD = 'model-card.json';

async function readSource(dir: string): Promise<unknown> {
  const card = JSON.parse(await readFile(path.join(dir, CARD), 'utf8')) as { source?: unknown };
  return card.source;
}

/** Complete version folders (those with a model card), oldest first: their names are UTC timestamps. */
async function versions(modelDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(modelDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const n of names.filter((x) => /^v\d/.test(x)).sort()) {
    if (await readFile(path.join(modelDir, n, CARD)).then(() => true, () => false)) out.push(n);
  }
  return out;
}

export type TrainedWorld = { version: string; history: WorldHistory } | { version: string | undefined; reason: string };

/**
 * The training world of `version` (default: the newest version under modelDir). `reason` says why there is none:
 * no version, or one trained on a CSV, a file or Kafka topics.
 */
export async function findTrainedWorld(modelDir: string, version?: string): Promise<TrainedWorld> {
  const name = version ?? (await versions(modelDir)).at(-1);
  if (name === undefined) return { version: undefined, reason: `no model version under ${path.resolve(modelDir)}` };
  let source: unknown;
  try {
    source = await readSource(path.join(modelDir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && version !== undefined) {
      throw new UserInputError(`model version ${version}: no ${CARD} under ${path.resolve(modelDir, version)}`);
    }
    return { version: name, reason: `its model card is unreadable (${(err as Error).message})` };
  }
  const parsed = parseWorldHistory(source);
  return 'history' in parsed ? { version: name, history: parsed.history } : { version: name, reason: parsed.reason };
}
