/** The bench's --model choice, checked before anything starts: a version folder, latest or none. */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { UserInputError } from '../../core/errors.ts';
import { FILES } from '../../detectors/model-version.ts';

export async function assertModelChoice(model: string): Promise<void> {
  if (model.trim() === '') throw new UserInputError('--model must be a model version folder, latest or none');
  if (model === 'latest' || model === 'none') return;
  try {
    await access(path.join(model, FILES.cardJson));
  } catch {
    throw new UserInputError(`--model ${model}: not a model version folder (no ${FILES.cardJson}); use a folder under MODEL_DIR, latest or none`);
  }
}
