/**
 * Every message on every topic and every HTTP body, as zod schemas. Types come from z.infer.
 * Parse at every boundary. IDs are strings, money is integer minor units + ISO currency, times are epoch ms.
 * Ground truth (is it fraud, which scenario) never appears in a Transaction: it arrives later as a Label.
 */
import { z } from 'zod';
import { MODEL_IDS, MODELS, stageThresholds, type ModelSpec, type ThresholdKey } from './model-registry.ts';

export const Action = { ALLOW: 'ALLOW', BLOCK: 'BLOCK', REVIEW: 'REVIEW' } as const;
export type Action = (typeof Action)[keyof typeof Action];
export const ActionSchema = z.enum([Action.ALLOW, Action.BLOCK, Action.REVIEW]);

export const Stage = { DETECT: 'detect', ESCALATE: 'escalate', REVIEW: 'review' } as const;
export type Stage = (typeof Stage)[keyof typeof Stage];
export const StageSchema = z.enum([Stage.DETECT, Stage.ESCALATE, Stage.REVIEW]);
/**
 * The stages that consume Kafka, in flow order (review is a person, deciding through the review UI); `labels` feeds
 * arrived labels to the feature store (label-risk features) and decides nothing; `ops` is the operator's service
 * (guard rail, verdict outbox, rule statistics: router/ops/service.ts) reading decisions. Config reads
 * a consumer group for each (GROUP_<NAME>); router/stages.ts must register each one, the compiler checks it.
 */
export const PIPELINE_STAGES = [Stage.DETECT, Stage.ESCALATE, 'labels', 'ops'] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];
/** The stages that publish decisions (the chaos suite proves each decides every transaction once). */
export const DECISION_STAGES = [Stage.DETECT, Stage.ESCALATE] as const satisfies readonly PipelineStage[];

export const Channel = { CARD_PRESENT: 'card_present', ECOMMERCE: 'ecommerce', ATM: 'atm' } as const;
export type Channel = (typeof Channel)[keyof typeof Channel];
export const ChannelSchema = z.enum([Channel.CARD_PRESENT, Channel.ECOMMERCE, Channel.ATM]);

const id = z.string().min(1).max(128);
const epochMs = z.number().int().nonnegative();
const currency = z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code, e.g. EUR');
const country = z.string().regex(/^[A-Z]{2}$/, 'ISO 3166 alpha-2 code, e.g. FR');
const mcc = z.string().regex(/^\d{4}$/, 'four-digit merchant category code');

/** Year 2100: later than any card transaction will be, far below the largest Date (8.64e15), so date math never overflows. */
export const MAX_TX_TS = 4_102_444_800_000;
/**
 * Characters a merchant name may not hold: C0/C1 controls, line/paragraph separators and the bidi embedding,
 * override and isolate controls, which make a name display as something else ("Trojan Source"). Letter marks
 * (LRM, RLM, ALM) stay allowed: right-to-left names need them and they cannot reorder text.
 */
// eslint-disable-next-line no-control-regex
export const HOSTILE_TEXT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

export const TransactionSchema = z
  .object({
    txId: id,
    cardId: id,
    merchantId: id,
    merchantName: z
      .string()
      .max(200)
      .refine((s) => !HOSTILE_TEXT.test(s), {
        message: 'control or bidi override characters (U+0000-001F, U+007F-009F, U+2028/2029, U+202A-202E, U+2066-2069) are not allowed',
      }),
    mcc,
    amountMinor: z.number().int().nonnegative(),
    currency,
    ts: epochMs.max(MAX_TX_TS, `epoch milliseconds no later than ${new Date(MAX_TX_TS).toISOString()}`),
    channel: ChannelSchema,
    country,
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
    deviceId: id.nullable(),
    /** Extra ids a stream has (ip, email, account, terminal, ...), for feature specs that key entities on them. */
    entities: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'lower-case entity names'), id)
      .refine((r) => Object.keys(r).length <= 8, 'at most 8 extra entity ids')
      .optional(),
    /** Extra numeric columns a stream has (`--extra COLUMN`), for feature specs that read them as features (`numeric`). */
    numbers: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'lower-case names'), z.number().finite())
      .refine((r) => Object.keys(r).length <= 16, 'at most 16 extra numbers')
      .optional(),
  })
  .strict();
export type Transaction = z.infer<typeof TransactionSchema>;

/** One optional score per model id: a model that did not run leaves its key out. */
export function scoresSchemaOf<Id extends string>(ids: readonly Id[]) {
  return z.object(Object.fromEntries(ids.map((id) => [id, z.number().optional()])) as Record<Id, z.ZodOptional<z.ZodNumber>>).strict();
}

/** A score per registered model (core/model-registry.ts). */
export const ScoresSchema = scoresSchemaOf(MODEL_IDS);
export type Scores = z.infer<typeof ScoresSchema>;

export const RuleHitSchema = z.object({
  id: z.string(),
  description: z.string(),
  /** What the rule asks for; the policy decides how hits combine. */
  effect: z.enum(['block', 'allow', 'escalate', 'review', 'info']),
  value: z.union([z.number(), z.string()]).optional(),
  threshold: z.union([z.number(), z.string()]).optional(),
});
export type RuleHit = z.infer<typeof RuleHitSchema>;

export const FeatureContributionSchema = z.object({
  name: z.string(),
  value: z.number(),
  /** Signed effect on the deciding model's score (positive pushes towards fraud). */
  contribution: z.number(),
});
export type FeatureContribution = z.infer<typeof FeatureContributionSchema>;

const probabilityValue = z.number().min(0).max(1);

export const VersionsSchema = z.object({ model: z.string(), policy: z.number().int().nonnegative() });

export const TimingsSchema = z.record(z.string(), z.number().nonnegative());

export const FeaturesSchema = z.record(z.string(), z.number());
export type Features = z.infer<typeof FeaturesSchema>;

/**
 * What a decision stands to lose (router/pure/money.ts expectedLoss), in minor units of the transaction's currency.
 * pFraud is the served version's calibrated XGBoost score (calibrated=false: the raw score, the version has no
 * calibrator); the stake is the smaller of the two losses, what a human review could save at most.
 */
export const DecisionExpectedLossSchema = z.object({
  pFraud: probabilityValue,
  calibrated: z.boolean(),
  /** p x (amount + chargeback fee). */
  ifAllowedMinor: z.number().nonnegative(),
  /** (1 - p) x the cost of a false block. */
  ifBlockedMinor: z.number().nonnegative(),
  stakeMinor: z.number().nonnegative(),
});
export type DecisionExpectedLoss = z.infer<typeof DecisionExpectedLossSchema>;

/**
 * What a decision carries of its transaction (issue 20): the fields its readers show or count (the live feed and
 * search: merchant, amount, place, channel; the case page's card history: time, place and device; the operator's
 * rule statistics: amount and currency). The transaction itself is referenced by the decision's txId and cardId; the
 * whole of it stays on the transactions topic, and escalations and cases carry it. Not strict, so decisions written
 * before issue 20 (the whole transaction) still parse: their extra keys are dropped.
 */
export const DecisionTxSchema = z.object(
  TransactionSchema.pick({ merchantId: true, merchantName: true, mcc: true, amountMinor: true, currency: true, ts: true, channel: true, country: true, lat: true, lon: true, deviceId: true }).shape,
);
export type DecisionTx = z.infer<typeof DecisionTxSchema>;

/**
 * A decision's transaction on the wire (issue 20: bytes per decision): its fields by position, not by key (the keys
 * were a sixth of every decision), in the order [merchantId, merchantName, mcc, amountMinor, currency, ts, channel,
 * country, lat, lon, deviceId]; deviceId, the last, is left out when null.
 */
const txShape = DecisionTxSchema.shape;
const DecisionTxTupleSchema = z
  .tuple([txShape.merchantId, txShape.merchantName, txShape.mcc, txShape.amountMinor, txShape.currency, txShape.ts, txShape.channel, txShape.country, txShape.lat, txShape.lon, txShape.deviceId.optional()])
  .transform(([merchantId, merchantName, mcc, amountMinor, currency, ts, channel, country, lat, lon, deviceId]): DecisionTx => ({ merchantId, merchantName, mcc, amountMinor, currency, ts, channel, country, lat, lon, deviceId: deviceId ?? null }));

/**
 * A decision's expected loss on the wire: [pFraud, ifAllowedMinor, ifBlockedMinor], then `false` when p(fraud) is not
 * calibrated, then the stake when it is not the smaller of the two losses. The object form (decisions written before
 * this encoding) still parses.
 */
const WireLossObjectSchema = DecisionExpectedLossSchema.extend({ stakeMinor: DecisionExpectedLossSchema.shape.stakeMinor.optional() });
const lossShape = DecisionExpectedLossSchema.shape;
const WireLossTupleSchema = z
  .tuple([lossShape.pFraud, lossShape.ifAllowedMinor, lossShape.ifBlockedMinor, lossShape.calibrated.optional(), lossShape.stakeMinor.optional()])
  .transform(([pFraud, ifAllowedMinor, ifBlockedMinor, calibrated, stakeMinor]) => ({ pFraud, calibrated: calibrated ?? true, ifAllowedMinor, ifBlockedMinor, ...(stakeMinor === undefined ? {} : { stakeMinor }) }));

/**
 * A decision's scores on the wire: one per registered model in MODEL_IDS order (core/model-registry.ts), null for a
 * model that did not run, trailing nulls left out. The object form of older decisions still parses.
 */
const WireScoresSchema = z.union([
  z
    .array(z.number().nullable())
    .max(MODEL_IDS.length, `at most one score per registered model (${MODEL_IDS.join(', ')})`)
    .transform((v): Scores => Object.fromEntries(MODEL_IDS.flatMap((id, i) => (v[i] === null || v[i] === undefined ? [] : [[id, v[i]]])))),
  ScoresSchema,
]);

/** A decision's versions on the wire: [model, policy] (the object form of older decisions still parses). */
const WireVersionsSchema = z.union([VersionsSchema, z.tuple([VersionsSchema.shape.model, VersionsSchema.shape.policy]).transform(([model, policy]) => ({ model, policy }))]);

/** A decision's id: one per transaction and deciding stage. */
export const decisionIdOf = (txId: string, stage: Stage): string => `${txId}:${stage}`;

/**
 * A decision as written on the decisions topic. Fields that follow from others may be left out and are filled in by
 * DecisionSchema: decisionId (txId:stage), final (action is not REVIEW), empty rulesFired and topFeatures, expectedLoss.stakeMinor (the smaller of the two losses).
 */
export const DecisionWireSchema = z.object({
  decisionId: id.optional(),
  txId: id,
  cardId: id,
  action: ActionSchema,
  stage: StageSchema,
  /** REVIEW from escalate is provisional (final=false) until an analyst closes the case (stage review, final=true). */
  final: z.boolean().optional(),
  reason: z.string(),
  scores: WireScoresSchema,
  rulesFired: z.array(RuleHitSchema).default([]),
  topFeatures: z.array(FeatureContributionSchema).default([]),
  versions: WireVersionsSchema,
  /** Milliseconds spent per stage, e.g. { detect: 1.2, escalate: 14.8 }. */
  timings: TimingsSchema,
  decidedAt: epochMs,
  /** On the wire, the tuple of DecisionTxTupleSchema; the object form of older decisions still parses. */
  tx: z.union([DecisionTxTupleSchema, DecisionTxSchema]),
  analyst: z.string().optional(),
  note: z.string().max(2000).optional(),
  /** Set by detect and escalate when a model version is served (issue 13); absent in rules-only mode and older decisions. */
  expectedLoss: z.union([WireLossTupleSchema, WireLossObjectSchema]).optional(),
  /**
   * True when the features were computed on entity state that Redis lost and that is not yet rebuilt (issue 18:
   * `fraudstream restore features`): the decision saw only part of the card's and merchant's history. Absent: complete
   * (and in decisions from before the field).
   */
  partialHistory: z.boolean().optional(),
});
export type DecisionWire = z.input<typeof DecisionWireSchema>;

/** A decision read from the topic (or made by router/pure/decision.ts), every field filled in. */
export const DecisionSchema = DecisionWireSchema.transform(({ expectedLoss, ...d }) => ({
  ...d,
  decisionId: d.decisionId ?? decisionIdOf(d.txId, d.stage),
  final: d.final ?? d.action !== Action.REVIEW,
  // The wire leaves out the stake: the smaller of the two losses (router/pure/money.ts).
  ...(expectedLoss ? { expectedLoss: { ...expectedLoss, stakeMinor: expectedLoss.stakeMinor ?? Math.min(expectedLoss.ifAllowedMinor, expectedLoss.ifBlockedMinor) } } : {}),
}));
export type Decision = z.output<typeof DecisionSchema>;

/** What detect knew about a transaction it could not settle; escalations and cases both carry it. */
const explainedTransaction = {
  txId: id,
  cardId: id,
  tx: TransactionSchema,
  features: FeaturesSchema,
  scores: ScoresSchema,
  rulesFired: z.array(RuleHitSchema),
  topFeatures: z.array(FeatureContributionSchema),
  versions: VersionsSchema,
  /** Detect's features saw partial history (see DecisionSchema.partialHistory); absent: complete. */
  partialHistory: z.boolean().optional(),
};

export const EscalationSchema = z.object({
  ...explainedTransaction,
  timings: TimingsSchema,
  escalatedAt: epochMs,
});
export type Escalation = z.infer<typeof EscalationSchema>;

export const CaseStatusSchema = z.enum(['open', 'approved', 'confirmed_fraud']);
export type CaseStatus = z.infer<typeof CaseStatusSchema>;

export const CaseSchema = z.object({
  caseId: id,
  ...explainedTransaction,
  /** 0..1, the heavy model's score. */
  risk: z.number().min(0).max(1),
  /**
   * What the queue orders by (then age): the loss an analyst can avoid, min(p x (amount + fee), (1 - p) x friction)
   * in minor units (router/pure/money.ts expectedLoss). Cases opened before issue 13 lack it and order by risk.
   */
  expectedLoss: z.number().nonnegative().optional(),
  /** The whole expected loss behind that number: p(fraud), its source and both losses (absent in older cases). */
  loss: DecisionExpectedLossSchema.optional(),
  status: CaseStatusSchema,
  createdAt: epochMs,
  closedAt: epochMs.optional(),
  closedBy: z.string().optional(),
  note: z.string().max(2000).optional(),
});
export type Case = z.infer<typeof CaseSchema>;

export const LabelSourceSchema = z.enum(['chargeback', 'analyst']);
export const LabelSchema = z.object({
  txId: id,
  cardId: id.optional(),
  isFraud: z.boolean(),
  /** Generator scenario name ("card_testing", ...), or null when unknown (e.g. an analyst's verdict). */
  scenario: z.string().nullable(),
  source: LabelSourceSchema,
  labeledAt: epochMs,
  /**
   * The labelled transaction's merchant and time, as a chargeback carries them: label-risk features count a fraud
   * label against its merchant's day. A label without them still trains models but feeds no risk feature.
   */
  merchantId: id.optional(),
  txTs: epochMs.optional(),
  analyst: z.string().optional(),
  note: z.string().max(2000).optional(),
});
export type Label = z.infer<typeof LabelSchema>;

export const DeadLetterSchema = z.object({
  sourceTopic: z.string(),
  partition: z.number().int().nonnegative(),
  offset: z.string(),
  key: z.string().nullable(),
  /** The message value as received, base64; cut to its first bytes when `truncated` (the letter must fit the topic). */
  rawBase64: z.string(),
  /** Size in bytes of the original value, and its sha256 (hex), so a truncated payload can still be matched. */
  rawBytes: z.number().int().nonnegative().optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  truncated: z.boolean().optional(),
  reason: z.string(),
  stage: z.string(),
  failedAt: epochMs,
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

/**
 * What a model version may be called anywhere a name reaches a path: one folder name, no leading dot (so never `.`,
 * `..` or the trainer's hidden `.tmp-*` folder). The syntactic half of the one version rule; which folders ARE versions
 * (a model card, and a valid one unless the trainer named the folder) is detectors/version-names.ts's checkVersion,
 * applied by the loaders, the console's listing and promotion, the console's policy edits and the CLI's --model.
 */
export const MODEL_VERSION_NAME = /^(?!\.)[A-Za-z0-9._-]{1,128}$/;

// ---------------------------------------------------------------- policy (stored in Redis, edited in the UI)

const probability = z.number().min(0).max(1);

/** A stage's policy thresholds, one per threshold the models declare (`models`: the registry unless a test says). */
export function thresholdsSchemaOf<S extends ModelSpec['stage']>(stage: S, models: readonly ModelSpec[] = MODELS) {
  const shape = Object.fromEntries(stageThresholds(stage, models).map((t) => [t.key, probability.describe(t.description)]));
  return z.object(shape as Record<ThresholdKey<S>, typeof probability>).strict();
}

/** Cost and staffing a policy gets when it does not say (and every policy stored before issue 13). */
export const POLICY_MONEY_DEFAULTS = {
  money: { chargebackFeeMinor: 2_500, falseBlockCostMinor: 1_000 },
  review: { analysts: 2, casesPerAnalystHour: 30, slaMinutes: 60 },
} as const;

const PolicyBaseSchema = z
  .object({
    version: z.number().int().nonnegative(),
    updatedAt: epochMs,
    updatedBy: z.string(),
    modelVersion: z.string().regex(MODEL_VERSION_NAME, 'a model version folder name (letters, digits, . _ -; not starting with a dot)').optional(),
    /** Each stage's thresholds, as the registered models declare them (core/model-registry.ts). */
    thresholds: z.object({ detect: thresholdsSchemaOf('detect'), escalate: thresholdsSchemaOf('escalate') }).strict(),
    rules: z
      .object({
        /** Amounts above this (minor units) are blocked; null disables. */
        blockAmountAbove: z.number().int().positive().nullable(),
        /** Amounts above this are escalated; null disables. */
        escalateAmountAbove: z.number().int().positive().nullable(),
        blockedCountries: z.array(country),
        escalateCountries: z.array(country),
        blockedMccs: z.array(mcc),
        escalateMccs: z.array(mcc),
      })
      .strict(),
    lists: z
      .object({
        allowCards: z.array(id),
        blockCards: z.array(id),
        allowMerchants: z.array(id),
        blockMerchants: z.array(id),
      })
      .strict(),
    review: z
      .object({
        /** Open cases allowed in the queue; past it escalate decides on the heavy score alone. */
        capacity: z.number().int().nonnegative(),
        // Staffing came with issue 13: policies stored before it lack these, so they default instead of failing.
        analysts: z.number().int().nonnegative().default(POLICY_MONEY_DEFAULTS.review.analysts),
        casesPerAnalystHour: z.number().positive().max(10_000).default(POLICY_MONEY_DEFAULTS.review.casesPerAnalystHour),
        /** A case must be decided within this many minutes of being opened. */
        slaMinutes: z.number().positive().max(7 * 24 * 60).default(POLICY_MONEY_DEFAULTS.review.slaMinutes),
      })
      .strict(),
    /** What fraud and friction cost, in minor units, so the Policy page can state a change in money. */
    money: z
      .object({
        /** Added to the amount when fraud goes through: the scheme's chargeback fee and handling. */
        chargebackFeeMinor: z.number().int().nonnegative(),
        /** What blocking a legitimate payment costs: lost margin, a support contact, a customer who leaves. */
        falseBlockCostMinor: z.number().int().nonnegative(),
      })
      .strict()
      .default(POLICY_MONEY_DEFAULTS.money),
  })
  .strict();

function thresholdsOrdered(p: { thresholds: z.infer<typeof PolicyBaseSchema>['thresholds'] }, ctx: z.RefinementCtx): void {
  for (const stage of ['detect', 'escalate'] as const) {
    const t = p.thresholds[stage];
    if (t.allowBelow > t.blockAbove) {
      ctx.addIssue({
        code: 'custom',
        path: ['thresholds', stage, 'allowBelow'],
        message: `allowBelow (${t.allowBelow}) must not exceed blockAbove (${t.blockAbove})`,
      });
    }
  }
}

export const PolicySchema = PolicyBaseSchema.superRefine(thresholdsOrdered);
export type Policy = z.infer<typeof PolicySchema>;

/** What a user submits: the server assigns version, updatedAt and updatedBy. */
export const PolicyInputSchema = PolicyBaseSchema.omit({ version: true, updatedAt: true, updatedBy: true }).superRefine(
  thresholdsOrdered,
);
export type PolicyInput = z.infer<typeof PolicyInputSchema>;

// ---------------------------------------------------------------- HTTP bodies

export const LoginBodySchema = z.object({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
}).strict();

export const VerdictBodySchema = z.object({
  verdict: z.enum(['approve', 'confirm_fraud']),
  note: z.string().max(2000).default(''),
}).strict();
export type VerdictBody = z.infer<typeof VerdictBodySchema>;

export const ReplayBodySchema = z.object({
  action: z.enum(['start', 'stop', 'speed', 'inject']),
  rate: z.number().positive().max(1_000_000).optional(),
  scenario: z.string().max(64).optional(),
  seed: z.number().int().optional(),
  /** Transactions to inject (action "inject"). */
  count: z.number().int().positive().max(100_000).optional(),
}).strict();
export type ReplayBody = z.infer<typeof ReplayBodySchema>;

/** Policy page: a proposed policy evaluated on the last `samples` scored transactions before it is applied. */
export const PolicyPreviewBodySchema = z.object({
  policy: PolicyInputSchema,
  samples: z.number().int().positive().max(5_000).default(1_000),
}).strict();
export type PolicyPreviewBody = z.infer<typeof PolicyPreviewBodySchema>;

export const PolicyRollbackBodySchema = z.object({ version: z.number().int().positive() }).strict();

/** A model version is a folder name under MODEL_DIR. */

export const ModelPromoteBodySchema = z
  .object({
    version: z.string().regex(MODEL_VERSION_NAME, 'a model version folder name (letters, digits, . _ -)'),
    /** The policy version the page was showing: a promotion on top of a policy changed meanwhile is refused. */
    policyVersion: z.number().int().positive().optional(),
    /** Also take the card's thresholds (they were chosen for that model's score distribution). */
    useCardThresholds: z.boolean().default(false),
  })
  .strict();
export type ModelPromoteBody = z.infer<typeof ModelPromoteBodySchema>;

/** A short, readable summary of what is wrong with a parse, for DLQ reasons and HTTP 400 answers. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 8)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
