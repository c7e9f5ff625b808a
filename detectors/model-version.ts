/**
 * A model version is a folder under MODEL_DIR, named v<UTC timestamp> by the trainer (which folders are versions:
 * detectors/version-names.ts):
 *   features.json            feature names (the vector order) and how the vectors were made
 *   thresholds.json          ModelThresholds chosen on the validation slice
 *   <each detector's files>  isolation-forest.json (flat forest, typed arrays in base64), xgboost.json + .bin
 *                            (ml-xgboost options and model bytes): detectors/first-line.ts lists the detectors
 *   explain.json             the legitimate medians occlusion explanations substitute
 *   heavy/                   the TensorFlow.js sequence model (when trained)
 *   drift-reference.json     quantile bins and reference shares per feature and score (drift monitoring)
 *   model-card.json / .md    data window, sizes, thresholds, metrics per model and for the routed ensemble
 * A version is written into a hidden temporary folder and renamed into place, so readers never see half of one.
 */
import { parseFeatureSpec, type FeatureSpec } from './pure/feature-spec.ts';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FeatureContribution } from '../core/contracts.ts';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import { exists } from '../core/files.ts';
import type { FeatureVector, FraudProbability, ModelBundle, ScoredRow } from './types.ts';
import type { ModelThresholds } from '../core/model-registry.ts';
import { fraudProbabilityOf, RAW_BAND_P } from './calibrated.ts';
import type { FirstLineDetector, FittedDetector } from './detector.ts';
import { checkDetectorList, FIRST_LINE_DETECTORS } from './first-line.ts';
import { occlusionExplain } from './pure/explain.ts';
import type { ModelCard } from './model-card.ts';
import { renderModelCardMarkdown } from './model-card.ts';
import type { DriftReference } from './pure/drift.ts';
import { DRIFT_REFERENCE_FILE, loadDriftReference } from './drift.ts';
import { listModelVersions, MODEL_CARD_JSON, readVersionJson } from './version-names.ts';

export { listModelVersions };

/** The version's own files; each first-line detector writes its own (its `files`: isolation-forest.json, xgboost.json + .bin). */
export const FILES = {
  features: 'features.json',
  thresholds: 'thresholds.json',
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
  /** Every trained first-line detector; each writes its own files. */
  detectors: readonly FittedDetector[];
  heavy?: HeavyScorer;
  thresholds: ModelThresholds;
  baseline: Float64Array;
  card: ModelCard;
  /** Bins and reference shares for drift monitoring (written as drift-reference.json). */
  driftReference?: DriftReference;
  /** The modules of `detectors` (for the card's text); default FIRST_LINE_DETECTORS. */
  detectorModules?: readonly FirstLineDetector[];
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
    await writeFile(path.join(tmp, FILES.features), json({ names: parts.featureNames, ...parts.featureInfo }));
    await writeFile(path.join(tmp, FILES.thresholds), json(parts.thresholds));
    for (const d of parts.detectors) await d.save(tmp);
    await writeFile(path.join(tmp, FILES.explain), json({ method: 'occlusion-with-legit-median', baseline: Array.from(parts.baseline) }));
    if (parts.heavy) await parts.heavy.save(path.join(tmp, FILES.heavyDir));
    if (parts.driftReference) await writeFile(path.join(tmp, FILES.driftReference), JSON.stringify(parts.driftReference));
    await writeFile(path.join(tmp, FILES.cardJson), json(card));
    await writeFile(path.join(tmp, FILES.cardMd), renderModelCardMarkdown(card, parts.detectorModules));
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
  private readonly explainer: FittedDetector;
  /** What live traffic is compared with (detectors/pure/drift.ts); undefined for versions trained without one. */
  driftReference?: DriftReference;
  /** Why the version's drift-reference.json could not be used, when it exists but is broken. */
  driftReferenceError?: string;
  /** Set from the card at load (detectors/calibrated.ts). */
  probability: FraudProbability = RAW_BAND_P;
  /** The feature spec from features.json; undefined for a CSV version or one saved before specs were. */
  spec?: FeatureSpec;

  constructor(
    readonly version: string,
    readonly dir: string,
    readonly featureNames: readonly string[],
    readonly thresholds: ModelThresholds,
    readonly card: ModelCard,
    /** Every first-line detector of the version, in registry order (the order of scoreFirstLine's keys). */
    readonly detectors: readonly FittedDetector[],
    /** The detector whose score explanations perturb. */
    explainerId: string,
    readonly baseline: Float64Array,
    readonly heavy: HeavyScorer | undefined,
    /** Why there is no heavy model, when there is none. */
    readonly heavyMissing?: string,
  ) {
    this.scratch = new Float64Array(featureNames.length);
    this.explainer = this.fitted(explainerId);
  }

  /** One detector of the version by id (e.g. the bench times each alone); BAD_INPUT when the version has none. */
  fitted<M = unknown>(id: string): FittedDetector<M> {
    const d = this.detectors.find((x) => x.id === id);
    if (!d) throw new FraudstreamError(ErrorCodes.BAD_INPUT, `model ${this.version} has no detector ${JSON.stringify(id)}`);
    return d as FittedDetector<M>;
  }

  get hasHeavy(): boolean {
    return this.heavy !== undefined;
  }

  scoreFirstLine(rows: FeatureVector[]): ScoredRow[] {
    const columns = this.detectors.map((d) => d.scoreMany(rows));
    const out: ScoredRow[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = {} as ScoredRow;
      for (let d = 0; d < columns.length; d++) (row as Record<string, number>)[this.detectors[d].id] = columns[d][i];
      out[i] = row;
    }
    return out;
  }

  explain(row: FeatureVector, k: number): FeatureContribution[] {
    return occlusionExplain(row, k, this.featureNames, this.baseline, (x) => this.explainer.score(x), this.scratch);
  }

  async scoreHeavy(items: Array<{ history: FeatureVector[]; current: FeatureVector }>): Promise<number[]> {
    if (!this.heavy) {
      throw new FraudstreamError(ErrorCodes.MODEL_NOT_FOUND, `model ${this.version} has no heavy model (${this.heavyMissing ?? 'not trained'})`);
    }
    return this.heavy.predict(items);
  }

  dispose(): void {
    for (const d of this.detectors) d.dispose();
    this.heavy?.dispose();
  }
}

/** How a version folder gets its heavy model; tests and tools may pass their own. */
export type HeavyLoader = (dir: string) => Promise<HeavyScorer>;

/** On the process's heavy worker thread, or the main thread where it cannot start (detectors/heavy/threaded.ts). */
export const defaultHeavyLoader: HeavyLoader = async (dir) => {
  const { loadHeavyScoring } = await import('./heavy/threaded.ts');
  return loadHeavyScoring(dir);
};

export interface LoadOptions {
  heavyLoader?: HeavyLoader;
  /** The first-line detectors to read (default: every registered one, detectors/first-line.ts). */
  detectors?: readonly FirstLineDetector[];
}

/** Every detector's part of the version; what was loaded is released if one fails. */
async function loadDetectors(dir: string, names: readonly string[], modules: readonly FirstLineDetector[]): Promise<FittedDetector[]> {
  const loaded: FittedDetector[] = [];
  try {
    for (const m of modules) loaded.push(await m.load(dir, names));
    return loaded;
  } catch (err) {
    for (const d of loaded) d.dispose();
    throw err;
  }
}

export async function loadModelVersion(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const modules = checkDetectorList(opts.detectors ?? FIRST_LINE_DETECTORS);
  const features = await readVersionJson<{ names: string[]; spec?: unknown }>(dir, FILES.features);
  const thresholds = await readVersionJson<ModelThresholds>(dir, FILES.thresholds);
  const card = await readVersionJson<ModelCard>(dir, FILES.cardJson);
  const explain = await readVersionJson<{ baseline: number[] }>(dir, FILES.explain);
  const names = features.names;
  if (!Array.isArray(names) || names.length === 0) throw new FraudstreamError(ErrorCodes.BAD_INPUT, `model version ${dir}: ${FILES.features} lists no features`);
  if (explain.baseline.length !== names.length) {
    throw new FraudstreamError(ErrorCodes.BAD_INPUT, `model version ${dir}: files disagree on the number of features (${names.length} names)`);
  }
  const explainer = modules.find((m) => m.explains)!;
  const detectors = await loadDetectors(dir, names, modules);
  let heavy: HeavyScorer | undefined;
  let heavyMissing: string | undefined;
  const heavyDir = path.join(dir, FILES.heavyDir);
  if (card.heavyOnValidation?.routedAround) {
    // The trainer chose the escalate thresholds on the band model's score: serving heavy would score against them.
    const v = card.heavyOnValidation;
    heavyMissing = `routed around: on validation's ${v.rows} escalated rows the heavy model (average precision ${v.heavyAveragePrecision.toFixed(4)}) did not beat the band model (${v.bandAveragePrecision.toFixed(4)})`;
  } else if (await exists(heavyDir)) {
    try {
      heavy = await (opts.heavyLoader ?? defaultHeavyLoader)(heavyDir);
    } catch (err) {
      for (const d of detectors) d.dispose();
      throw err;
    }
  } else heavyMissing = card.models?.heavy && 'skipped' in card.models.heavy ? String(card.models.heavy.skipped) : 'this version was trained without one';
  const model = new LoadedModel(path.basename(dir), dir, Object.freeze([...names]), thresholds, card, detectors, explainer.id, Float64Array.from(explain.baseline), heavy, heavyMissing);
  model.probability = fraudProbabilityOf(card, model.version);
  if (features.spec !== undefined) {
    try {
      model.spec = parseFeatureSpec(features.spec);
    } catch (err) {
      model.dispose();
      throw new FraudstreamError(ErrorCodes.BAD_INPUT, `model version ${dir}: ${FILES.features} holds a feature spec this tree cannot read: ${(err as Error).message}`);
    }
  }
  // Drift monitoring is auxiliary: an unreadable reference must not stop a version from serving.
  try {
    model.driftReference = await loadDriftReference(dir);
  } catch (err) {
    model.driftReferenceError = (err as Error).message;
  }
  return model;
}


/** The newest complete version under modelDir; MODEL_NOT_FOUND (saying how to make one) when there is none. */
export async function latestModelVersion(modelDir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const versions = await listModelVersions(modelDir);
  const newest = versions[versions.length - 1];
  if (!newest) {
    throw new FraudstreamError(ErrorCodes.MODEL_NOT_FOUND, `no model version under ${path.resolve(modelDir)}; train one with: npm run train`);
  }
  return loadModelVersion(path.join(modelDir, newest), opts);
}

