/**
 * Which folders under MODEL_DIR are model versions: one rule for every reader (the loaders and `latest`, the
 * console's listing and promotion, the policy's modelVersion, the CLI's --model flags, the simulator that continues
 * a version's world). File-system only, so a reader needs none of the model code to list versions.
 *
 * The rule:
 * - the name is one folder name that is not hidden (core/contracts.ts MODEL_VERSION_NAME): never `.`, `..`, a path,
 *   or the trainer's `.tmp-*` folder, whatever it holds;
 * - the folder holds model-card.json (the trainer writes it last: until then a version is incomplete);
 * - a name the trainer gives (VERSION_RE, `v<UTC time>`) needs nothing more: a broken card is still that version,
 *   shown with its error and refused by the loader. Any other name (a version copied by hand under a new name) must
 *   hold a valid card: a JSON object with `createdAt` (a date) and `thresholds` for every stage (the policy's
 *   schema), so an arbitrary folder with a stray JSON file is not a version.
 * Versions are ordered by time: a trainer name's own time, else the card's createdAt; then by name.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { MODEL_VERSION_NAME, thresholdsSchemaOf } from '../core/contracts.ts';
import { ErrorCodes, FraudstreamError, UserInputError } from '../core/errors.ts';

/** A version's folder name as the trainer writes it: the UTC time (`v20261130T160545082Z`, `-N` if two share a millisecond). */
export const VERSION_RE = /^v(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z(-\d+)?$/;
/** A version is complete once its model card is written (the trainer writes it last). */
export const MODEL_CARD_JSON = 'model-card.json';
/** Cards larger than this are not read (a card with curves is ~100 KB). */
const MAX_CARD_BYTES = 2_000_000;

/** Whether `name` may name a version at all (one folder name, not hidden): the syntactic half of the rule. */
export const isVersionName = (name: string): boolean => MODEL_VERSION_NAME.test(name);
/** Whether `name` is one the trainer gives. */
export const isTrainerName = (name: string): boolean => VERSION_RE.test(name);

export interface VersionEntry {
  name: string;
  dir: string;
  /** Epoch ms the version orders by (trainer name's time, else the card's createdAt). */
  time: number;
  /** The parsed model-card.json; null when a trainer-named version's card cannot be read (see error). */
  card: Record<string, unknown> | null;
  error?: string;
  modifiedAt: number;
}

export type VersionCheck = { version: VersionEntry } | { missing: true; reason: string } | { notVersion: true; reason: string };

function trainerTime(name: string): number {
  const m = VERSION_RE.exec(name);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], m[7] ? +m[7] : 0) : NaN;
}

const CardHeadSchema = {
  thresholds: { detect: thresholdsSchemaOf('detect'), escalate: thresholdsSchemaOf('escalate') },
};

/** Why a card does not make a hand-named folder a version; undefined when it does. */
function invalidCard(card: Record<string, unknown>): string | undefined {
  if (typeof card.createdAt !== 'string' || Number.isNaN(Date.parse(card.createdAt))) return 'its model-card.json has no createdAt date';
  const t = card.thresholds as Record<string, unknown> | undefined;
  if (!t || typeof t !== 'object') return 'its model-card.json has no thresholds';
  for (const stage of ['detect', 'escalate'] as const) {
    if (!CardHeadSchema.thresholds[stage].safeParse(t[stage]).success) return `its model-card.json thresholds.${stage} are not the policy's`;
  }
  return undefined;
}

async function readCard(file: string): Promise<Record<string, unknown>> {
  const raw = await readFile(file, 'utf8');
  if (raw.length > MAX_CARD_BYTES) throw new Error('model-card.json is larger than 2 MB');
  const card = JSON.parse(raw) as unknown;
  if (typeof card !== 'object' || card === null || Array.isArray(card)) throw new Error('model-card.json is not an object');
  return card as Record<string, unknown>;
}

/**
 * The rule applied to one folder name under modelDir. `readCards: false` skips reading a trainer-named version's card
 * (its content does not decide membership; `card` is then null without an error), for listings that need names only.
 */
export async function checkVersion(modelDir: string, name: string, opts: { readCards?: boolean } = {}): Promise<VersionCheck> {
  if (!isVersionName(name)) return { notVersion: true, reason: `${JSON.stringify(name.slice(0, 80))} is not a version name (one folder name: letters, digits, . _ -; not starting with a dot)` };
  const dir = path.join(modelDir, name);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) return { missing: true, reason: `${name}: no such model version under MODEL_DIR (${path.resolve(modelDir)})` };
  const cardFile = path.join(dir, MODEL_CARD_JSON);
  if (!(await stat(cardFile).then((s) => s.isFile(), () => false))) return { notVersion: true, reason: `${name} holds no ${MODEL_CARD_JSON} (incomplete, or not a model version)` };
  const trainerNamed = isTrainerName(name);
  if (trainerNamed && opts.readCards === false) return { version: { name, dir, time: trainerTime(name), card: null, modifiedAt: info.mtimeMs } };
  let card: Record<string, unknown>;
  try {
    card = await readCard(cardFile);
  } catch (err) {
    const error = (err as Error).message;
    if (trainerNamed) return { version: { name, dir, time: trainerTime(name), card: null, error, modifiedAt: info.mtimeMs } };
    return { notVersion: true, reason: `${name}: ${error}` };
  }
  if (!trainerNamed) {
    const why = invalidCard(card);
    if (why) return { notVersion: true, reason: `${name} is not named by the trainer and ${why}` };
  }
  const time = trainerNamed ? trainerTime(name) : Date.parse(card.createdAt as string);
  return { version: { name, dir, time, card, modifiedAt: info.mtimeMs } };
}

/** Every version under modelDir with its card, oldest first. A missing modelDir has none. */
export async function listVersionEntries(modelDir: string, opts: { readCards?: boolean } = {}): Promise<VersionEntry[]> {
  let names: string[];
  try {
    names = await readdir(modelDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const found: VersionEntry[] = [];
  for (const name of names) {
    const c = await checkVersion(modelDir, name, opts);
    if ('version' in c) found.push(c.version);
  }
  return found.sort((a, b) => a.time - b.time || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Version folder names under modelDir, oldest first. */
export async function listModelVersions(modelDir: string): Promise<string[]> {
  return (await listVersionEntries(modelDir, { readCards: false })).map((v) => v.name);
}

/**
 * The version `name` under modelDir, or a typed error: BAD_INPUT for a name that is not a version name or a folder
 * that is not a version, MODEL_NOT_FOUND when there is no such folder. `flag` prefixes the message (e.g. `--model`).
 */
export async function requireVersion(modelDir: string, name: string, flag?: string): Promise<VersionEntry> {
  const c = await checkVersion(modelDir, name);
  if ('version' in c) return c.version;
  const message = `${flag ? `${flag} ` : 'model version '}${c.reason}`;
  if ('missing' in c) throw new FraudstreamError(ErrorCodes.MODEL_NOT_FOUND, message);
  throw new UserInputError(message);
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
