/**
 * A model version is a folder under MODEL_DIR named v<UTC timestamp>:
 *   features.json            feature names (the vector order) and how the vectors were made
 *   thresholds.json          ModelThresholds chosen on the validation slice
 *   isolation-forest.json    flat forest (typed arrays, base64)
 *   xgboost.json + .bin      ml-xgboost options and model bytes
 *   explain.json             the legitimate medians occlusion explanations substitute
 *   heavy/                   the TensorFlow.js sequence model (when trained)
 *   drift-reference.json     quantile bins and reference shares per feature and score (drift monitoring)
 *   model-card.json / .md    data window, sizes, thresholds, metrics per model and for the routed ensemble
 * A version is written into a hidden temporary folder and renamed into place, so readers never see half of one.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FeatureContribution } from '../core/contracts.ts';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import { exists } from '../core/files.ts';
import type { FeatureVector, FraudProbability, ModelBundle, ModelThresholds, ScoredRow } from './types.ts';
import { fraudProbabilityOf, RAW_XGBOOST_P } from './calibrated.ts';
import { FlatForest, type FlatForestJson } from './pure/isolation-forest.ts';
import { XgbModel, type XgbFile } from './xgboost.ts';
import { occlusionExplain } from './pure/explain.ts';
import type { ModelCard } from './model-card.ts';
import { renderModelCardMarkdown } from './model-card.ts';
import type { DriftReference } from './pure/drift.ts';
import { DRIFT_REFERENCE_FILE, loadDriftReference } from './drift.ts';
import { listModelVersions, MODEL_CARD_JSON } from './version-names.ts';

export { listModelVersions };

export const FILES = {
  features: 'features.json',
  thresholds: 'thresholds.json',
  forest: 'isolation-forest.json',
  xgboostMeta: 'xgboost.json',
  xgboostModel: 'xgboost.bin',
  explain: 'explain.json',
  heavyDir: 'heavy',
  driftReference: DRIFT_REFERENCE_FILE,
  cardJson: MODEL_CARD_JSON,
  cardMd: 'model-card.md',
} as const;


/** The heavy model as this module uses it (implemented by detectors/heavy/). */
export interface HeavyScorer {
  predict(items: ReadonlyArray<{ history: ArrayLike<number>[]; current: ArrayLike<number> }>): Promise<number[]>;
  save(dir: string): Promise<void>;
  dispose(): void;
}

export interface VersionParts {
  featureNames: readonly string[];
  featureInfo: Record<string, unknown>;
  forest: FlatForest;
  xgboost: XgbModel;
  heavy?: HeavyScorer;
  thresholds: ModelThresholds;
  baseline: Float64Array;
  card: ModelCard;
  /** Bins and reference shares for drift monitoring (written as drift-reference.json). */
  driftReference?: DriftReference;
}

export function versionName(now = new Date()): string {
  return `v${now.toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '$1Z')}`;
}

/** Writes a version folder under modelDir and returns its path. */
export async function saveModelVersion(modelDir: string, parts: VersionParts, name = versionName()): Promise<string> {
  await mkdir(modelDir, { recursive: true });
  let finalName = name;
  for (let i = 1; await exists(path.join(modelDir, finalName)); i++) finalName = `${name}-${i}`;
  const tmp = path.join(modelDir, `.tmp-${finalName}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const card: ModelCard = { ...parts.card, version: finalName };
    const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
    const { file, bytes } = parts.xgboost.save();
    await writeFile(path.join(tmp, FILES.features), json({ names: parts.featureNames, ...parts.featureInfo }));
    await writeFile(path.join(tmp, FILES.thresholds), json(parts.thresholds));
    await writeFile(path.join(tmp, FILES.forest), JSON.stringify(parts.forest.toJSON()));
    await writeFile(path.join(tmp, FILES.xgboostMeta), json(file));
    await writeFile(path.join(tmp, FILES.xgboostModel), bytes);
    await writeFile(path.join(tmp, FILES.explain), json({ method: 'occlusion-with-legit-median', baseline: Array.from(parts.baseline) }));
    if (parts.heavy) await parts.heavy.save(path.join(tmp, FILES.heavyDir));
    if (parts.driftReference) await writeFile(path.join(tmp, FILES.driftReference), JSON.stringify(parts.driftReference));
    await writeFile(path.join(tmp, FILES.cardJson), json(card));
    await writeFile(path.join(tmp, FILES.cardMd), renderModelCardMarkdown(card));
    const dest = path.join(modelDir, finalName);
    await rename(tmp, dest);
    return dest;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** A loaded version: the router's ModelBundle plus the card and a way to release wasm/tf memory. */
export class LoadedModel implements ModelBundle {
  private readonly scratch: Float64Array;
  /** What live traffic is compared with (detectors/pure/drift.ts); undefined for versions trained without one. */
  driftReference?: DriftReference;
  /** Why the version's drift-reference.json could not be used, when it exists but is broken. */
  driftReferenceError?: string;
  /** Set from the card at load (detectors/calibrated.ts). */
  probability: FraudProbability = RAW_XGBOOST_P;

  constructor(
    readonly version: string,
    readonly dir: string,
    readonly featureNames: readonly string[],
    readonly thresholds: ModelThresholds,
    readonly card: ModelCard,
    readonly forest: FlatForest,
    readonly xgboost: XgbModel,
    readonly baseline: Float64Array,
    readonly heavy: HeavyScorer | undefined,
    /** Why there is no heavy model, when there is none. */
    readonly heavyMissing?: string,
  ) {
    this.scratch = new Float64Array(featureNames.length);
  }

  get hasHeavy(): boolean {
    return this.heavy !== undefined;
  }

  scoreFirstLine(rows: FeatureVector[]): ScoredRow[] {
    const out: ScoredRow[] = new Array(rows.length);
    const forest = rows.length > 1 ? this.forest.scoreMany(rows) : undefined;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      out[i] = { isolationForest: forest ? forest[i] : this.forest.score(r), xgboost: this.xgboost.predict(r) };
    }
    return out;
  }

  explain(row: FeatureVector, k: number): FeatureContribution[] {
    return occlusionExplain(row, k, this.featureNames, this.baseline, (x) => this.xgboost.predict(x), this.scratch);
  }

  async scoreHeavy(items: Array<{ history: FeatureVector[]; current: FeatureVector }>): Promise<number[]> {
    if (!this.heavy) {
      throw new FraudstreamError(ErrorCodes.MODEL_NOT_FOUND, `model ${this.version} has no heavy model (${this.heavyMissing ?? 'not trained'})`);
    }
    return this.heavy.predict(items);
  }

  dispose(): void {
    this.xgboost.free();
    this.heavy?.dispose();
  }
}

async function readJson<T>(dir: string, file: string): Promise<T> {
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

/** How a version folder gets its heavy model; tests and tools may pass their own. */
export type HeavyLoader = (dir: string) => Promise<HeavyScorer>;

export const defaultHeavyLoader: HeavyLoader = async (dir) => {
  const { loadHeavy } = await import('./heavy/index.ts');
  return loadHeavy(dir);
};

export async function loadModelVersion(dir: string, opts: { heavyLoader?: HeavyLoader } = {}): Promise<LoadedModel> {
  const features = await readJson<{ names: string[] }>(dir, FILES.features);
  const thresholds = await readJson<ModelThresholds>(dir, FILES.thresholds);
  const card = await readJson<ModelCard>(dir, FILES.cardJson);
  const forest = FlatForest.fromJSON(await readJson<FlatForestJson>(dir, FILES.forest));
  const xgbFile = await readJson<XgbFile>(dir, FILES.xgboostMeta);
  const explain = await readJson<{ baseline: number[] }>(dir, FILES.explain);
  const names = features.names;
  if (!Array.isArray(names) || names.length === 0) throw new FraudstreamError(ErrorCodes.BAD_INPUT, `model version ${dir}: ${FILES.features} lists no features`);
  if (xgbFile.columns !== names.length || explain.baseline.length !== names.length) {
    throw new FraudstreamError(ErrorCodes.BAD_INPUT, `model version ${dir}: files disagree on the number of features (${names.length} names)`);
  }
  const bytes = await readFile(path.join(dir, FILES.xgboostModel));
  const xgboost = await XgbModel.load(xgbFile, new Uint8Array(bytes));
  let heavy: HeavyScorer | undefined;
  let heavyMissing: string | undefined;
  const heavyDir = path.join(dir, FILES.heavyDir);
  if (await exists(heavyDir)) {
    try {
      heavy = await (opts.heavyLoader ?? defaultHeavyLoader)(heavyDir);
    } catch (err) {
      xgboost.free();
      throw err;
    }
  } else heavyMissing = card.models?.heavy && 'skipped' in card.models.heavy ? String(card.models.heavy.skipped) : 'this version was trained without one';
  const model = new LoadedModel(path.basename(dir), dir, Object.freeze([...names]), thresholds, card, forest, xgboost, Float64Array.from(explain.baseline), heavy, heavyMissing);
  model.probability = fraudProbabilityOf(card, model.version);
  // Drift monitoring is auxiliary: an unreadable reference must not stop a version from serving.
  try {
    model.driftReference = await loadDriftReference(dir);
  } catch (err) {
    model.driftReferenceError = (err as Error).message;
  }
  return model;
}


/** The newest complete version under modelDir; MODEL_NOT_FOUND (saying how to make one) when there is none. */
export async function latestModelVersion(modelDir: string, opts: { heavyLoader?: HeavyLoader } = {}): Promise<LoadedModel> {
  const versions = await listModelVersions(modelDir);
  const newest = versions[versions.length - 1];
  if (!newest) {
    throw new FraudstreamError(ErrorCodes.MODEL_NOT_FOUND, `no model version under ${path.resolve(modelDir)}; train one with: npm run train`);
  }
  return loadModelVersion(path.join(modelDir, newest), opts);
}

