/**
 * A stage is "a route for messages": parse, call the stage's logic, produce, commit. The runner owns what the
 * stages share, so each stage is only its logic:
 * - Exactly-once in effect: each input key (tx id) is claimed in Redis by its message before it is decided
 *   (state/outcomes.ts); outputs and offsets go out in one Kafka transaction; a message redelivered before its
 *   transaction committed is decided again (feature updates are idempotent per key), one already committed is
 *   skipped by offset.
 * - Fencing: one transactional producer per input partition (runner/producers.ts); partitions run concurrently.
 * - Poison pills: malformed input, conflicting duplicates and messages that make the logic throw (after bounded
 *   attempts) go to the dead-letter topic, cut to fit it; the rest of the batch is decided.
 * - Errors are errors: a Redis or broker failure retries the batch (nothing is committed), never "a duplicate".
 * - Supervision: a consumer that crashes, is fenced or stalls is rebuilt with backoff; health is read from the
 *   broker (runner/health.ts), so a live process never hides a dead stage.
 *
 * The parts, as kafkajs splits its own consumer (Runner, ConsumerGroup, OffsetManager): the batch processor
 * (runner/batch-processor.ts: claim, decide with splitting and retry, transaction, post-commit work), the member
 * supervisor (runner/member-supervisor.ts: build, rebuild, fenced, crash, backoff) and the health watch
 * (runner/health-watch.ts: lag, stall). Each takes its I/O through ports and is unit-tested with fakes; this file
 * wires them to Kafka and Redis.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.ts';
import { faults, type Faults } from '../core/faults.ts';
import { beat as writeHeartbeat, removeHeartbeat } from '../state/heartbeats.ts';
import { logger } from '../core/logger.ts';
import { registerHealth } from './metrics.ts';
import { BatchProcessor, type StageLogic } from './runner/batch-processor.ts';
import { readLag, type StageHealth } from './runner/health.ts';
import { HealthWatch } from './runner/health-watch.ts';
import { kafkaMemberConsumer, MemberSupervisor } from './runner/member-supervisor.ts';
import { OutcomeStore } from '../state/outcomes.ts';
import { PartitionProducers } from './runner/producers.ts';
import { kafkaClaimReader } from './runner/claims-restore.ts';
import { byPartition, byTopic, type OutMessage } from './runner/batch.ts';

export interface StageOptions<T> {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  topic: string;
  groupId: string;
  logic: StageLogic<T>;
  instanceId?: string;
  /** Seconds a tx id is remembered as decided (default: the config's DEDUPE_WINDOW_HOURS; about 210 B a transaction). */
  outcomeTtlSeconds?: number;
  /**
   * The output topics whose claim headers rebuild this stage's dedupe claims when Redis lost them (router/stages.ts
   * `claimsIn`); none: the claims are not rebuilt (a stage whose keys need no once-only guarantee across a wipe).
   */
  claimTopics?: string[];
  /** How often the member sweeps the stage's expired dedupe claims (state/outcomes.ts `sweep`; default a minute). */
  sweepIntervalMs?: number;
  /** How often lag is read from the broker and the member's health is judged. */
  watchIntervalMs?: number;
  /** Fault injection (default: FRAUDSTREAM_FAULTS, see core/faults.ts). */
  faults?: Faults;
}

export interface RunningStage {
  instanceId: string;
  stop(): Promise<void>;
  /** Resolves once the consumer has joined its group and received partitions. */
  ready: Promise<void>;
  health(): StageHealth;
}

export async function startStage<T>(opts: StageOptions<T>): Promise<RunningStage> {
  const { config, kafka, redis, logic, topic, groupId } = opts;
  const stage = logic.name;
  const instanceId = opts.instanceId ?? `${stage}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const log = logger(`stage:${stage}`).child({ instanceId });
  const prefix = config.redis.keyPrefix;

  let admin: Admin | undefined;
  const getAdmin = (): Admin => (admin ??= kafka.admin());
  let adminConnected: Promise<void> | undefined;
  const connectedAdmin = async (): Promise<Admin> => {
    const a = getAdmin();
    adminConnected ??= a.connect();
    await adminConnected;
    return a;
  };
  const resetAdmin = () => {
    const old = admin;
    admin = undefined;
    adminConnected = undefined;
    void old?.disconnect().catch(() => undefined);
  };

  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (resolveReady = r));

  // One sendBatch per chunk on a one-broker cluster; on more brokers one per output partition (see `sends`).
  let layout: { brokers: number; partitions: Map<string, number> } | undefined;
  const sends = {
    forget: () => void (layout = undefined),
    async of(chunk: OutMessage[]) {
      if (!layout) {
        const a = await connectedAdmin();
        layout = { brokers: (await a.describeCluster()).brokers.length, partitions: new Map() };
      }
      const l = layout;
      if (l.brokers <= 1) return [byTopic(chunk)];
      const missing = [...new Set(chunk.map((m) => m.topic))].filter((t) => !l.partitions.has(t));
      if (missing.length) {
        const meta = await (await connectedAdmin()).fetchTopicMetadata({ topics: missing });
        for (const t of meta.topics) l.partitions.set(t.name, t.partitions.length);
      }
      return byPartition(chunk, (t) => {
        const n = l.partitions.get(t);
        if (!n) throw new Error(`no partition count for output topic ${t}`);
        return n;
      });
    },
  };
  const outcomes = new OutcomeStore(redis, prefix, stage, opts.outcomeTtlSeconds ?? config.dedupeWindowSeconds, {
      reader: kafkaClaimReader({ kafka, admin: connectedAdmin, stage, topics: opts.claimTopics ?? [] }),
      // A first start finds nothing to restore: only a rebuild that brought claims back is worth a warning.
      onRestore: (e) =>
        e.phase === 'start'
          ? log.info({ topics: opts.claimTopics ?? [] }, 'dedupe claims missing in Redis (wiped, restarted or first start): rebuilding them from the record before deciding')
          : (e.restored > 0 ? log.warn.bind(log) : log.info.bind(log))({ read: e.read, restored: e.restored, ms: e.ms }, 'dedupe claims rebuilt from the record'),
  });
  const processor = new BatchProcessor<T>({
    logic,
    sends,
    outcomes,
    topic,
    groupId,
    dlqTopic: config.topics.dlq,
    instanceId,
    faults: opts.faults ?? faults(),
    log,
  });
  // eslint-disable-next-line prefer-const -- the supervisor and the watch refer to each other
  let watch: HealthWatch;
  const member: MemberSupervisor = new MemberSupervisor({
    stage,
    consumers: kafkaMemberConsumer(kafka, groupId, topic, config.kafka.partitions),
    newProducers: () => new PartitionProducers({ kafka, admin: getAdmin, groupId, topic }),
    eachBatch: (ctx) =>
      processor.run(
        ctx,
        () => member.producers,
        () => member.stopping,
        () => void member.rebuild('fenced'),
      ),
    onJoined: () => resolveReady(),
    onRebuild: (why, status) => watch.rebuilding(why, status),
    log,
  });
  watch = new HealthWatch({
    stage,
    instanceId,
    topic,
    stallMs: config.stallSeconds * 1000,
    readLag: async () => readLag(await connectedAdmin(), groupId, topic),
    resetLagReader: resetAdmin,
    redisStatus: () => redis.status,
    member: {
      assigned: () => member.assigned,
      assignedAt: () => member.assignedAt,
      lastBuiltAt: () => member.lastBuiltAt,
      lastCommitAt: () => processor.lastCommitAt,
      isRebuilding: () => member.rebuilding !== undefined,
      hasConsumer: () => member.consumer !== undefined,
      rebuilds: () => member.rebuilds,
    },
    rebuild: (why, status) => void member.rebuild(why, status),
  });
  const health = (): StageHealth => watch.health();

  const beat = () => writeHeartbeat(redis, prefix, stage, instanceId, health()).catch(() => undefined);

  await member.build();
  const unregister = registerHealth(health);
  void beat();
  const beatTimer = setInterval(() => void beat(), 3_000);
  let watching = false;
  const watchTimer = setInterval(() => {
    if (watching) return;
    watching = true;
    void watch.tick().finally(() => (watching = false));
  }, opts.watchIntervalMs ?? 5_000);
  void ready.then(() => watch.tick());
  // Claims have no TTL (never evicted): every member sweeps the expired ones, taking turns through a lock.
  let sweeping: Promise<void> | undefined;
  const sweep = () => {
    sweeping ??= outcomes
      .sweep()
      .then((r) => void (r.deleted > 0 && log.debug({ ...r }, 'expired dedupe claims swept')))
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'sweeping expired dedupe claims failed; next try in a minute'))
      .finally(() => (sweeping = undefined));
  };
  const sweepTimer = setInterval(sweep, opts.sweepIntervalMs ?? 60_000);
  void ready.then(sweep);
  log.info({ topic, groupId }, 'stage started');

  let stopped = false;
  return {
    instanceId,
    ready,
    health,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      member.stopping = true;
      clearInterval(beatTimer);
      clearInterval(watchTimer);
      clearInterval(sweepTimer);
      unregister();
      await member.stop();
      await processor.drain();
      await logic.close?.().catch((err: unknown) => log.warn({ err }, 'closing the stage logic failed'));
      await sweeping;
      await member.producers.releaseAll();
      await admin?.disconnect().catch(() => undefined);
      await removeHeartbeat(redis, prefix, stage, instanceId).catch(() => undefined);
      log.info('stage stopped');
    },
  };
}
