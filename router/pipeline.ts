/**
 * Wires the stages to real Kafka and Redis. One process can run any subset of stages; every stage
 * can run in many processes (consumer groups share the partitions).
 */
import type { Kafka } from 'kafkajs';
import type { Config } from '../core/config.ts';
import { createKafka, ensureTopics } from '../core/kafka.ts';
import { openRecords } from '../core/records.ts';
import { ViewKeeper } from '../state/view.ts';
import { createRedis } from '../core/redis.ts';
import { logger } from '../core/logger.ts';
import type { FeatureStore, ModelBundle } from '../detectors/types.ts';
import { createPolicySource, type PolicySource } from './policy-source.ts';
import { RedisPolicyStore, initialPolicy, policyChannel } from '../state/policy.ts';
import { RedisReviewQueue, restoreCases } from '../state/review.ts';
import { RedisSampleStore } from '../state/samples.ts';
import type { RunningStage } from './stage-runner.ts';
import { loadNamedVersion, redisFeatureStore, specOf } from './serving-models.ts';
import { DEFAULT_FEATURE_SPEC } from '../detectors/pure/feature-spec.ts';
import { ShadowStore } from '../state/shadow.ts';
import { createShadowWorker, type ShadowWorker } from './shadow/worker.ts';
import { STAGES, stageList, type StageContext } from './stages.ts';
import type { PipelineStage } from '../core/contracts.ts';

export interface PipelineOptions {
  config: Config;
  /** Which registered stages (router/stages.ts) this process runs; default: all of them. */
  stages?: PipelineStage[];
  /** How many members of each stage to run in this process (tests use 2 to show the group sharing). */
  instances?: number;
  models?: ModelBundle;
  /** Builds the feature store on a Redis client (default: the Redis feature store of detectors/). */
  featureStore?: (redis: ReturnType<typeof createRedis>) => FeatureStore;
  kafka?: Kafka;
  /** Loads a version by name when the policy's modelVersion points at a different one (hot swap). */
  loadVersion?: (name: string) => Promise<ModelBundle>;
  /** Stable member name: a restarted member with the same name fences its dead predecessor's transaction. */
  instanceId?: string;
}

export interface Pipeline {
  stages: RunningStage[];
  /** The shadow challenger's worker when this process runs detect. */
  shadow?: ShadowWorker;
  policy: PolicySource;
  ready: Promise<void>;
  stop(): Promise<void>;
}

export async function startPipeline(opts: PipelineOptions): Promise<Pipeline> {
  const { config } = opts;
  const log = logger('pipeline');
  const kafka = opts.kafka ?? createKafka(config, '-stages');
  await ensureTopics(config);
  const redis = createRedis(config);
  const subscriber = createRedis(config, 'redis-sub');
  const prefix = config.redis.keyPrefix;
  // Policy versions are recorded in the policy topic and restored from it when Redis lost them (issue 18).
  const records = openRecords(kafka, config);
  const policyStore = new RedisPolicyStore(redis, prefix, () => initialPolicy(opts.models), records.policy);
  const policy = await createPolicySource(policyStore, { subscriber, channel: policyChannel(prefix) });
  const features = (opts.featureStore ?? redisFeatureStore(config, opts.models ? specOf(opts.models) : undefined))(redis);
  let models = opts.models;
  const swapTo = async (version: string | undefined) => {
    if (!version || version === models?.version || !opts.loadVersion) return;
    try {
      models = await opts.loadVersion(version);
      log.info({ model: version }, 'model version swapped in');
    } catch (err) {
      log.error({ err, model: version }, 'could not load the model version the policy names; keeping the current one');
    }
  };
  await swapTo(policy.current().modelVersion);
  policy.onChange((p) => swapTo(p.modelVersion));
  const samples = new RedisSampleStore(redis, prefix);
  const queue = new RedisReviewQueue(redis, prefix);
  const chosen = opts.stages ? opts.stages.map((s) => STAGES[s]) : stageList();
  // The review queue (escalate counts it against capacity) and the shadow run (detect shadows it) are views of their
  // topics: restored before the stages start, and again whenever Redis loses them (issue 18).
  const views = new ViewKeeper(
    redis,
    prefix,
    [
      { name: 'cases', restore: async () => restoreCases(redis, prefix, await records.caseState.readAll()) },
      { name: 'shadow', restore: () => new ShadowStore(redis, prefix, undefined, records.shadow).restore() },
    ],
    log,
  );
  await views.ready();
  views.start();
  // The shadow challenger runs where detect runs, reading `shadow start` / `stop` from Redis (issue 13).
  let shadow: ShadowWorker | undefined;
  if (chosen.some((s) => s.name === 'detect')) {
    shadow = createShadowWorker({ config, store: new ShadowStore(redis, prefix), policy, features, load: opts.loadVersion ?? ((v) => loadNamedVersion(config, v, opts.models ? specOf(opts.models) : DEFAULT_FEATURE_SPEC)), openCases: () => queue.openCount() });
    await shadow.refresh().catch((err: unknown) => log.warn({ err }, 'could not read the shadow challenger; polling'));
  }
  const ctx: StageContext = { config, kafka, redis, policy, policyStore, features, models: () => models, samples, queue, shadow, views };
  const stages: RunningStage[] = [];
  const n = opts.instances ?? 1;
  try {
    for (const spec of chosen) {
      log.debug({ stage: spec.name, input: config.topics[spec.input], group: spec.group(config), outputs: spec.outputs.map((t) => config.topics[t]) }, 'starting stage');
      for (let i = 0; i < n; i++) {
        stages.push(await spec.start(ctx, { kafka, instanceId: opts.instanceId && `${opts.instanceId}-${spec.name}-${i}` }));
      }
    }
  } catch (err) {
    await Promise.all(stages.map((s) => s.stop()));
    await shadow?.close();
    views.stop();
    throw err;
  }
  log.info({ stages: chosen.map((s) => s.name), instances: n, model: models?.version ?? 'rules-only', policy: policy.current().version }, 'pipeline running');
  return {
    stages,
    shadow,
    policy,
    ready: Promise.all(stages.map((s) => s.ready)).then(() => undefined),
    stop: async () => {
      await Promise.all(stages.map((s) => s.stop()));
      await shadow?.close();
      views.stop();
      await policy.close();
      await records.close();
      redis.disconnect();
    },
  };
}
