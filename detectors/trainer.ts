/**
 * The trainer: history in time order -> point-in-time features (MemoryFeatureStore) -> time split ->
 * every first-line detector (detectors/first-line.ts: isolation forest, XGBoost) (+ heavy) -> thresholds on
 * validation -> metrics on test -> a model version folder.
 */
import type { NewCardCapOptions } from './pure/new-card-cap.ts';
import type { Label, Transaction } from '../core/contracts.ts';
import { ErrorCodes, FraudstreamError, UserInputError } from '../core/errors.ts';
import { MemoryFeatureStore } from './features.ts';
import { featureNamesFor } from './pure/features.ts';
import type { FeatureSpec } from './pure/feature-spec.ts';
import { isArrivingLabel, LabelArrivals } from './pure/arrival.ts';
import { CARD_STATE_LIMITS } from './features.ts';
import type { XgbParams } from './xgboost.ts';
import type { FirstLineDetector, FittedDetector } from './detector.ts';
import { checkDetectorList, FIRST_LINE_DETECTORS } from './first-line.ts';
import { columnMedians } from './pure/explain.ts';
import { mulberry32 } from './pure/rng.ts';
import { chooseThresholds, DEFAULT_TARGETS, ensembleScores, isBlocked, isCaught, isEscalated, Outcome, routeAll, routingRoles, thresholdOf, type RoutedRows, type RoutingTargets } from './pure/routing.ts';
import { modelCurves, operatingPoint, type ModelCurves, type ThresholdMark } from './pure/curves.ts';
import { chooseEnsembleBlend, ensembleMetrics, modelMetrics, type CardDays, type EnsembleBlendChoice, type ModelMetrics } from './pure/evaluate.ts';
import { buildDriftReference, DEFAULT_DRIFT_BINS, type DriftReference } from './pure/drift.ts';
import { DRIFT_REFERENCE_FILE } from './drift.ts';
import type { ModelCard, SliceInfo, StepReport } from './model-card.ts';
import { averagePrecision } from './pure/metrics.ts';
import { calibrate, fitIsotonic, reliability } from './pure/calibration.ts';
import { saveModelVersion, type HeavyScorer } from './model-version.ts';
import type { CsvDataset } from './pure/csv.ts';
import { MODELS, type FirstLineModelId, type ModelSpec } from '../core/model-registry.ts';

export interface Dataset {
  kind: 'transactions' | 'csv';
  featureNames: readonly string[];
  /** Time-ordered. */
  rows: Float64Array[];
  labels: Uint8Array;
  ts: Float64Array;
  scenarios: Array<string | null>;
  /** 1 where the row is fraud of a novel scenario (kept out of supervised training and threshold choice). */
  novel: Uint8Array;
  /** Transactions only: per row, indices into `historyRows` of the same card's previous transactions, oldest first (the heavy model's history). */
  previous?: Int32Array[];
  /** Every replayed transaction's vector, training rows or not (a transaction left out of training is still in its card's history). */
  historyRows?: Float64Array[];
  /** Transactions only: the id of each row. */
  txIds?: string[];
  /** The feature spec the rows were computed with (transactions only). */
  spec?: FeatureSpec;
  /** Time of the first transaction replayed (training row or not): how much history stands behind the rows. */
  firstTs?: number;
  /** Transactions only: each row's card (daily card precision@k counts cards). */
  cardIds?: string[];
  source: Record<string, unknown>;
  /** Seconds spent building the rows (feature replay or CSV parsing), for the model card. */
  buildSeconds?: number;
}

export type Progress = (stage: string, message: string, frequent?: boolean) => void;

/**
 * Replays (transaction, label) events in time order through the in-memory feature store. A null label means
 * nobody reported the transaction: it counts as legitimate, as it would in production. An event with
 * `include: false` updates its card's state (later vectors depend on it) but is not a training row.
 *
 * A label with a `labeledAt` is also an input, once it has arrived: it is fed to the store (label-risk features)
 * before the first transaction at or after its labeledAt, as detect would have read it from the labels topic.
 * Its training target is the same label whenever it arrived.
 */
export function datasetFromEvents(
  events: Iterable<{ tx: Transaction; label: Label | { isFraud: boolean; scenario: string | null } | null; include?: boolean }>,
  opts: {
    novelScenarios: ReadonlySet<string>;
    historyK?: number;
    batch?: number;
    source?: Record<string, unknown>;
    onProgress?: Progress;
    expected?: number;
    /** The feature spec (default DEFAULT_FEATURE_SPEC). */
    spec?: FeatureSpec;
    /** The new-card cap as detect runs it (config.features.newCardCap; default DEFAULT_NEW_CARD_CAP). */
    newCardCap?: NewCardCapOptions;
    /** Set false to keep labels out of the features (they still train): the old behaviour, for comparisons. */
    labelFeatures?: boolean;
  },
): Dataset {
  const started = performance.now();
  const store = new MemoryFeatureStore({ spec: opts.spec, newCardCap: opts.newCardCap });
  const k = Math.min(opts.historyK ?? 16, CARD_STATE_LIMITS.applied);
  const batchSize = opts.batch ?? 1_000;
  const rows: Float64Array[] = [];
  const labels: number[] = [];
  const ts: number[] = [];
  const scenarios: Array<string | null> = [];
  const novel: number[] = [];
  const previous: Int32Array[] = [];
  const historyRows: Float64Array[] = [];
  const txIds: string[] = [];
  const cardIds: string[] = [];
  const lastRows = new Map<string, number[]>();
  const arrivals = new LabelArrivals();
  let replayed = 0;
  let pending: Array<{ tx: Transaction; label: Label | null; isFraud: boolean; scenario: string | null; include: boolean }> = [];
  const flush = () => {
    // labels that arrive within the run are fed to the store before the first transaction at or after their labeledAt
    const vectors = store.replayEvents(pending, batchSize, undefined, arrivals);
    replayed += pending.length;
    pending.forEach((p, i) => {
      const idx = historyRows.length;
      historyRows.push(vectors[i]);
      const prev = lastRows.get(p.tx.cardId) ?? [];
      if (p.include) {
        rows.push(vectors[i]);
        txIds.push(p.tx.txId);
        cardIds.push(p.tx.cardId);
        labels.push(p.isFraud ? 1 : 0);
        ts.push(p.tx.ts);
        scenarios.push(p.isFraud ? (p.scenario ?? 'unknown') : null);
        novel.push(p.isFraud && p.scenario !== null && opts.novelScenarios.has(p.scenario) ? 1 : 0);
        previous.push(Int32Array.from(prev));
      }
      prev.push(idx);
      if (prev.length > k) prev.shift();
      lastRows.set(p.tx.cardId, prev);
    });
    pending = [];
    opts.onProgress?.('features', `${replayed}${opts.expected ? `/${opts.expected}` : ''} transactions, ${store.cardCount} cards, ${store.labelsCounted} fraud labels counted`, true);
  };
  let firstTs: number | undefined;
  for (const e of events) {
    firstTs ??= e.tx.ts;
    const label = opts.labelFeatures !== false && isArrivingLabel(e.label) ? e.label : null;
    pending.push({ tx: e.tx, label, isFraud: e.label?.isFraud ?? false, scenario: e.label?.scenario ?? null, include: e.include ?? true });
    if (pending.length >= batchSize) flush();
  }
  if (pending.length) flush();
  return {
    kind: 'transactions',
    featureNames: featureNamesFor(store.compiled.spec),
    rows,
    labels: Uint8Array.from(labels),
    ts: Float64Array.from(ts),
    scenarios,
    novel: Uint8Array.from(novel),
    previous,
    historyRows,
    txIds,
    cardIds,
    firstTs,
    spec: store.compiled.spec,
    source: { ...(opts.source ?? {}), labelFeatures: opts.labelFeatures !== false, fraudLabelsCounted: store.labelsCounted },
    buildSeconds: (performance.now() - started) / 1000,
  };
}

export function datasetFromCsv(csv: CsvDataset, source: Record<string, unknown>): Dataset {
  return {
    kind: 'csv',
    featureNames: csv.featureNames,
    rows: csv.rows,
    labels: csv.labels,
    ts: csv.ts,
    scenarios: Array.from(csv.labels, (y) => (y ? 'fraud' : null)),
    novel: new Uint8Array(csv.labels.length),
    source,
  };
}

export interface HeavyTrainInput {
  sequences: Float64Array[][];
  currents: Float64Array[];
  labels: number[];
  featureNames: string[];
  k: number;
  epochs?: number;
  validation?: { sequences: Float64Array[][]; currents: Float64Array[]; labels: number[] };
  onProgress?: (epoch: number, logs: { loss: number; valAuc?: number; seconds: number }) => void;
  seed?: number;
}

export type HeavyTrainer = (input: HeavyTrainInput) => Promise<HeavyScorer & { meta?: { training?: unknown } }>;

/** Loads detectors/heavy/ lazily (TensorFlow.js is slow to import), or says why it cannot. */
export async function defaultHeavyTrainer(): Promise<HeavyTrainer> {
  const mod = await import('./heavy/index.ts');
  return (input) => mod.trainHeavy(input);
}

const HEAVY_SCORE_BATCH = 256;
/** Heavy-model training rows by default: every fraud row plus legitimate rows up to this many in all. */
export const DEFAULT_HEAVY_ROWS = 20_000;

export type Imbalance = 'auto' | 'weight' | 'sqrt-weight' | 'downsample' | 'none';

export interface TrainOptions {
  modelDir: string;
  fractions?: [number, number, number];
  /**
   * Split by time instead of shares: rows before valFrom train, rows from valFrom validate, rows from testFrom test
   * (epoch ms). The dataset holds only the rows meant for the three slices (a gap for label delay is left out of it).
   */
  splitAt?: { valFrom: number; testFrom: number };
  /** k of daily card precision@k on the test slice (default 100). */
  cardK?: number;
  targets?: RoutingTargets;
  forest?: { trees?: number; sampleSize?: number };
  xgboost?: Partial<XgbParams>;
  imbalance?: Imbalance;
  /** Legitimate rows kept per fraud row by the down-sampling candidate. */
  downsampleRatio?: number;
  heavy?: {
    enabled: boolean;
    trainer?: HeavyTrainer;
    k?: number;
    epochs?: number;
    maxRows?: number;
    /**
     * 'if-better' (default): the version serves the heavy model only if it ranks validation's escalated rows better
     * than the band model, else escalate decides on the band model (the card says so). 'always': serve it regardless.
     */
    serve?: 'if-better' | 'always';
  };
  /** The first-line detectors to train (default: every registered one, detectors/first-line.ts). */
  detectors?: readonly FirstLineDetector[];
  /**
   * The registry whose routing roles the threshold search and the routed ensemble read (default: MODELS). Tests
   * pass one with an extra model; every detect model in it must be among `detectors`.
   */
  models?: readonly ModelSpec[];
  seed?: number;
  onProgress?: Progress;
}

export interface TrainResult {
  dir: string;
  card: ModelCard;
  /** Test-slice rows (dataset indices) and every model's scores on them (keyed by detector id), as computed before saving. */
  test: { indices: number[]; heavy?: Float64Array } & Record<FirstLineModelId, Float64Array>;
}

interface Slice {
  start: number;
  end: number;
}

function sliceInfo(ds: Dataset, s: Slice): SliceInfo {
  let positives = 0;
  let novelPositives = 0;
  for (let i = s.start; i < s.end; i++) {
    positives += ds.labels[i];
    novelPositives += ds.novel[i];
  }
  return { rows: s.end - s.start, positives, novelPositives, from: ds.ts[s.start] ?? 0, to: ds.ts[s.end - 1] ?? 0 };
}

function range(s: Slice, keep: (i: number) => boolean = () => true): number[] {
  const out: number[] = [];
  for (let i = s.start; i < s.end; i++) if (keep(i)) out.push(i);
  return out;
}

/** The time split: train, validation, test; the supervised slices leave out novel scenarios. */
interface Split {
  train: Slice;
  val: Slice;
  test: Slice;
  trainIdx: number[];
  valIdx: number[];
  testIdx: number[];
  fractions: [number, number, number];
}

/** Phase timings in seconds for the model card, and the clock that fills them. */
type Timings = Record<string, number>;

function firstAtOrAfter(ts: Float64Array, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function splitByTime(ds: Dataset, fractions: [number, number, number], at?: { valFrom: number; testFrom: number }): Split {
  const n = ds.rows.length;
  const trainEnd = at ? firstAtOrAfter(ds.ts, at.valFrom) : Math.floor(n * fractions[0]);
  const valEnd = at ? firstAtOrAfter(ds.ts, at.testFrom) : Math.floor(n * (fractions[0] + fractions[1]));
  if (at) fractions = [trainEnd / n, (valEnd - trainEnd) / n, (n - valEnd) / n];
  const train: Slice = { start: 0, end: trainEnd };
  const val: Slice = { start: trainEnd, end: valEnd };
  const test: Slice = { start: valEnd, end: n };
  const split = { train, val, test, trainIdx: range(train, (i) => !ds.novel[i]), valIdx: range(val, (i) => !ds.novel[i]), testIdx: range(test), fractions };
  const positives = (idx: number[]) => idx.reduce((s, i) => s + ds.labels[i], 0);
  for (const [name, idx] of [['train', split.trainIdx], ['validation', split.valIdx], ['test', split.testIdx]] as const) {
    const p = positives(idx);
    if (idx.length < 10 || p === 0 || p === idx.length) {
      throw new UserInputError(`the ${name} slice has ${idx.length} rows and ${p} fraud; each slice needs both classes (use more data)`);
    }
  }
  return split;
}

/** Every first-line detector, in list order (each draws from `rand` in turn, so seeded runs repeat). */
async function trainDetectorsPhase(ds: Dataset, split: Split, opts: TrainOptions, seed: number, rand: () => number, progress: Progress, clock: (name: string, started: number) => void) {
  const fitted: FittedDetector[] = [];
  try {
    for (const d of checkDetectorList(opts.detectors ?? FIRST_LINE_DETECTORS)) {
      const t0 = performance.now();
      fitted.push(await d.train({ ds, trainIdx: split.trainIdx, valIdx: split.valIdx, opts, seed, rand, progress }));
      clock(d.id, t0);
    }
    return fitted;
  } catch (err) {
    for (const f of fitted) f.dispose();
    throw err;
  }
}

type HeavyModel = HeavyScorer & { meta?: { training?: unknown } };

/** A row with its card's previous vectors: what the heavy sequence model reads. */
function heavyItems(ds: Dataset, idx: number[]) {
  return idx.map((i) => ({ history: Array.from(ds.previous?.[i] ?? [], (j) => (ds.historyRows ?? ds.rows)[j]), current: ds.rows[i] }));
}

/** Heavy sequence model, on transactions only; `skipped` says why there is none. */
async function trainHeavyPhase(ds: Dataset, split: Split, opts: TrainOptions, seed: number, rand: () => number, progress: Progress) {
  const k = opts.heavy?.k ?? 16;
  if (!opts.heavy?.enabled) return { k, skipped: 'disabled (--heavy off)' };
  if (!ds.previous) return { k, skipped: 'no card sequences in this data (CSV)' };
  try {
    const trainer = opts.heavy.trainer ?? (await defaultHeavyTrainer());
    const maxRows = opts.heavy.maxRows ?? DEFAULT_HEAVY_ROWS;
    const hIdx = capLegit(split.trainIdx, ds.labels, maxRows, rand);
    const hVal = capLegit(split.valIdx, ds.labels, Math.floor(maxRows / 2), rand);
    const trainItems = heavyItems(ds, hIdx);
    const valItems = heavyItems(ds, hVal);
    progress('heavy', `training on ${hIdx.length} rows (k=${k})`);
    const heavy: HeavyModel = await trainer({
      sequences: trainItems.map((x) => x.history),
      currents: trainItems.map((x) => x.current),
      labels: hIdx.map((i) => ds.labels[i]),
      featureNames: [...ds.featureNames],
      k,
      epochs: opts.heavy.epochs,
      validation: { sequences: valItems.map((x) => x.history), currents: valItems.map((x) => x.current), labels: hVal.map((i) => ds.labels[i]) },
      onProgress: (epoch, logs) =>
        progress('heavy', `epoch ${epoch}: loss ${logs.loss.toFixed(4)}${logs.valAuc !== undefined ? `, validation ROC-AUC ${logs.valAuc.toFixed(4)}` : ''} (${logs.seconds.toFixed(0)} s)`),
      seed,
    });
    return { k, heavy };
  } catch (err) {
    const skipped = `unavailable: ${(err as Error).message.split('\n')[0]}`;
    progress('heavy', skipped);
    return { k, skipped };
  }
}

/** Every detector's scores by id (the routing reads its roles from them), the escalate stage's, the heavy model's. */
type SliceScores = RoutedRows & { heavy?: Float64Array };
/** One detector's scores (any id the trainer was given, registered or not). */
const scoresOf = (s: SliceScores, id: string): ArrayLike<number> => (s as unknown as Record<string, ArrayLike<number>>)[id];

/** Every detector's scores on the given rows, by id (the heavy model, when present, scores the second stage). */
async function scoreRows(ds: Dataset, idx: number[], models: { detectors: readonly FittedDetector[]; heavy?: HeavyModel }, registry: readonly ModelSpec[]): Promise<SliceScores> {
  const rows = idx.map((i) => ds.rows[i]);
  const first = Object.fromEntries(models.detectors.map((d) => [d.id, d.scoreMany(rows)])) as Record<string, Float64Array>;
  let h: Float64Array | undefined;
  if (models.heavy) {
    h = new Float64Array(idx.length);
    // tfjs on wasm scores ~30 µs/row in batches of a few hundred, but 40x slower in batches of thousands.
    for (let s = 0; s < idx.length; s += HEAVY_SCORE_BATCH) {
      const part = await models.heavy.predict(heavyItems(ds, idx.slice(s, s + HEAVY_SCORE_BATCH)));
      h.set(part, s);
    }
  }
  // Without a heavy model, the band model's score (XGBoost's) decides escalate too.
  return { ...(first as Record<FirstLineModelId, Float64Array>), second: h ?? first[routingRoles(registry).band.model], heavy: h };
}

/**
 * p(fraud) for policy in money: isotonic calibration of the band model's score (the registry's routing role 'band':
 * XGBoost, so every card so far says `model: 'xgboost'`) fitted on the validation slice, and its reliability (raw
 * and calibrated) on the test slice, where both are out of sample. None when a slice has no fraud (nothing to
 * calibrate against).
 */
export function calibrateBandModel(val: RoutedRows, valLabels: number[], test: RoutedRows, testLabels: number[], models: readonly ModelSpec[] = MODELS): ModelCard['calibration'] {
  if (!valLabels.includes(1) || !testLabels.includes(1)) return undefined;
  const model = routingRoles(models).band.model;
  const testScores = scoresOf(test, model);
  const calibrator = fitIsotonic(scoresOf(val, model), valLabels);
  const calibrated = Float64Array.from(testScores, (s) => calibrate(calibrator, s));
  return { model, fittedOn: 'validation slice', calibrator, reliability: { raw: reliability(testScores, testLabels), calibrated: reliability(calibrated, testLabels), on: 'test slice' } };
}

/** Metrics of every model and of the routed ensemble on the test slice, with their curves. */
function evaluateOnTest(ds: Dataset, testIdx: number[], testScores: SliceScores, thresholds: TrainResult['card']['thresholds'], ids: readonly string[], models: readonly ModelSpec[], cardK = 100, blend?: EnsembleBlendChoice) {
  const yTest = testIdx.map((i) => ds.labels[i]);
  const scTest = testIdx.map((i) => ds.scenarios[i]);
  const outcomes = routeAll(thresholds, testScores, models);
  const cardDays: CardDays | undefined = ds.cardIds ? { cards: testIdx.map((i) => (ds.cardIds as string[])[i]), ts: testIdx.map((i) => ds.ts[i]), k: cardK } : undefined;
  const metrics = {
    ...(Object.fromEntries(ids.map((id) => [id, modelMetrics(scoresOf(testScores, id), yTest, scTest, cardDays)])) as Record<FirstLineModelId, ModelMetrics>),
    heavy: testScores.heavy ? modelMetrics(testScores.heavy, yTest, scTest, cardDays) : null,
    ensemble: ensembleMetrics(outcomes, testScores, yTest, scTest, models, cardDays, blend),
  } satisfies Record<string, ModelMetrics | null>;
  return { metrics, ...testCurves(testScores, outcomes, yTest, thresholds, ids, models, blend) };
}

export async function trainModels(ds: Dataset, opts: TrainOptions): Promise<TrainResult> {
  const progress = opts.onProgress ?? (() => {});
  const timings: Timings = ds.buildSeconds !== undefined ? { features: ds.buildSeconds } : {};
  const clock = (name: string, started: number) => (timings[name] = (performance.now() - started) / 1000);
  const targets = opts.targets ?? DEFAULT_TARGETS;
  const seed = opts.seed ?? 1;
  const split = splitByTime(ds, opts.fractions ?? [0.6, 0.2, 0.2], opts.splitAt);
  const { valIdx, testIdx } = split;

  // One generator for the detectors (XGBoost's down-sampling) and the heavy model's row caps, in that order (seeded runs repeat).
  const rand = mulberry32(seed);
  const models = opts.models ?? MODELS;
  const given = (opts.detectors ?? FIRST_LINE_DETECTORS).map((d) => d.id);
  const unscored = models.filter((m) => m.stage === 'detect' && !given.includes(m.id)).map((m) => m.id);
  if (unscored.length) throw new FraudstreamError(ErrorCodes.INTERNAL, `the routing reads ${unscored.join(', ')}, which the trainer was not given as detectors`);
  const detectors = await trainDetectorsPhase(ds, split, opts, seed, rand, progress, clock);
  const ids = detectors.map((d) => d.id);
  let heavy: HeavyModel | undefined;
  try {
    let t0 = performance.now();
    const heavyPhase = await trainHeavyPhase(ds, split, opts, seed, rand, progress);
    heavy = heavyPhase.heavy;
    if (opts.heavy?.enabled && ds.previous) clock('heavy', t0);

    t0 = performance.now();
    const valScores = await scoreRows(ds, valIdx, { detectors, heavy }, models);
    const testScores = await scoreRows(ds, testIdx, { detectors, heavy }, models);
    clock('scoring', t0);
    const { card, driftReference } = chooseAndDescribe(ds, split, { detectors, ids, models, heavy, heavyPhase, valScores, testScores, timings, clock, progress, targets, cardK: opts.cardK, serveHeavy: opts.heavy?.serve });
    const legitTrain = split.trainIdx.filter((i) => !ds.labels[i]).map((i) => ds.rows[i]);
    const dir = await saveModelVersion(opts.modelDir, {
      featureNames: ds.featureNames,
      featureInfo: ds.kind === 'transactions' ? { definition: 'detectors/pure/features.ts', historyK: heavyPhase.k, spec: ds.spec } : { definition: 'csv columns' },
      detectors,
      detectorModules: opts.detectors,
      heavy,
      thresholds: card.thresholds,
      baseline: columnMedians(legitTrain, ds.featureNames.length),
      card,
      driftReference,
    });
    card.version = dir.split(/[\\/]/).pop() ?? '';
    return {
      dir,
      card,
      test: { indices: testIdx, ...(Object.fromEntries(ids.map((id) => [id, Float64Array.from(scoresOf(testScores, id))])) as Record<FirstLineModelId, Float64Array>), heavy: testScores.heavy },
    };
  } finally {
    for (const d of detectors) d.dispose();
    heavy?.dispose();
  }
}

/** What the escalate stage says when the version routes around its heavy model (the loader then leaves it unloaded). */
export const ESCALATE_ROUTED_AROUND = 'xgboost (heavy model not better on validation)';

/**
 * On validation's escalated rows (under the chosen thresholds), the heavy model's average precision against the
 * band model's; `loses` when heavy is not better. Undefined when those rows lack a class (nothing to compare).
 */
export function heavyLosesOnValidation(scores: SliceScores, labels: number[], outcomes: Uint8Array, models: readonly ModelSpec[]): { rows: number; heavyAp: number; bandAp: number; loses: boolean } | undefined {
  if (!scores.heavy) return undefined;
  const esc: number[] = [];
  outcomes.forEach((o, i) => {
    if (isEscalated(o)) esc.push(i);
  });
  const y = esc.map((i) => labels[i]);
  if (!(y.includes(1) && y.includes(0))) return undefined;
  const band = scoresOf(scores, routingRoles(models).band.model);
  const heavyAp = averagePrecision(esc.map((i) => (scores.heavy as Float64Array)[i]), y);
  const bandAp = averagePrecision(esc.map((i) => band[i]), y);
  return { rows: esc.length, heavyAp, bandAp, loses: !(heavyAp > bandAp) };
}

/**
 * Whether each step earns its place on the test slice: the band model alone; on the rows the routing escalates,
 * the heavy model against the band model; the routed ensemble against its best member. Said in words on the card.
 */
export function stepReport(
  labels: number[],
  scores: SliceScores,
  outcomes: Uint8Array,
  metrics: ModelCard['test'],
  ids: readonly string[],
  models: readonly ModelSpec[],
  blend?: EnsembleBlendChoice,
  onValidation?: ModelCard['heavyOnValidation'],
): StepReport {
  const band = routingRoles(models).band.model;
  const bandMetrics = (metrics as unknown as Record<string, ModelMetrics>)[band];
  const esc: number[] = [];
  outcomes.forEach((o, i) => {
    if (isEscalated(o)) esc.push(i);
  });
  const y = esc.map((i) => labels[i]);
  const both = y.includes(1) && y.includes(0);
  const bandAp = both ? averagePrecision(esc.map((i) => scoresOf(scores, band)[i]), y) : null;
  const heavyAp = both && scores.heavy ? averagePrecision(esc.map((i) => (scores.heavy as Float64Array)[i]), y) : null;
  const heavyBeatsBand = heavyAp === null || bandAp === null ? null : heavyAp > bandAp;
  const members = [...ids.map((id) => [id, (metrics as unknown as Record<string, ModelMetrics>)[id]?.auprc ?? NaN] as const), ...(metrics.heavy ? [['heavy', metrics.heavy.auprc] as const] : [])];
  const best = members.reduce((a, b) => (b[1] > a[1] ? b : a));
  const ensembleAp = metrics.ensemble.auprc;
  const f = (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(4));
  const lines = [
    `first line alone (${band}): average precision ${f(bandMetrics.auprc)}, ROC AUC ${f(bandMetrics.rocAuc)}`,
    scores.heavy
      ? `on the ${esc.length} escalated rows (${y.filter((v) => v === 1).length} fraud): heavy ${f(heavyAp)} against ${band} ${f(bandAp)} average precision: ${
          heavyBeatsBand === null ? 'too few of both classes to say' : heavyBeatsBand ? 'the heavy model earns its place' : `the heavy model does not beat ${band} here`
        }${
          onValidation
            ? ` (validation's ${onValidation.rows} escalated rows: heavy ${f(onValidation.heavyAveragePrecision)} against ${f(onValidation.bandAveragePrecision)}, so the version ${onValidation.routedAround ? `routes around it: escalate decides on ${band}` : 'serves it'})`
            : heavyBeatsBand === false
              ? ': let the policy route around it (escalate thresholds)'
              : ''
        }`
      : `no heavy model: the escalate stage decides on ${band}'s score`,
    `routed ensemble${blend?.member ? ` (ranking ${(blend.weight * 100).toFixed(0)}% ${blend.member}, the blend chosen on validation)` : ''} ${f(ensembleAp)} against its best member (${best[0]}) ${f(best[1])}: ${ensembleAp + 1e-12 < best[1] ? 'BELOW its best member on test (validation chose the blend; the slices disagree)' : 'not below its best member'}`,
  ];
  return {
    firstLine: { model: band, averagePrecision: bandMetrics.auprc, rocAuc: bandMetrics.rocAuc },
    escalated: { rows: esc.length, positives: y.filter((v) => v === 1).length, bandAveragePrecision: bandAp, heavyAveragePrecision: heavyAp, heavyBeatsBand },
    ensemble: { averagePrecision: ensembleAp, bestMember: best[0], bestMemberAveragePrecision: best[1], belowBestMember: ensembleAp + 1e-12 < best[1], ...(blend?.member ? { blend: { member: blend.member, weight: blend.weight } } : {}) },
    lines,
  };
}

interface Described {
  detectors: readonly FittedDetector[];
  ids: readonly string[];
  models: readonly ModelSpec[];
  heavy?: HeavyModel;
  heavyPhase: { k: number; skipped?: string };
  valScores: SliceScores;
  testScores: SliceScores;
  timings: Timings;
  clock: (name: string, started: number) => void;
  progress: Progress;
  targets: RoutingTargets;
  cardK?: number;
  serveHeavy?: 'if-better' | 'always';
}

/** Thresholds on validation, metrics on test, calibration, the drift reference and the model card. */
function chooseAndDescribe(ds: Dataset, split: Split, x: Described): { card: ModelCard; driftReference: DriftReference } {
  const { train, val, test, valIdx, testIdx, fractions } = split;
  const { progress, targets, timings, clock, heavy, detectors, ids, models } = x;
  const n = ds.rows.length;
  const d = ds.featureNames.length;

  const valLabels = valIdx.map((i) => ds.labels[i]);
  let choice = chooseThresholds(x.valScores, valLabels, targets, models);
  // The heavy model earns the escalate stage only if it ranks validation's escalated rows better than the band
  // model; otherwise the version routes around it: escalate decides on the band model's score, and the escalate
  // thresholds are chosen again on that score.
  const routeAround = heavy ? heavyLosesOnValidation(x.valScores, valLabels, routeAll(choice.thresholds, x.valScores, models), models) : undefined;
  let valScores = x.valScores;
  let testScores = x.testScores;
  if (routeAround?.loses && x.serveHeavy !== 'always') {
    const band = routingRoles(models).band.model;
    valScores = { ...valScores, second: scoresOf(valScores, band) };
    testScores = { ...testScores, second: scoresOf(testScores, band) };
    choice = chooseThresholds(valScores, valLabels, targets, models);
    progress('heavy', `routed around: on validation's ${routeAround.rows} escalated rows heavy ${routeAround.heavyAp.toFixed(4)} <= ${band} ${routeAround.bandAp.toFixed(4)} average precision`);
  }
  const routedAround = routeAround?.loses === true && x.serveHeavy !== 'always';
  const blend = chooseEnsembleBlend(routeAll(choice.thresholds, valScores, models), valScores, valLabels, [...ids, ...(heavy ? ['heavy'] : [])], models);
  if (blend?.member) progress('blend', `ensemble ranking takes ${(blend.weight * 100).toFixed(0)}% of ${blend.member} (validation average precision ${blend.validation.blendedAveragePrecision.toFixed(4)}; routing alone ${blend.validation.routedAveragePrecision.toFixed(4)}, ${blend.member} alone ${blend.validation.memberAveragePrecision.toFixed(4)})`);
  progress(
    'thresholds',
    `validation: caught ${(choice.validation.catchRate * 100).toFixed(1)}%, escalated ${(choice.validation.escalateShare * 100).toFixed(2)}%, reviewed ${(choice.validation.reviewShare * 100).toFixed(2)}%`,
  );
  const { metrics: testMetrics, curves, thresholdMarks } = evaluateOnTest(ds, testIdx, testScores, choice.thresholds, ids, models, x.cardK, blend);
  const calibration = calibrateBandModel(valScores, valIdx.map((i) => ds.labels[i]), testScores, testIdx.map((i) => ds.labels[i]), models);

  // Drift reference: features as served on the training slice (every row, fraud included); scores on the whole
  // validation slice, where XGBoost is out of sample as it is live.
  const t0 = performance.now();
  const trainRows = ds.rows.slice(train.start, train.end);
  const valAll = ds.rows.slice(val.start, val.end);
  const valAllScores = Object.fromEntries(detectors.map((f) => [f.id, f.scoreMany(valAll)])) as Record<FirstLineModelId, Float64Array>;
  const historyDays = ds.firstTs !== undefined && train.end > train.start ? (ds.ts[train.end - 1] - ds.firstTs) / 86_400_000 : undefined;
  const driftReference = buildDriftReference(ds.featureNames, trainRows, { ...valAllScores, slice: 'validation' }, { historyDays });
  clock('driftReference', t0);

  const all: Slice = { start: 0, end: n };
  const allInfo = sliceInfo(ds, all);
  const card: ModelCard = {
    version: '',
    createdAt: new Date().toISOString(),
    kind: ds.kind,
    source: ds.source,
    dataWindow: { from: allInfo.from, to: allInfo.to, rows: n, positives: allInfo.positives, fraudRate: allInfo.positives / n },
    split: { train: sliceInfo(ds, train), validation: sliceInfo(ds, val), test: sliceInfo(ds, test), fractions },
    featureCount: d,
    models: {
      ...(Object.fromEntries(detectors.map((f) => [f.id, f.card])) as Record<FirstLineModelId, Record<string, unknown>>),
      heavy: heavy ? { k: x.heavyPhase.k, ...((heavy.meta?.training as Record<string, unknown>) ?? {}) } : { skipped: x.heavyPhase.skipped ?? 'not trained' },
    },
    escalateScoredBy: !heavy ? 'xgboost (no heavy model)' : routedAround ? ESCALATE_ROUTED_AROUND : 'heavy',
    ...(routeAround ? { heavyOnValidation: { rows: routeAround.rows, heavyAveragePrecision: routeAround.heavyAp, bandAveragePrecision: routeAround.bandAp, routedAround } } : {}),
    ...(blend ? { ensembleBlend: blend } : {}),
    steps: stepReport(testIdx.map((i) => ds.labels[i]), testScores, routeAll(choice.thresholds, testScores, models), testMetrics, ids, models, blend, routeAround ? { rows: routeAround.rows, heavyAveragePrecision: routeAround.heavyAp, bandAveragePrecision: routeAround.bandAp, routedAround } : undefined),
    targets,
    thresholds: choice.thresholds,
    thresholdChoice: { validation: choice.validation, met: choice.met },
    test: testMetrics,
    curves,
    thresholdMarks,
    ...(calibration ? { calibration } : {}),
    drift: {
      file: DRIFT_REFERENCE_FILE,
      bins: DEFAULT_DRIFT_BINS,
      features: ds.featureNames.length,
      scores: driftReference.entries.filter((e) => e.kind === 'score').map((e) => e.name.replace(/^score\./, '')),
      featureRows: trainRows.length,
      scoreRows: valAll.length,
      featuresFrom: 'training slice (all rows, fraud included)',
      scoresFrom: 'validation slice (out of sample)',
    },
    timings,
  };
  return { card, driftReference };
}

/**
 * PR and ROC curves of every model on the test slice, and where the chosen thresholds sit on them. The ensemble's
 * curve ranks its routing score (outcome band + the deciding score): review or block is a score >= 0.4, block >= 0.6.
 */
function testCurves(
  s: RoutedRows & { heavy?: Float64Array },
  outcomes: Uint8Array,
  y: number[],
  t: TrainResult['card']['thresholds'],
  ids: readonly string[],
  models: readonly ModelSpec[],
  blend?: EnsembleBlendChoice,
): { curves: Record<string, ModelCurves>; thresholdMarks: Record<string, ThresholdMark[]> } {
  const curves: Record<string, ModelCurves> = {};
  const put = (name: string, scores: ArrayLike<number> | undefined) => {
    const c = scores && modelCurves(scores, y);
    if (c) curves[name] = c;
  };
  for (const id of ids) put(id, scoresOf(s, id));
  put('heavy', s.heavy);
  put('ensemble', ensembleScores(outcomes, s, models, blend));
  const at = (scores: ArrayLike<number>, name: string, threshold: number) => operatingPoint(name, threshold, (i) => scores[i] >= threshold, y);
  const escalateMarks = (scores: ArrayLike<number>) => [at(scores, 'escalate.blockAbove', t.escalate.blockAbove), at(scores, 'escalate.allowBelow', t.escalate.allowBelow)];
  const detectMark = (id: string, key: string) => at(scoresOf(s, id), `detect.${key}`, thresholdOf(t.detect, key));
  // Each routed model's marks, in registry order: the band model's block and allow (and escalate's without a heavy model).
  const routedMarks = (m: ModelSpec): ThresholdMark[] => {
    const r = m.routing!;
    if (r.role === 'escalateAbove') return [detectMark(m.id, r.threshold)];
    return [detectMark(m.id, r.block), detectMark(m.id, r.allow), ...(s.heavy ? [] : escalateMarks(scoresOf(s, m.id)))];
  };
  const thresholdMarks: Record<string, ThresholdMark[]> = {
    ...Object.fromEntries(models.filter((m) => m.stage === 'detect').map((m) => [m.id, routedMarks(m)])),
    ...(s.heavy ? { heavy: escalateMarks(s.heavy) } : {}),
    ensemble: [
      operatingPoint('caught: review or block', (Outcome.REVIEW as number) / 5, (i) => isCaught(outcomes[i]), y),
      operatingPoint('blocked', (Outcome.BLOCK_ESCALATE as number) / 5, (i) => isBlocked(outcomes[i]), y),
    ],
  };
  return { curves, thresholdMarks };
}

/** Every fraud row plus legitimate rows up to `max` rows in all (a uniform sample), in time order. */
function capLegit(idx: number[], labels: Uint8Array, max: number, rand: () => number): number[] {
  if (idx.length <= max) return idx;
  const fraud = idx.filter((i) => labels[i]).length;
  const keep = Math.max(0, max - fraud) / Math.max(1, idx.length - fraud);
  return idx.filter((i) => labels[i] === 1 || rand() < keep);
}
