import type { FeatureSpec } from './pure/feature-spec.ts';
/**
 * The contract between detectors/ (features, models, trainer) and router/ (the Kafka stages).
 * detectors/ implements these; router/ only calls them.
 */
import type { FeatureContribution, Label, Transaction } from '../core/contracts.ts';
import type { FirstLineModelId, ModelThresholds } from '../core/model-registry.ts';
import type { CardState } from './pure/card-state.ts';
import type { EntityState } from './pure/entity-state.ts';
import type { CapHit } from './pure/new-card-cap.ts';

/** Dense feature vector in the order of FEATURE_NAMES (detectors/features.ts). */
export type FeatureVector = Float64Array;

/**
 * A batch's vectors; `capped` names the transactions (by index) of new cards over the new-card cap, computed without
 * stored state and not applied (detectors/pure/new-card-cap.ts), with the scope that was over.
 */
export type FeatureVectors = FeatureVector[] & { capped?: ReadonlyMap<number, CapHit> };

/**
 * The card state the feature module reads and updates. Two implementations, one definition of features:
 * RedisFeatureStore (online, batched round trips) and MemoryFeatureStore (offline, for the trainer).
 */
export interface FeatureStore {
  /**
   * Point-in-time: for each transaction (in the given order), the vector computed from the card's state
   * before it, then the state is updated with it. Idempotent per txId: a transaction already applied is not
   * counted again, and its vector is the one computed the first time. A new card over the new-card cap is computed
   * from an empty state and nothing of it is applied (listed in the result's `capped`).
   */
  computeAndApply(txs: Transaction[], prefetched?: unknown): Promise<FeatureVectors>;
  /**
   * Starts reading the state these transactions' vectors need (their cards and entities) without applying anything,
   * so the read can travel with other work of the batch (the runner's claims): one round trip for both. Pass the
   * answer to computeAndApply for these transactions or a subset of them, once; a stale or partial one is read again.
   */
  prefetch?(txs: readonly Transaction[]): Promise<unknown>;
  /**
   * Labels as they arrive: a transaction's first fraud label counts towards its merchant's (and any label-risk
   * entity's) fraud count, visible to vectors of transactions at or after its labeledAt. Idempotent per txId.
   * Returns how many labels counted.
   */
  applyLabels(labels: readonly Label[]): Promise<number>;
  /**
   * The card's last K transactions' vectors (oldest first), as the heavy model sees them: only transactions
   * with ts < beforeTs when given (escalate runs behind detect, so later transactions may already be stored).
   */
  history(cardId: string, k: number, beforeTs?: number): Promise<FeatureVector[]>;
}

/**
 * Read-only access to what a feature store holds now (the console explains a case against it): a card's state and
 * entity states by key (`card:C1`, `merchant:M1`, `*:*` for the global one). Nothing is applied or refreshed.
 */
export interface FeatureStatePeek {
  /** The card's state now (after every transaction applied so far); undefined when the store has none. */
  peekCard(cardId: string): Promise<CardState | undefined>;
  /** Entity states by key; a key the store has never seen is left out. */
  peekEntities(keys: readonly string[]): Promise<Map<string, EntityState>>;
}

/** Every first-line model's score for one row (what each score means: core/model-registry.ts). */
export type ScoredRow = Record<FirstLineModelId, number>;

/** p(fraud) for policy in money (detectors/calibrated.ts). */
export interface FraudProbability {
  /** True when an isotonic calibrator fitted on the validation slice maps the score; false = the raw score. */
  readonly calibrated: boolean;
  /** Where p comes from, in words, for pages and commands. */
  readonly source: string;
  /** p(fraud) from the band model's score (core/model-registry.ts routing role 'band': XGBoost). */
  fromBandScore(score: number): number;
}

/** A loaded model version (a folder under MODEL_DIR). */
export interface ModelBundle {
  version: string;
  featureNames: readonly string[];
  thresholds: ModelThresholds;
  /** Batched first-line scoring. */
  scoreFirstLine(rows: FeatureVector[]): ScoredRow[];
  /** Top-k signed feature contributions to the XGBoost score for one row (only called for non-ALLOW rows). */
  explain(row: FeatureVector, k: number): FeatureContribution[];
  /** False when the version was trained without a heavy model: escalate then decides on the first-line score. */
  readonly hasHeavy: boolean;
  /** Heavy model: the card's recent sequence plus the current vector -> fraud probability. Batched. */
  scoreHeavy(items: Array<{ history: FeatureVector[]; current: FeatureVector }>): Promise<number[]>;
  /** p(fraud): the calibrated band-model (XGBoost) score, or the raw one for a version without a calibrator. */
  readonly probability: FraudProbability;
  /** The feature spec the version was trained with (its features.json); undefined: the default spec (older versions). */
  readonly spec?: FeatureSpec;
}
