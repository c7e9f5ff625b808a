/**
 * What a first-line detector is (a model detect runs on every transaction): one module implementing this interface,
 * listed in detectors/first-line.ts, with its declaration (id, stage, thresholds) in core/model-registry.ts. The
 * trainer trains every listed detector, a model version saves and loads each, scoreFirstLine returns each score and
 * the model card carries each one's entry. The heavy model (escalate's) is not one of these: see detectors/heavy/.
 */
import type { Dataset, Progress, TrainOptions } from './trainer.ts';

/** What the trainer hands every detector: the dataset and its time split. */
export interface TrainingInput {
  ds: Dataset;
  /** Training-slice rows (dataset indices), novel-scenario fraud left out. */
  trainIdx: readonly number[];
  /** Validation-slice rows, novel-scenario fraud left out (for choices made on validation, e.g. class imbalance). */
  valIdx: readonly number[];
  /** The train command's options; each detector reads its own (`forest`, `xgboost`, `imbalance`, ...). */
  opts: TrainOptions;
  seed: number;
  /** The trainer's one seeded generator: detectors draw from it in list order, then the heavy model (runs repeat). */
  rand: () => number;
  progress: Progress;
}

/** A trained (or loaded) detector. */
export interface FittedDetector<M = unknown> {
  readonly id: string;
  /** The model itself, for benches and tests that need more than scores. */
  readonly model: M;
  /** Its entry under the model card's `models` (what it was trained on and with). */
  readonly card: Record<string, unknown>;
  score(row: ArrayLike<number>): number;
  /** Batched scores, equal to score() row by row. */
  scoreMany(rows: readonly ArrayLike<number>[]): Float64Array;
  /** Writes its files into a version folder being written (file names never change: older versions must load). */
  save(dir: string): Promise<void>;
  /** Releases what the garbage collector cannot (wasm memory). Idempotent. */
  dispose(): void;
}

export interface FirstLineDetector<Id extends string = string, M = unknown> {
  /** Its key in the registry, in every decision's scores, in the card and in drift monitoring. */
  readonly id: Id;
  /** How the model card and the train table name it. */
  readonly label: string;
  /** The files it writes into a version folder. */
  readonly files: readonly string[];
  /** True for the one detector whose score explanations perturb (occlusion, detectors/pure/explain.ts). */
  readonly explains?: boolean;
  train(input: TrainingInput): Promise<FittedDetector<M>>;
  /** Reads what save() wrote; `featureNames` is the version's vector order (a detector may check its width). */
  load(dir: string, featureNames: readonly string[]): Promise<FittedDetector<M>>;
  /** Its line in model-card.md's Models list, from its card entry (default: the entry as JSON). */
  cardLine?(entry: Record<string, unknown>): string;
}
