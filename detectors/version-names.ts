/**
 * Which folders under MODEL_DIR are model versions: one rule for every reader (the loaders, the simulator that
 * continues a version's world). File-system only, so a reader needs none of the model code to list versions.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import { exists } from '../core/files.ts';

/** A version's folder name: the UTC time it was written (`v20261130T160545082Z`, `-N` if two share a millisecond). */
export const VERSION_RE = /^v\d{8}T\d{6}(\d{3})?Z(-\d+)?$/;
/** A version is complete once its model card is written (the trainer writes it last). */
export const MODEL_CARD_JSON = 'model-card.json';


/** Version folder names under modelDir, oldest first (only complete versions: they hold a model card). */
export async function listModelVersions(modelDir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(modelDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const complete: string[] = [];
  for (const e of entries.filter((n) => VERSION_RE.test(n)).sort()) {
    if (await exists(path.join(modelDir, e, MODEL_CARD_JSON))) complete.push(e);
  }
  return complete;
}

/** One JSON file of version folder `dir`: MODEL_NOT_FOUND when missing, BAD_INPUT when not JSON. */
export async function readVersionJson<T>(dir: string, file: string): Promise<T> {
  const p = path.join(dir, file);
  let text: string;
  try {
    text = await readFile(p, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FraudstreamError(code === 'ENOENT' ? ErrorCodes.MODEL_NOT_FOUND : ErrorCodes.INTERNAL, `model version ${dir}: cannot read ${file} (${code ?? String(err)})`, {
      cause: err,
    });
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new FraudstreamError(ErrorCodes.BAD_INPUT, `model version ${dir}: ${file} is not valid JSON`, { cause: err });
  }
}
