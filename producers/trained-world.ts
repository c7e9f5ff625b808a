/**
 * Which world a model version was trained on, read from its model card's `source` (a plain JSON file under
 * MODEL_DIR; producers read the one field the trainer copied from the world options, nothing of the models;
 * which folders are versions is detectors/version-names.ts's one rule).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserInputError } from '../core/errors.ts';
import { checkVersion, listModelVersions, MODEL_CARD_JSON } from '../detectors/version-names.ts';
import { parseWorldHistory, type WorldHistory } from './world/index.ts';


async function readSource(dir: string): Promise<unknown> {
  const card = JSON.parse(await readFile(path.join(dir, MODEL_CARD_JSON), 'utf8')) as { source?: unknown };
  return card.source;
}


export type TrainedWorld = { version: string; history: WorldHistory } | { version: string | undefined; reason: string };

/**
 * The training world of `version` (default: the newest version under modelDir). `reason` says why there is none:
 * no version, or one trained on a CSV, a file or Kafka topics.
 */
export async function findTrainedWorld(modelDir: string, version?: string): Promise<TrainedWorld> {
  if (version !== undefined) {
    // The one version rule (detectors/version-names.ts): a hidden, stray or incomplete folder is not a version to continue.
    const c = await checkVersion(modelDir, version);
    if ('notVersion' in c) throw new UserInputError(`--continue: ${c.reason}`);
  }
  const name = version ?? (await listModelVersions(modelDir)).at(-1);
  if (name === undefined) return { version: undefined, reason: `no model version under ${path.resolve(modelDir)}` };
  let source: unknown;
  try {
    source = await readSource(path.join(modelDir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && version !== undefined) {
      throw new UserInputError(`model version ${version}: no ${MODEL_CARD_JSON} under ${path.resolve(modelDir, version)}`);
    }
    return { version: name, reason: `its model card is unreadable (${(err as Error).message})` };
  }
  const parsed = parseWorldHistory(source);
  return 'history' in parsed ? { version: name, history: parsed.history } : { version: name, reason: parsed.reason };
}
