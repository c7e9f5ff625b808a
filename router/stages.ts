/**
 * The topology in one place: every Kafka stage, what it reads, with which consumer group, what logic decides and
 * where its outputs go. The pipeline starts these, the CLI makes a command of each, metrics and health count them
 * under these names. Adding a stage: its name in PIPELINE_STAGES (core/contracts.ts, which also gives it a
 * GROUP_<NAME> variable) and one entry here; the compiler refuses a name without an entry.
 */
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { PIPELINE_STAGES, type PipelineStage } from '../core/contracts.ts';
import type { Config, Topics } from '../core/config.ts';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import type { FeatureStore, ModelBundle } from '../detectors/types.ts';
import type { RedisReviewQueue } from '../state/review.ts';
import type { RedisSampleStore } from '../state/samples.ts';
import { detectLogic } from './detect-stage.ts';
import { escalateLogic } from './escalate-stage.ts';
import { labelsLogic } from './labels-stage.ts';
import type { PolicySource } from './policy-source.ts';
import type { ShadowSink } from './shadow/worker.ts';
import { startStage, type RunningStage } from './stage-runner.ts';
import type { StageLogic } from './runner/batch-processor.ts';

/** What a stage's logic may be built from: the process's shared clients and stores. */
export interface StageContext {
  config: Config;
  redis: Redis;
  policy: PolicySource;
  features: FeatureStore;
  /** The model version serving now (swapped on a policy change); undefined = rules-only. */
  models: () => ModelBundle | undefined;
  samples: RedisSampleStore;
  queue: RedisReviewQueue;
  /** The shadow challenger's worker in this process (detect hands it committed batches); absent = no shadowing. */
  shadow?: ShadowSink;
}

export interface StageSpec<T> {
  name: PipelineStage;
  /** One line for `fraudstream --help`. */
  summary: string;
  input: keyof Topics;
  /** Every topic the stage may write (the dead-letter topic included). */
  outputs: ReadonlyArray<keyof Topics>;
  /**
   * The outputs that, together, hold one message per input the stage decided, each carrying its claim: where the
   * dedupe claims are rebuilt from after Redis lost them (issue 18). Empty: not rebuilt.
   */
  claimsIn: ReadonlyArray<keyof Topics>;
  logic(ctx: StageContext): StageLogic<T>;
}

/** A registered stage, its input type closed over so stages of different inputs sit in one table. */
export interface RegisteredStage {
  name: PipelineStage;
  summary: string;
  input: keyof Topics;
  outputs: ReadonlyArray<keyof Topics>;
  /** The consumer group of this stage under `config`. */
  group(config: Config): string;
  start(ctx: StageContext, run: { kafka: Kafka; instanceId?: string }): Promise<RunningStage>;
}

function defineStage<T, N extends PipelineStage>(spec: StageSpec<T> & { name: N }): RegisteredStage & { name: N } {
  return {
    name: spec.name,
    summary: spec.summary,
    input: spec.input,
    outputs: spec.outputs,
    group: (config) => config.groups[spec.name],
    start(ctx, run) {
      const logic = spec.logic(ctx);
      // Heartbeats, metrics and dead letters are labelled by the logic's name: it must be the registered one.
      if (logic.name !== spec.name) throw new FraudstreamError(ErrorCodes.INTERNAL, `stage ${spec.name}: its logic calls itself ${JSON.stringify(logic.name)}`);
      return startStage({
        config: ctx.config,
        kafka: run.kafka,
        redis: ctx.redis,
        topic: ctx.config.topics[spec.input],
        groupId: ctx.config.groups[spec.name],
        instanceId: run.instanceId,
        logic,
        claimTopics: spec.claimsIn.map((t) => ctx.config.topics[t]),
      });
    },
  };
}

export const STAGES: { readonly [S in PipelineStage]: RegisteredStage & { name: S } } = {
  detect: defineStage({
    name: 'detect',
    summary: 'run the detect stage (features, isolation forest, XGBoost, rules) as a consumer-group member',
    input: 'transactions',
    outputs: ['decisions', 'escalations', 'dlq'],
    claimsIn: ['decisions', 'escalations'],
    logic: (c) => detectLogic({ config: c.config, redis: c.redis, policy: c.policy, features: c.features, models: c.models, recordSamples: (s) => c.samples.push(s), shadow: c.shadow }),
  }),
  escalate: defineStage({
    name: 'escalate',
    summary: 'run the escalate stage (card history, heavy model, review queue) as a consumer-group member',
    input: 'escalations',
    outputs: ['decisions', 'cases', 'dlq'],
    claimsIn: ['decisions'],
    logic: (c) => escalateLogic({ config: c.config, redis: c.redis, policy: c.policy, queue: c.queue, features: c.features, models: c.models }),
  }),
  labels: defineStage({
    name: 'labels',
    summary: 'run the labels stage (arrived chargebacks and verdicts feed the label-risk features) as a consumer-group member',
    input: 'labels',
    outputs: ['dlq'],
    // Decides nothing: a label counted twice after a wipe is guarded by the feature store's own claim.
    claimsIn: [],
    logic: (c) => labelsLogic({ features: c.features }),
  }),
};

/** The registered stages in flow order. */
export const stageList = (): RegisteredStage[] => PIPELINE_STAGES.map((s) => STAGES[s]);
