/**
 * One rule of which folders under MODEL_DIR are model versions (detectors/version-names.ts), applied alike by the
 * loaders (latest, a policy's modelVersion), the console's listing and promotion lookup, and the CLI's --model.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../core/config.ts';
import { PolicySchema } from '../../core/contracts.ts';
import { FraudstreamError } from '../../core/errors.ts';
import { latestModelVersion } from '../../detectors/model-version.ts';
import { datasetFromCsv, trainModels, type TrainResult } from '../../detectors/trainer.ts';
import { checkVersion, listModelVersions, requireVersion } from '../../detectors/version-names.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { findModel, listModels } from '../../review-ui/server/models.ts';
import { loadNamedVersion } from '../../router/serving-models.ts';
import { loadModelVersion } from '../../detectors/model-version.ts';
import { COLD_START_THRESHOLDS } from '../../state/policy.ts';
import { DEFAULT_FEATURE_SPEC } from '../../detectors/pure/feature-spec.ts';

let root: string;
let models: string;
let trained: TrainResult;
const config = () => ({ modelDir: models }) as Config;

const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof FraudstreamError ? e.code : String(e)));

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fraudstream-versions-'));
  models = path.join(root, 'models');
  const rand = mulberry32(3);
  const rows: Float64Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 1_500; i++) {
    const fraud = rand() < 0.1;
    rows.push(Float64Array.from([fraud ? 300 + rand() * 500 : rand() * 200, rand() * 5]));
    labels.push(fraud ? 1 : 0);
  }
  const ds = datasetFromCsv({ featureNames: ['amount', 'noise'], rows, labels: Uint8Array.from(labels), ts: Float64Array.from(rows, (_, i) => i * 1_000) }, {});
  trained = await trainModels(ds, { modelDir: models, heavy: { enabled: false }, xgboost: { iterations: 5 }, forest: { trees: 5 } });
  // A complete version copied into the trainer's hidden temporary folder (as a crash mid-rename would leave it).
  await cp(trained.dir, path.join(models, '.tmp-v20991231T000000000Z-4242'), { recursive: true });
  // A version copied by hand under a new name: same files, so a valid card.
  await cp(trained.dir, path.join(models, 'candidate-2026'), { recursive: true });
  // A trainer-named folder without a card (incomplete), and one whose card is broken.
  await mkdir(path.join(models, 'v20991231T000000000Z'));
  await mkdir(path.join(models, 'v20000101T000000000Z'));
  await writeFile(path.join(models, 'v20000101T000000000Z', 'model-card.json'), '{ not json');
  // A folder with a stray JSON card that is not a version's card.
  await mkdir(path.join(models, 'scratch'));
  await writeFile(path.join(models, 'scratch', 'model-card.json'), JSON.stringify({ version: 'scratch', thresholds: COLD_START_THRESHOLDS }));
  // A file where a folder would be.
  await writeFile(path.join(models, 'v20991230T000000000Z'), 'not a folder');
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('one version rule', () => {
  it('lists what the trainer named and a hand-copied version with a valid card, by time; never hidden, incomplete or stray folders', async () => {
    const trainedName = path.basename(trained.dir);
    // The hand copy carries the trained card's createdAt (training start), so it sorts just before the trained one.
    expect(await listModelVersions(models)).toEqual(['v20000101T000000000Z', 'candidate-2026', trainedName]);
    expect((await listModels(models)).map((m) => m.version)).toEqual([trainedName, 'candidate-2026', 'v20000101T000000000Z']);
    const broken = (await listModels(models)).find((m) => m.version === 'v20000101T000000000Z');
    expect(broken?.card).toBeNull();
    expect(broken?.error).toMatch(/JSON/);
    expect((await latestModelVersion(models)).version).toBe(trainedName);
  });

  it('the hidden .tmp-* folder is refused everywhere, though it holds a complete version', async () => {
    const name = '.tmp-v20991231T000000000Z-4242';
    expect(await checkVersion(models, name)).toMatchObject({ notVersion: true });
    await expect(findModel(models, name)).rejects.toMatchObject({ code: 'BAD_INPUT' });
    expect(await codeOf(requireVersion(models, name, '--model'))).toBe('BAD_INPUT');
    expect(await codeOf(loadNamedVersion(config(), name, DEFAULT_FEATURE_SPEC))).toBe('BAD_INPUT');
    expect(PolicySchema.shape.modelVersion.safeParse(name).success).toBe(false);
  });

  it('traversal names are refused before any path is built', async () => {
    for (const name of ['..', '../models', `..${path.sep}${path.basename(root)}`, 'a/b', '.', '']) {
      expect(await checkVersion(models, name), name).toMatchObject({ notVersion: true });
      await expect(findModel(models, name), name).rejects.toMatchObject({ code: 'BAD_INPUT' });
      expect(await codeOf(loadNamedVersion(config(), name, DEFAULT_FEATURE_SPEC)), name).toBe('BAD_INPUT');
      expect(PolicySchema.shape.modelVersion.safeParse(name).success, name).toBe(false);
    }
  });

  it('a hand-copied version folder is a version for the console, the policy, the CLI and the loader alike', async () => {
    expect((await findModel(models, 'candidate-2026'))?.card).toMatchObject({ thresholds: trained.card.thresholds });
    expect((await requireVersion(models, 'candidate-2026', '--model')).dir).toBe(path.join(models, 'candidate-2026'));
    expect(PolicySchema.shape.modelVersion.safeParse('candidate-2026').success).toBe(true);
    const m = await loadModelVersion((await requireVersion(models, 'candidate-2026')).dir);
    expect(m.version).toBe('candidate-2026');
    expect(m.thresholds).toEqual(trained.card.thresholds);
    // ...but the stages serve only versions that read the online store's vector: this one was trained on 2 CSV columns
    await expect(loadNamedVersion(config(), 'candidate-2026', DEFAULT_FEATURE_SPEC)).rejects.toThrow(/reads 2 features, detect computes \d+/);
  });

  it('a stray or incomplete folder is not a version (400), a missing one is not found (404 / MODEL_NOT_FOUND)', async () => {
    for (const name of ['scratch', 'v20991231T000000000Z', 'v20991230T000000000Z']) {
      const c = await checkVersion(models, name);
      expect('version' in c, name).toBe(false);
      expect(await codeOf(requireVersion(models, name)), name).toBe(name === 'v20991230T000000000Z' ? 'MODEL_NOT_FOUND' : 'BAD_INPUT');
    }
    expect(await checkVersion(models, 'scratch')).toMatchObject({ reason: expect.stringMatching(/not named by the trainer and its model-card.json has no createdAt/) });
    await expect(findModel(models, 'scratch')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    expect(await findModel(models, 'v20990101T000000000Z')).toBeUndefined();
    await expect(requireVersion(models, 'nope', '--model')).rejects.toThrow(/^--model nope: no such model version under MODEL_DIR/);
    expect(await codeOf(loadNamedVersion(config(), 'nope', DEFAULT_FEATURE_SPEC))).toBe('MODEL_NOT_FOUND');
    // A copy under a new name whose card no longer holds the policy's thresholds is not a version either.
    await cp(trained.dir, path.join(models, 'edited'), { recursive: true });
    await writeFile(path.join(models, 'edited', 'model-card.json'), JSON.stringify({ ...trained.card, thresholds: { detect: {}, escalate: {} } }));
    expect(await checkVersion(models, 'edited')).toMatchObject({ notVersion: true, reason: expect.stringContaining('thresholds.detect') });
    expect(await listModelVersions(models)).not.toContain('edited');
  });
});
