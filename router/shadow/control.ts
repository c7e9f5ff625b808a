/** Starting and stopping the shadow challenger: shared by `fraudstream shadow` and the console's Models page. */
import path from 'node:path';
import type { Redis } from 'ioredis';
import { MODEL_VERSION_NAME } from '../../core/contracts.ts';
import { UserInputError } from '../../core/errors.ts';
import { exists } from '../../core/files.ts';
import { ShadowStore, type ShadowRecord, type ShadowRun } from '../../state/shadow.ts';
import { DEFAULT_MATURE_AT } from '../pure/shadow.ts';

export interface StartShadowInput {
  model: string;
  by: string;
  thresholds?: ShadowRun['thresholds'];
  matureAt?: number;
}

/** A version folder the stages can load: its name is a folder name and it holds thresholds.json. */
export async function requireVersionFolder(modelDir: string, model: string): Promise<void> {
  if (!MODEL_VERSION_NAME.test(model)) throw new UserInputError(`model version name ${JSON.stringify(model)} is not a folder name`);
  if (!(await exists(path.join(modelDir, model, 'thresholds.json')))) throw new UserInputError(`no model version ${model} under MODEL_DIR (${modelDir})`);
}

/** Makes `model` the active challenger (replacing one that runs); running detect stages pick it up within a poll. */
export async function startShadow(redis: Redis, prefix: string, modelDir: string, input: StartShadowInput, now = Date.now(), record?: ShadowRecord): Promise<{ run: ShadowRun; replaced?: ShadowRun }> {
  await requireVersionFolder(modelDir, input.model);
  const matureAt = input.matureAt ?? DEFAULT_MATURE_AT;
  if (!(matureAt > 0 && matureAt <= 1)) throw new UserInputError(`matureAt must be in (0, 1], got ${matureAt}`);
  const run: ShadowRun = { model: input.model, startedAt: now, by: input.by, thresholds: input.thresholds ?? 'policy', matureAt };
  const replaced = await new ShadowStore(redis, prefix, undefined, record).start(run);
  return { run, replaced };
}

export async function stopShadow(redis: Redis, prefix: string, by: string, record?: ShadowRecord): Promise<ShadowRun | undefined> {
  return new ShadowStore(redis, prefix, undefined, record).stop(by);
}
