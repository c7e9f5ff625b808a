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
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Batch, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { Config } from '../core/config.ts';
import { faults, InjectedFault, type Faults } from '../core/faults.ts';
import { beat as writeHeartbeat, removeHeartbeat } from '../state/heartbeats.ts';
import { logger } from '../core/logger.ts';
import { metrics, registerHealth } from './metrics.ts';
import { byPartition, byTopic, chunkByBytes, CONFLICTING_DUPLICATE, deadLetter, splitBatch, type OutMessage, type ParsedMessage } from './runner/batch.ts';
import { isStalled, readLag, StageStatus, type StageHealth } from './runner/health.ts';
import { OutcomeStore } from '../state/outcomes.ts';
import { PartitionProducers, type PartitionProducer } from './runner/producers.ts';

export { chunkByBytes, splitBatch, type OutMessage, type ParsedMessage } from './runner/batch.ts';
export type { StageHealth } from './runner/health.ts';

export interface StageInput<T> {
  value: T;
  /** Kafka timestamp of the consumed message (epoch ms). */
  receivedAt: number;
}

export interface StageLogic<T> {
  /** Stage name, used in metrics, logs, heartbeats and dead letters. */
  name: string;
  schema: z.ZodType<T>;
  /** The dedupe key of an input (its tx id). */
  keyOf(value: T): string;
  /**
   * Decides a batch of new inputs (never seen before). Returns, per input, the messages to publish.
   * Side effects here must be idempotent per key: a crash before commit replays the batch.
   */
  handle(inputs: StageInput<T>[]): Promise<OutMessage[][]>;
  /** Called after a batch committed, with the fresh outputs (for counters and samples). Off the critical path. */
  afterCommit?(outputs: OutMessage[][]): Promise<void>;
}

export interface StageOptions<T> {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  topic: string;
  groupId: string;
  logic: StageLogic<T>;
  instanceId?: string;
  /** Seconds a tx id is remembered as decided (the dedupe window; about 100 bytes a transaction). */
  outcomeTtlSeconds?: number;
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

/** Below the broker's default request limit (1 MiB), leaving room for the record batch framing. */
const MAX_SEND_BYTES = 512 * 1024;
/** A dead letter's raw payload is cut here (base64 grows it by a third; the letter stays far below 1 MiB). */
const MAX_DEAD_LETTER_RAW_BYTES = 64 * 1024;
/** How many times a single message may make the stage logic throw before it goes to the dead-letter topic. */
const LOGIC_ATTEMPTS = 3;
/** Post-commit work (shrinking outcomes, counters) runs behind the batches; this many may wait before a batch waits. */
const MAX_PENDING_POST_COMMIT = 16;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The transaction's producer was fenced: another member owns the partition now. */
function isFenced(err: unknown): boolean {
  for (let e = err as { type?: string; name?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.type === 'INVALID_PRODUCER_EPOCH' || e.type === 'PRODUCER_FENCED' || e.type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED') return true;
  }
  return false;
}

/** Errors of the services (Redis down or loading, a connection dropped), not of the input: retry, never dead-letter. */
export function isServiceError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.name?.startsWith('KafkaJS') || e.name === 'MaxRetriesPerRequestError') return true;
  if (e.code && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTCONN)$/.test(e.code)) return true;
  return /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|READONLY|MASTERDOWN)\b|Connection is closed|Stream isn't writeable/.test(e.message ?? '');
}

interface Work<T> {
  parsed: ParsedMessage<T>;
  out?: OutMessage[];
}

export async function startStage<T>(opts: StageOptions<T>): Promise<RunningStage> {
  const { config, kafka, redis, logic, topic, groupId } = opts;
  const stage = logic.name;
  const instanceId = opts.instanceId ?? `${stage}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const log = logger(`stage:${stage}`).child({ instanceId });
  const prefix = config.redis.keyPrefix;
  const outcomes = new OutcomeStore(redis, prefix, stage, opts.outcomeTtlSeconds ?? 24 * 3600);
  const stallMs = config.stallSeconds * 1000;
  const fault = opts.faults ?? faults();
  const where = { sourceTopic: topic, stage, dlqTopic: config.topics.dlq };
  // Observed once per message: the labelled child skips prom-client's label hashing on each observation.
  const latency = metrics.latency.labels({ stage });

  let admin: Admin | undefined;
  let adminFailures = 0;
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

  let consumer: Consumer | undefined;
  // The producers of one consumer's lifetime: a rebuild starts a new set, so batches of the old consumer stop.
  const newProducers = () => new PartitionProducers({ kafka, admin: getAdmin, groupId, topic, transactionTimeoutMs: 10_000 });
  let producers = newProducers();
  let assigned: number[] = [];
  let stopping = false;
  let rebuilding: Promise<void> | undefined;
  let rebuilds = 0;
  let lastBuiltAt = Date.now();
  let assignedAt = Date.now();
  let lastCommitAt: number | undefined;
  let lastGroupProgressAt = Date.now();
  let lastCommittedSum = -1n;
  let myLag = -1;
  let groupLag = -1;
  let checkedAt: number | undefined;
  let brokerReachable = true;
  let status: StageStatus = StageStatus.STARTING;
  let stalledSince: number | undefined;
  let reason: string | undefined;

  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (resolveReady = r));

  // Post-commit work runs in order behind the batches; a failure is logged, never retried into a duplicate.
  let postChain: Promise<void> = Promise.resolve();
  let postPending = 0;
  const afterCommitted = async (work: () => Promise<void>) => {
    postPending += 1;
    postChain = postChain.then(work).catch((err: unknown) => log.warn({ err }, 'post-commit work failed')).finally(() => (postPending -= 1));
    if (postPending > MAX_PENDING_POST_COMMIT) await postChain;
  };

  /** Stage logic on fresh inputs; a message that throws (not a service error) is isolated and dead-lettered. */
  const decide = async (items: Work<T>[]): Promise<Array<{ item: Work<T>; error: Error }>> => {
    const failed: Array<{ item: Work<T>; error: Error }> = [];
    const run = async (part: Work<T>[]) => {
      if (fault.throwOnKey) {
        const bad = part.find((w) => w.parsed.key.includes(fault.throwOnKey!));
        if (bad) throw new InjectedFault(bad.parsed.key);
      }
      const outs = await logic.handle(part.map((w) => ({ value: w.parsed.value, receivedAt: w.parsed.receivedAt })));
      part.forEach((w, i) => (w.out = outs[i] ?? []));
    };
    const attempt = async (part: Work<T>[]): Promise<void> => {
      try {
        await run(part);
      } catch (first) {
        if (isServiceError(first)) throw first;
        if (part.length > 1) {
          const mid = Math.ceil(part.length / 2);
          await attempt(part.slice(0, mid));
          await attempt(part.slice(mid));
          return;
        }
        let last = first;
        for (let n = 2; n <= LOGIC_ATTEMPTS; n++) {
          await sleep(20 * n);
          try {
            await run(part);
            return;
          } catch (again) {
            if (isServiceError(again)) throw again;
            last = again;
          }
        }
        failed.push({ item: part[0]!, error: last instanceof Error ? last : new Error(String(last)) });
      }
    };
    await attempt(items);
    return failed;
  };

  // How outputs are sent: one sendBatch per chunk on a one-broker cluster; on more brokers one per output partition
  // (runner/batch.ts byPartition: kafkajs can write a multi-leader sendBatch twice when a leader dies). Read from
  // the broker once, again after a failed batch (partitions may have been added, brokers may have joined).
  let layout: { brokers: number; partitions: Map<string, number> } | undefined;
  const sendsOf = async (chunk: OutMessage[]) => {
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
  };

  const processBatch = async (batch: Batch, pp: PartitionProducer, resolveOffset: (offset: string) => void): Promise<void> => {
    const started = performance.now();
    const partition = batch.partition;
    const lastOffset = batch.lastOffset();
    const nextOffset = (BigInt(lastOffset) + 1n).toString();
    let messages: KafkaMessage[] = batch.messages;
    if (BigInt(messages[0]!.offset) < pp.minOffset) {
      messages = messages.filter((m) => BigInt(m.offset) >= pp.minOffset);
      metrics.redelivered.inc({ stage }, batch.messages.length - messages.length);
      if (messages.length === 0) {
        resolveOffset(lastOffset);
        return;
      }
    }

    const { parsed, rejected, repeats } = splitBatch(messages, partition, logic);
    const toPublish: OutMessage[] = [];
    const dead = { malformed: 0, conflicting_duplicate: 0, logic_error: 0 };
    for (const r of rejected) {
      toPublish.push(deadLetter(r.message, { ...where, partition }, r.reason, MAX_DEAD_LETTER_RAW_BYTES));
      dead[r.reason.startsWith(CONFLICTING_DUPLICATE) ? 'conflicting_duplicate' : 'malformed'] += 1;
    }
    let duplicates = repeats;
    let mark = performance.now();
    const phase = (name: string) => {
      const now = performance.now();
      metrics.phaseSeconds.inc({ stage, phase: name }, (now - mark) / 1000);
      mark = now;
    };

    const claims = await outcomes.claim(parsed.map((p) => ({ key: p.key, source: p.source, hash: p.hash })));
    phase('claim');
    const fresh: Work<T>[] = [];
    let again = 0;
    parsed.forEach((p, i) => {
      const c = claims[i]!;
      if (c.mine) {
        fresh.push({ parsed: p });
        if (c.again) again += 1;
      } else if (c.holder.hash === p.hash) duplicates += 1;
      else {
        toPublish.push(deadLetter(p.message, { ...where, partition }, `${CONFLICTING_DUPLICATE}: key ${p.key} was decided from ${c.holder.source} with other content`, MAX_DEAD_LETTER_RAW_BYTES));
        dead.conflicting_duplicate += 1;
      }
    });

    const failures = fresh.length ? await decide(fresh) : [];
    phase('decide');
    for (const f of failures) {
      toPublish.push(deadLetter(f.item.parsed.message, { ...where, partition }, `stage logic failed ${LOGIC_ATTEMPTS} times: ${f.error.message}`, MAX_DEAD_LETTER_RAW_BYTES));
      dead.logic_error += 1;
    }
    const freshOut: OutMessage[][] = [];
    for (const w of fresh) {
      if (!w.out) continue;
      toPublish.push(...w.out);
      freshOut.push(w.out);
    }

    const txn = await pp.producer.transaction();
    try {
      for (const chunk of chunkByBytes(toPublish, MAX_SEND_BYTES)) for (const topicMessages of await sendsOf(chunk)) await txn.sendBatch({ topicMessages });
      phase('send');
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }] });
      phase('offsets');
      if (fault.holdBeforeCommitMs) {
        log.warn({ partition, firstOffset: messages[0]!.offset, lastOffset, outputs: toPublish.length, holdMs: fault.holdBeforeCommitMs }, 'fault: holding transaction before commit');
        await sleep(fault.holdBeforeCommitMs);
      }
      await txn.commit();
      phase('commit');
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    pp.minOffset = BigInt(nextOffset);
    resolveOffset(lastOffset);
    const now = Date.now();
    lastCommitAt = now;

    metrics.events.inc({ stage }, messages.length);
    for (const [why, n] of Object.entries(dead)) if (n) metrics.deadLetters.inc({ stage, why }, n);
    if (duplicates) metrics.duplicates.inc({ stage }, duplicates);
    if (again) metrics.republished.inc({ stage }, again);
    for (const p of parsed) latency.observe(Math.max(0, now - p.receivedAt) / 1000);
    metrics.batchSeconds.observe({ stage }, (performance.now() - started) / 1000);
    metrics.lastCommit.set({ stage, instance: instanceId }, now / 1000);
    if (rejected.length || failures.length) log.warn({ partition, ...dead }, 'messages sent to the dead-letter topic');
    const released = failures.map((f) => f.item.parsed.key);
    if (released.length || (logic.afterCommit && freshOut.length)) {
      await afterCommitted(async () => {
        await outcomes.release(released);
        if (logic.afterCommit && freshOut.length) await logic.afterCommit(freshOut);
      });
    }
  };

  const onBatch = async ({ batch, heartbeat, isRunning, isStale, resolveOffset }: { batch: Batch; heartbeat(): Promise<void>; isRunning(): boolean; isStale(): boolean; resolveOffset(o: string): void }) => {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const partition = batch.partition;
    // Keep group membership while a batch waits on Redis or the broker.
    const hb = setInterval(() => void heartbeat().catch(() => undefined), 2_000);
    const owner = producers;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const pp = await owner.acquire(partition);
          await processBatch(batch, pp, resolveOffset);
          return;
        } catch (err) {
          if (isFenced(err)) {
            log.warn({ partition }, 'fenced: another member owns this partition now; rejoining the group');
            void rebuild('fenced');
            return;
          }
          // A failed transaction leaves kafkajs' transaction state unknown: start the partition's producer afresh.
          await owner.release(partition);
          layout = undefined;
          if (stopping || !isRunning() || isStale() || owner !== producers) return;
          metrics.batchRetries.inc({ stage });
          if (attempt === 1 || attempt % 10 === 0) log.warn({ partition, attempt, err: (err as Error).message }, 'batch failed; retrying it (nothing was committed)');
          await sleep(Math.min(100 * 2 ** (attempt - 1), 5_000));
        }
      }
    } finally {
      clearInterval(hb);
    }
  };

  const build = async (): Promise<void> => {
    const owner = newProducers();
    producers = owner;
    const c = kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      // Short enough that a crashed member's partitions move on quickly; long enough for a busy 2-core machine.
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxBytesPerPartition: 512 * 1024,
      maxWaitTimeInMs: 1_000,
    });
    c.on(c.events.GROUP_JOIN, (e) => {
      const mine = e.payload.memberAssignment[topic] ?? [];
      for (const p of assigned) if (!mine.includes(p)) void owner.release(p);
      assigned = [...mine].sort((a, b) => a - b);
      assignedAt = Date.now();
      log.info({ partitions: assigned }, 'partitions assigned');
      resolveReady();
    });
    c.on(c.events.CRASH, (e) => {
      if (stopping) return;
      if (e.payload.restart) log.warn({ err: e.payload.error.message }, 'consumer crashed; kafkajs restarts it');
      else void rebuild(`consumer crashed: ${e.payload.error.message}`);
    });
    try {
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, config.kafka.partitions),
        eachBatch: onBatch,
      });
    } catch (err) {
      await c.disconnect().catch(() => undefined);
      throw err;
    }
    consumer = c;
    lastBuiltAt = Date.now();
  };

  const rebuild = (why: string, statusMeanwhile: StageStatus = StageStatus.DOWN): Promise<void> => {
    if (stopping) return Promise.resolve();
    if (rebuilding) return rebuilding;
    rebuilding = (async () => {
      rebuilds += 1;
      stalledSince = undefined;
      metrics.rebuilds.inc({ stage, why: why.split(':')[0]! });
      log.warn({ why }, 'rebuilding the stage member');
      status = statusMeanwhile;
      reason = `rebuilding: ${why}`;
      const old = consumer;
      const oldProducers = producers;
      consumer = undefined;
      assigned = [];
      await withTimeout(old?.disconnect() ?? Promise.resolve(), 15_000);
      await withTimeout(oldProducers.releaseAll(), 15_000);
      for (let delay = 1_000; !stopping; delay = Math.min(delay * 2, 30_000)) {
        try {
          await build();
          log.info({ rebuilds }, 'stage member rebuilt');
          return;
        } catch (err) {
          log.warn({ err: (err as Error).message, retryInMs: delay }, 'could not rebuild the stage member yet');
          await sleep(delay);
        }
      }
    })().finally(() => (rebuilding = undefined));
    return rebuilding;
  };

  const health = (): StageHealth => ({
    stage,
    instance: instanceId,
    pid: process.pid,
    status,
    ...(reason ? { reason } : {}),
    lag: myLag,
    groupLag,
    partitions: assigned,
    ...(lastCommitAt ? { lastCommitAt } : {}),
    ...(checkedAt ? { checkedAt } : {}),
    rebuilds,
    at: Date.now(),
  });

  const beat = () => writeHeartbeat(redis, prefix, stage, instanceId, health()).catch(() => undefined);

  const watch = async () => {
    const now = Date.now();
    try {
      const lags = await readLag(await connectedAdmin(), groupId, topic);
      adminFailures = 0;
      brokerReachable = true;
      checkedAt = now;
      let sum = 0n;
      groupLag = 0;
      myLag = 0;
      for (const l of lags) {
        metrics.lag.set({ stage, topic, partition: String(l.partition) }, l.lag);
        sum += l.committed > 0n ? l.committed : 0n;
        groupLag += l.lag;
        if (assigned.includes(l.partition)) myLag += l.lag;
      }
      if (sum !== lastCommittedSum) {
        lastCommittedSum = sum;
        lastGroupProgressAt = now;
      }
    } catch (err) {
      brokerReachable = false;
      reason = `cannot read lag from the broker: ${(err as Error).message}`;
      if (++adminFailures >= 3) resetAdmin();
    }
    if (rebuilding) return;
    if (!brokerReachable) status = StageStatus.DOWN;
    else if (redis.status !== 'ready') {
      status = StageStatus.DOWN;
      reason = `redis ${redis.status}: batches wait for it`;
    } else if (
      isStalled({ now, stallMs, myLag, groupLag, assigned: assigned.length, lastProgressAt: Math.max(lastCommitAt ?? 0, assignedAt, lastBuiltAt), lastGroupProgressAt })
    ) {
      stalledSince ??= now;
      status = StageStatus.STALLED;
      reason = `lag ${assigned.length ? myLag : groupLag} and no progress for ${Math.round((now - stalledSince + stallMs) / 1000)} s`;
      // Said first, acted on if it lasts: a rebuild costs the whole group a rebalance.
      if (now - stalledSince >= stallMs) void rebuild('stalled', StageStatus.STALLED);
    } else if (consumer) {
      stalledSince = undefined;
      status = StageStatus.UP;
      reason = undefined;
    }
    metrics.stageUp.set({ stage, instance: instanceId }, status === StageStatus.UP ? 1 : 0);
  };

  await build();
  const unregister = registerHealth(health);
  void beat();
  const beatTimer = setInterval(() => void beat(), 3_000);
  let watching = false;
  const watchTimer = setInterval(() => {
    if (watching) return;
    watching = true;
    void watch().finally(() => (watching = false));
  }, opts.watchIntervalMs ?? 5_000);
  void ready.then(() => watch());
  log.info({ topic, groupId }, 'stage started');

  let stopped = false;
  return {
    instanceId,
    ready,
    health,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      stopping = true;
      clearInterval(beatTimer);
      clearInterval(watchTimer);
      unregister();
      await rebuilding?.catch(() => undefined);
      await consumer?.disconnect().catch((err: unknown) => log.warn({ err }, 'consumer disconnect'));
      await postChain;
      await producers.releaseAll();
      await admin?.disconnect().catch(() => undefined);
      await removeHeartbeat(redis, prefix, stage, instanceId).catch(() => undefined);
      log.info('stage stopped');
    },
  };
}
