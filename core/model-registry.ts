/**
 * The models, declared once: which stage each scores for, what its score means, the policy thresholds its
 * score is compared with (their meaning and their cold-start value, used before any version is trained) and, for
 * detect-stage models, the routing role those thresholds play. The decision contract (ScoresSchema), the policy's
 * threshold schema, the cold-start thresholds, the routing (detectors/pure/routing.ts, router/pure/policy.ts),
 * drift monitoring, the trainer's per-model curves and the console's score columns are built from this table.
 *
 * This module imports nothing: core/contracts.ts (which the browser bundle reads) builds its schemas from it.
 * How each model is trained, saved, loaded and scored lives in its own module (isolation-forest.ts, xgboost.ts,
 * heavy/); docs/detectors.md lists what still names a model outside this table.
 */

export interface ThresholdSpec {
  /** The key under policy.thresholds.<stage>. */
  key: string;
  /** What the threshold does (shown in the policy schema's description). */
  description: string;
  /** The value policy v1 uses when no model version exists yet (rules-only mode never reaches it). */
  coldStart: number;
}

/**
 * How a detect-stage model's score routes a transaction (detectors/pure/routing.ts, router/pure/policy.ts).
 * `band`: exactly one first-line model; at or above its `block` threshold detect blocks, from its `allow` threshold
 * up to the block threshold it escalates (ambiguous), below it allows. `escalateAbove`: any number of models; at or
 * above its `threshold` a transaction is escalated, whatever the band model says (block aside).
 */
export type RoutingRole =
  | { role: 'band'; block: string; allow: string; blockRuleId: string; ambiguousRuleId: string }
  | {
      role: 'escalateAbove';
      threshold: string;
      ruleId: string;
      /** The rule hit's description. */
      description: string;
      /** How the decision's reason names the score (`<reasonLabel> 0.812 >= 0.700`). */
      reasonLabel: string;
    };

export interface ModelSpec {
  /** The key of the model's score in every decision, escalation and case (Scores). */
  id: string;
  label: string;
  /** The stage that runs it: detect scores every transaction, escalate only what detect could not settle. */
  stage: 'detect' | 'escalate';
  learns: 'unsupervised' | 'supervised';
  /** What a higher score means. */
  score: string;
  thresholds: readonly ThresholdSpec[];
  /** The heading of its score column in the console (live, queue); the id when absent. */
  column?: string;
  /** Detect-stage models only: the role its score plays in routing (its threshold keys are among `thresholds`). */
  routing?: RoutingRole;
}

/**
 * The registered models. Their order is also the order of a decision's scores on the wire (core/contracts.ts
 * DecisionWireSchema): add a model at the end, never reorder or remove one, or older decisions read wrong.
 */
export const MODELS = [
  {
    id: 'isolationForest',
    label: 'isolation forest',
    column: 'anomaly',
    stage: 'detect',
    learns: 'unsupervised',
    score: '0..1, higher = more anomalous (attacks nobody labelled yet)',
    thresholds: [{ key: 'anomalyEscalateAbove', description: 'Isolation forest score at or above which a transaction is escalated even if XGBoost is calm.', coldStart: 0.7 }],
    routing: { role: 'escalateAbove', threshold: 'anomalyEscalateAbove', ruleId: 'model.anomaly_escalate', description: 'isolation forest finds it unusual', reasonLabel: 'anomaly' },
  },
  {
    id: 'xgboost',
    label: 'XGBoost',
    column: 'xgb',
    stage: 'detect',
    learns: 'supervised',
    score: '0..1 fraud probability (known patterns)',
    thresholds: [
      { key: 'blockAbove', description: 'XGBoost score at or above which detect blocks outright.', coldStart: 0.9 },
      { key: 'allowBelow', description: 'XGBoost score below which detect allows (unless the anomaly score says otherwise).', coldStart: 0.2 },
    ],
    routing: { role: 'band', block: 'blockAbove', allow: 'allowBelow', blockRuleId: 'model.xgboost_block', ambiguousRuleId: 'model.xgboost_ambiguous' },
  },
  {
    id: 'heavy',
    label: 'heavy model',
    column: 'heavy',
    stage: 'escalate',
    learns: 'supervised',
    score: "0..1 fraud probability from the card's recent sequence",
    thresholds: [
      { key: 'blockAbove', description: 'Heavy model score at or above which escalate blocks.', coldStart: 0.8 },
      { key: 'allowBelow', description: 'Heavy model score below which escalate allows; between the two, a person reviews.', coldStart: 0.3 },
    ],
  },
] as const satisfies readonly ModelSpec[];

export type ModelId = (typeof MODELS)[number]['id'];
type ModelOf<S extends ModelSpec['stage']> = Extract<(typeof MODELS)[number], { stage: S }>;
/** The models detect runs on every transaction, in the order their scores are listed. */
export type FirstLineModelId = ModelOf<'detect'>['id'];
export type ThresholdKey<S extends ModelSpec['stage']> = ModelOf<S>['thresholds'][number]['key'];

/** Each stage's thresholds, keyed as the registered models declare them. */
export interface ModelThresholds {
  detect: Record<ThresholdKey<'detect'>, number>;
  escalate: Record<ThresholdKey<'escalate'>, number>;
}

export const MODEL_IDS: readonly ModelId[] = MODELS.map((m) => m.id);
export const FIRST_LINE_MODELS = MODELS.filter((m): m is ModelOf<'detect'> => m.stage === 'detect');

/** A decision's first-line scores: every registered first-line model's score in `row`, in registry order. */
export function firstLineScores(row: Readonly<Record<string, number | undefined>>, models: readonly ModelSpec[] = MODELS): Partial<Record<FirstLineModelId, number>> {
  const out: Record<string, number> = {};
  for (const m of models) {
    const v = m.stage === 'detect' ? row[m.id] : undefined;
    if (v !== undefined) out[m.id] = v;
  }
  return out as Partial<Record<FirstLineModelId, number>>;
}

/**
 * The console's score columns (live decisions, review queue), in routing order: the band model, the escalateAbove
 * models, then the escalate stage's.
 */
export function scoreColumns(models: readonly ModelSpec[] = MODELS): Array<{ id: string; heading: string }> {
  const rank = (m: ModelSpec) => (m.stage === 'escalate' ? 2 : m.routing?.role === 'band' ? 0 : 1);
  return [...models].sort((a, b) => rank(a) - rank(b)).map((m) => ({ id: m.id, heading: m.column ?? m.id }));
}

/**
 * Every threshold a stage's policy holds, with the model whose score it is compared with. `models` is the
 * registry; tests pass a longer list to show that a new model's thresholds land in the policy.
 */
export function stageThresholds<S extends ModelSpec['stage']>(stage: S, models: readonly ModelSpec[] = MODELS): Array<ThresholdSpec & { key: ThresholdKey<S>; model: string }> {
  return models.filter((m) => m.stage === stage).flatMap((m) => m.thresholds.map((t) => ({ ...t, model: m.id }))) as Array<ThresholdSpec & { key: ThresholdKey<S>; model: string }>;
}

/** The thresholds policy v1 holds before any model version is trained. */
export function coldStartThresholds(models: readonly ModelSpec[] = MODELS): { detect: Record<ThresholdKey<'detect'>, number>; escalate: Record<ThresholdKey<'escalate'>, number> } {
  const of = <S extends ModelSpec['stage']>(s: S) => Object.fromEntries(stageThresholds(s, models).map((t) => [t.key, t.coldStart])) as Record<ThresholdKey<S>, number>;
  return { detect: of('detect'), escalate: of('escalate') };
}
