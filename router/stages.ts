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
import type { RedisPolicyStore } from '../state/policy.ts';
import type { RedisReviewQueue } from '../state/review.ts';
import { GuardState } from '../state/guard.ts';
import { RuleEvidenceStore } from '../state/rule-evidence.ts';
import type { RedisSampleStore } from '../state/samples.ts';
import type { ViewKeeper } from '../state/view.ts';
import { detectLogic } from './detect-stage.ts';
import { featureHistory } from './feature-history.ts';
import { logger } from '../core/logger.ts';
import { escalateLogic } from './escalate-stage.ts';
import { startCaseViewWriter } from './case-view.ts';
import { labelsLogic } from './labels-stage.ts';
import { OPS_CLAIM_TTL_SECONDS, opsLogic, startOpsTimers } from './ops/service.ts';
import type { PolicySource } from './policy-source.ts';
import type { ShadowSink } from './shadow/worker.ts';
import { startStage, type RunningStage } from './stage-runner.ts';
import type { StageLogic } from './runner/batch-processor.ts';

/** What a stage's logic may be built from: the process's shared clients and stores. */
export interface StageContext {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  policy: PolicySource;
  /** The policy store itself (the guard rail reads the current version fresh and rolls back through it). */
  policyStore: RedisPolicyStore;
  features: FeatureStore;
  /** The model version serving now (swapped on a policy change); undefined = rules-only. */
  models: () => ModelBundle | undefined;
  samples: RedisSampleStore;
  queue: RedisReviewQueue;
  /** The shadow challenger's worker in this process (detect hands it committed batches); absent = no shadowing. */
  shadow?: ShadowSink;
  /** The Redis views this process keeps restored from their records (state/view.ts); absent in unit tests. */
  views?: ViewKeeper;
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
  /** How long an input key is remembered as handled (default: the dedupe window, a day). */
  claimTtlSeconds?: number;
  logic(ctx: StageContext): StageLogic<T>;
  /** Work a member does beside consuming (a service's timers), started with it and stopped before it. */
  beside?(ctx: StageContext, run: { kafka: Kafka; instanceId: string }): Promise<{ stop(): Promise<void> }>;
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
    async start(ctx, run) {
      const logic = spec.logic(ctx);
      // Heartbeats, metrics and dead letters are labelled by the logic's name: it must be the registered one.
      if (logic.name !== spec.name) throw new FraudstreamError(ErrorCodes.INTERNAL, `stage ${spec.name}: its logic calls itself ${JSON.stringify(logic.name)}`);
      const stage = await startStage({
        config: ctx.config,
        kafka: run.kafka,
        redis: ctx.redis,
        topic: ctx.config.topics[spec.input],
        groupId: ctx.config.groups[spec.name],
        instanceId: run.instanceId,
        logic,
        claimTopics: spec.claimsIn.map((t) => ctx.config.topics[t]),
        ...(spec.claimTtlSeconds ? { outcomeTtlSeconds: spec.claimTtlSeconds } : {}),
      });
      if (!spec.beside) return stage;
      let beside: { stop(): Promise<void> };
      try {
        beside = await spec.beside(ctx, { kafka: run.kafka, instanceId: stage.instanceId });
      } catch (err) {
        await stage.stop();
        throw err;
      }
      return {
        ...stage,
        health: () => stage.health(),
        stop: async () => {
          await beside.stop();
          await stage.stop();
        },
      };
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
    logic: (c) =>
      detectLogic({
        config: c.config,
        redis: c.redis,
        policy: c.policy,
        features: c.features,
        models: c.models,
        recordSamples: (s) => c.samples.push(s),
        shadow: c.shadow,
        history: featureHistory({ redis: c.redis, prefix: c.config.redis.keyPrefix, decidedBefore: () => groupCommitted(c.kafka, c.config.groups.detect, c.config.topics.transactions), log: logger('stage:detect') }),
      }),
  }),
  escalate: defineStage({
    name: 'escalate',
    summary: 'run the escalate stage (card history, heavy model, review queue) as a consumer-group member',
    input: 'escalations',
    outputs: ['decisions', 'cases', 'caseState', 'dlq'],
    claimsIn: ['decisions'],
    logic: (c) => escalateLogic({ config: c.config, redis: c.redis, policy: c.policy, queue: c.queue, features: c.features, models: c.models, ...(c.views ? { queueReady: () => c.views!.ready('cases') } : {}) }),
    // The review queue follows the committed case records, also when a member dies between its commit and its own write.
    beside: (c, run) => startCaseViewWriter({ config: c.config, kafka: run.kafka, redis: c.redis }),
  }),
  labels: defineStage({
    name: 'labels',
    summary: 'run the labels stage (arrived chargebacks and verdicts feed the label-risk features) as a consumer-group member',
    input: 'labels',
    outputs: ['dlq'],
    // Decides nothing: a label counted twice after a wipe is guarded by the feature store's own claim.
    claimsIn: [],
    logic: (c) => labelsLogic({ features: c.features, evidence: new RuleEvidenceStore(c.redis, c.config.redis.keyPrefix) }),
  }),
  ops: defineStage({
    name: 'ops',
    summary: 'run the ops service (guard rail auto-rollback, verdict outbox, rule statistics) as a consumer-group member',
    input: 'decisions',
    outputs: ['dlq'],
    // Decides nothing: counts lost with Redis are lost with the rest of the view.
    claimsIn: [],
    claimTtlSeconds: OPS_CLAIM_TTL_SECONDS,
    logic: (c) => opsLogic({ guard: new GuardState(c.redis, c.config.redis.keyPrefix), evidence: new RuleEvidenceStore(c.redis, c.config.redis.keyPrefix) }),
    beside: (c, run) => startOpsTimers({ config: c.config, redis: c.redis, kafka: run.kafka, policies: c.policyStore, instanceId: run.instanceId }),
  }),
};

/** Whether `group` has committed an offset on any partition of `topic` (it decided something before). */
async function groupCommitted(kafka: Kafka, groupId: string, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets.some((t) => t.partitions.some((p) => Number(p.offset) >= 0));
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The registered stages in flow order. */
export const stageList = (): RegisteredStage[] => PIPELINE_STAGES.map((s) => STAGES[s]);
