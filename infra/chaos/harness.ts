/**
 * One scenario's frame, the same for all: isolated topics, groups and keys; the stage processes; steady traffic;
 * the fault; more traffic; drain; then the invariants on what a read_committed reader saw. Whatever happens, the
 * scenario's processes are stopped and its topics and keys removed before the next one.
 */
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { Redis } from 'ioredis';
import { isolatedConfig, type Config } from '../../core/config.ts';
import { PIPELINE_STAGES, type PipelineStage } from '../../core/contracts.ts';
import { ensureTopics, kafkaConnection, type KafkaTarget } from '../../core/kafka.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { kafkaChangelog } from '../../core/changelog.ts';
import { Children, type Child } from './children.ts';
import { Observer, closedCases, dropKeys, featureCounts, waitForGroup } from './observe.ts';
import { checkInvariants, type Expectation } from './pure/invariants.ts';
import { heavyPath } from './pure/heavy-path.ts';
import { RECOVERY_LIMIT_SECONDS, type ScenarioResult } from './pure/report.ts';
import { sleep, type ChaosBroker, type ChaosRedis, type ChaosRedisCluster } from './services.ts';
import { Traffic } from './traffic.ts';
import { CHAOS_ESCALATE_BAND, type TrainedModel } from './model.ts';

export interface Timing {
  /** Traffic before the fault. */
  warmupMs: number;
  /** Traffic after the fault ends. */
  afterMs: number;
  /** How long to wait, after traffic stops, for every input to have its outcome. */
  drainMs: number;
  /** Extra reading after that, so late duplicates are seen too. */
  lingerMs: number;
  /** Stage processes joining their groups. */
  startMs: number;
}

export const TIMINGS = {
  full: { warmupMs: 10_000, afterMs: 20_000, drainMs: 120_000, lingerMs: 5_000, startMs: 120_000 },
  quick: { warmupMs: 6_000, afterMs: 10_000, drainMs: 90_000, lingerMs: 3_000, startMs: 120_000 },
} as const satisfies Record<string, Timing>;

/** What the whole run shares: the suite's own broker and Redis, and its clients. */
export interface ChaosEnv {
  base: Config;
  broker: ChaosBroker;
  redisServer: ChaosRedis;
  /** The Redis Cluster of scenarios with `redisCluster: true` (then `redis` is an ioredis Cluster client on it). */
  redisCluster?: ChaosRedisCluster;
  kafka: Kafka;
  redis: Redis;
  timing: Timing;
  rate: number;
  model: string;
  logDir: string;
  runId: string;
  quick: boolean;
  /** The console-down scenario's window (default CONSOLE_DOWN_SECONDS). */
  consoleDownSeconds?: number;
  /** The small model trained for scenarios with `model: 'trained'` (when --model is none). */
  trained?: TrainedModel;
  log: (line: string) => void;
}

export function chaosKafka(target: KafkaTarget): Kafka {
  // The suite's own clients stay quiet: a broker it killed on purpose is not news.
  return new Kafka({ clientId: 'fraudstream-chaos', ...kafkaConnection(target), logLevel: logLevel.NOTHING, retry: { initialRetryTime: 200, retries: 30, maxRetryTime: 2_000 } });
}

export interface MemberSpec {
  id: string;
  faults?: string;
}

export interface Fault {
  /** When the fault ended (the broker answered again, the process was resumed, the pill was written...). */
  end: number;
  /** Which fresh decisions count as "resumed": on this input partition, after this input offset, of this stage. */
  recovery?: { partition?: number; afterOffset?: string; stage?: string };
  proof?: Record<string, unknown>;
  violations?: string[];
  notes?: string[];
  /** Checks that need the final read (e.g. outputs seen uncommitted at a kill were never committed). */
  verify?: () => string[];
}

/** Members per registered stage (router/stages.ts); a stage not given runs one member, `<stage>-a`. */
export interface Scenario extends Partial<Record<PipelineStage, MemberSpec[]>> {
  name: string;
  summary: string;
  /** exact, or atMost when Redis loses its state on purpose. */
  featureMode?: 'exact' | 'atMost';
  /** Brokers the scenario's cluster needs (default 1): the run starts a cluster of that size for it. */
  brokers?: number;
  /**
   * The stages, the console and the suite's own client use a Redis Cluster of 3 masters with a replica each (the run
   * starts it on --redis-port + 1 to + 6; the stages get REDIS_CLUSTER_NODES) instead of the single redis-server.
   */
  redisCluster?: boolean;
  /**
   * 'trained': with --model none the stages serve a small model the run trains once (model.ts), so escalations take
   * the heavy path; the run checks that escalate decisions were scored by it. Another --model serves that one.
   */
  model?: 'trained';
  fault(ctx: ScenarioCtx): Promise<Fault>;
}

export class ScenarioCtx {
  readonly members = new Map<string, Child>();

  constructor(
    readonly env: ChaosEnv,
    readonly name: string,
    readonly config: Config,
    readonly children: Children,
    readonly traffic: Traffic,
    readonly observer: Observer,
  ) {}

  log(line: string): void {
    this.env.log(`${this.name}: ${line}`);
  }

  member(id: string): Child {
    const c = this.members.get(id);
    if (!c) throw new Error(`no member ${id} in ${this.name}`);
    return c;
  }

  startStage(stage: PipelineStage, spec: MemberSpec): Child {
    const c = this.children.stage(stage, spec.id, spec.faults);
    this.members.set(spec.id, c);
    return c;
  }

  async withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.env.kafka.admin({ retry: { retries: 10, maxRetryTime: 2_000 } });
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** The tx id of an input, from the ledger. */
  txIdOf(hash: string): string | undefined {
    const e = this.traffic.ledger.get(hash);
    return e && 'txId' in e ? e.txId : undefined;
  }
}

/**
 * Rules-only stages escalate mid-sized amounts, and escalate without a heavy model sends them to review. With the
 * trained model, policy v1 holds its thresholds, with an escalate band the heavy model can allow, review and block in.
 */
async function escalatingPolicy(env: ChaosEnv, config: Config, trained?: TrainedModel): Promise<void> {
  // Recorded in the scenario's policy topic, as the console records it: a Redis wipe must not bring back v1.
  const record = kafkaChangelog(env.kafka, config.topics.policy);
  try {
    const thresholds = trained ? { ...trained.thresholds, escalate: { ...trained.thresholds.escalate, ...CHAOS_ESCALATE_BAND } } : COLD_START_THRESHOLDS;
    const store = new RedisPolicyStore(env.redis, config.redis.keyPrefix, () => defaultPolicy(thresholds), record);
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = await store.current();
    await store.update({ ...input, rules: { ...input.rules, escalateAmountAbove: 20_000, blockAmountAbove: 100_000 }, review: { ...input.review, capacity: 1_000 } }, 'chaos');
  } finally {
    await record.close();
  }
}

/**
 * Up to 5 transactions with more than one final decision: every copy (where, when decided relative to the fault's
 * end, the claim it carries: same decidedAt and claim = one decision written twice; other ones = decided twice) and
 * where the transaction sat on the input topic (a resent copy shows as a second offset).
 */
function twiceExamples(ctx: ScenarioCtx, faultEnd: number): unknown[] {
  const copies = new Map<string, ScenarioCtx['observer']['decisions']>();
  for (const d of ctx.observer.decisions) if (d.final) copies.set(d.txId, [...(copies.get(d.txId) ?? []), d]);
  const twice = [...copies].filter(([, c]) => c.length > 1).slice(0, 5);
  const inputs = new Map<string, string[]>();
  for (const i of ctx.observer.inputs) {
    const tx = ctx.txIdOf(i.hash);
    if (tx && twice.some(([t]) => t === tx)) inputs.set(tx, [...(inputs.get(tx) ?? []), `${i.partition}:${i.offset}`]);
  }
  return twice.map(([txId, c]) => ({
    txId,
    inputs: inputs.get(txId) ?? [],
    copies: c.map((d) => ({ position: d.position, decidedAt: d.decidedAt, decidedSecondsAfterFault: Math.round((d.decidedAt - faultEnd) / 100) / 10, claim: d.claim ?? null })),
  }));
}


function emptyResult(name: string): ScenarioResult {
  return { name, in: 0, decided: 0, lost: 0, decidedTwice: 0, deadLettered: 0, recoverySeconds: null, ok: false, messages: 0, seconds: 0, violations: [], notes: [] };
}

export async function runScenario(env: ChaosEnv, scenario: Scenario, seed: number): Promise<ScenarioResult> {
  const started = Date.now();
  const log = (l: string) => env.log(`${scenario.name}: ${l}`);
  const result = emptyResult(scenario.name);
  const config = isolatedConfig(env.base, `chaos-${scenario.name}-${env.runId}`);
  await env.broker.ensureUp();
  await env.redisServer.ensureUp();
  await env.redisCluster?.ensureUp();
  const admin = env.kafka.admin();
  await admin.connect();
  await ensureTopics(config, admin);
  await admin.disconnect();
  // A scenario that asks for a trained model gets the run's, unless --model named one for every scenario.
  const trained = scenario.model === 'trained' && env.model === 'none' ? env.trained : undefined;
  if (scenario.model === 'trained' && env.model === 'none' && !trained) throw new Error(`${scenario.name} needs the run's trained model, and none was trained`);
  await escalatingPolicy(env, config, trained);

  const children = new Children({ config, logDir: join(env.logDir, scenario.name), model: trained?.dir ?? env.model });
  const traffic = new Traffic({ kafka: env.kafka, topic: config.topics.transactions, rate: env.rate, seed, cards: 2_000, log });
  const observer = new Observer(env.kafka, config, log);
  const ctx = new ScenarioCtx(env, scenario.name, config, children, traffic, observer);
  let fault: Fault | undefined;
  try {
    observer.start();
    const members = (stage: PipelineStage) => scenario[stage] ?? [{ id: `${stage}-a` }];
    for (const stage of PIPELINE_STAGES) for (const m of members(stage)) ctx.startStage(stage, m);
    log(`started ${PIPELINE_STAGES.map((s) => `${members(s).length} ${s}`).join(' and ')} processes; waiting for their groups`);
    await ctx.withAdmin(async (a) => {
      for (const stage of PIPELINE_STAGES) await waitForGroup(a, config.groups[stage], members(stage).length, env.timing.startMs);
    });
    await traffic.start();
    log(`traffic at ${env.rate}/s; warming up ${env.timing.warmupMs / 1000} s`);
    await sleep(env.timing.warmupMs);
    // A fault must land on a pipeline that decides (a fresh broker takes a while to serve its first transaction).
    const warmDeadline = Date.now() + env.timing.startMs;
    while (observer.decisions.length === 0 && Date.now() < warmDeadline) await sleep(500);
    if (observer.decisions.length === 0) throw new Error(`no decision within ${(env.timing.warmupMs + env.timing.startMs) / 1000} s of traffic: the pipeline never started deciding`);
    log(`deciding (${observer.decisions.length} decisions so far); fault`);
    const faultAt = Date.now();
    try {
      fault = await scenario.fault(ctx);
    } catch (err) {
      fault = { end: Date.now(), violations: [`the fault step failed: ${(err as Error).message}`] };
      await env.broker.ensureUp().catch(() => undefined);
      await env.redisServer.ensureUp().catch(() => undefined);
      await env.redisCluster?.ensureUp().catch(() => undefined);
    }
    log(`fault over after ${((fault.end - faultAt) / 1000).toFixed(1)} s; traffic for ${env.timing.afterMs / 1000} s more`);
    await sleep(env.timing.afterMs);
    await traffic.stop();
    log(`traffic stopped (${traffic.stats.sent} messages sent); draining`);
    await drain(ctx, env.timing.drainMs);
    await sleep(env.timing.lingerMs);

    const cards = new Set<string>();
    for (const e of traffic.ledger.values()) if (e.kind === 'valid') cards.add(e.cardId);
    const check = checkInvariants({
      ledger: traffic.ledger,
      inputs: observer.inputs,
      acknowledged: traffic.acknowledgedHashes(),
      decisions: observer.decisions.map((d) => d.raw),
      deadLetters: observer.deadLetters,
      cases: observer.cases,
      labels: observer.labels,
      closedCases: await closedCases(env.redis, config.redis.keyPrefix),
      featureCounts: await featureCounts(env.redis, config.redis.keyPrefix, cards),
      featureMode: scenario.featureMode ?? 'exact',
    });
    Object.assign(result, { in: check.in, decided: check.decided, lost: check.lost, decidedTwice: check.decidedTwice, deadLettered: check.deadLettered, messages: check.messages, acknowledged: traffic.acknowledgedHashes().size, unread: check.unread });
    result.violations.push(...(fault.violations ?? []), ...check.violations, ...(fault.verify?.() ?? []));
    result.notes.push(...(fault.notes ?? []));
    const sent = traffic.stats;
    if (sent.unwrittenSends > 0) result.notes.push(`the traffic producer's kafkajs resolved ${sent.unwrittenSends} sends without writing ${sent.unwrittenMessages} of their messages (a partition whose leader moved to a broker that had answered already); the suite sent those again`);
    if (fault.proof) result.proof = fault.proof;
    if (check.decidedTwice > 0) result.proof = { ...result.proof, decidedTwiceExamples: twiceExamples(ctx, fault.end) };
    if (scenario.model === 'trained') {
      const served = trained?.version ?? env.model;
      const heavy = heavyPath(observer.decisions.map((d) => d.raw), trained?.version);
      result.proof = { ...result.proof, model: { served, ...(trained ? { trainSeconds: trained.seconds } : {}), ...heavy } };
      if (heavy.escalateScoredByHeavy === 0) result.violations.push(`no escalate decision was scored by the heavy model of ${served} (${heavy.escalateDecisions} escalate decisions): the heavy path did not run`);
      if (trained && heavy.otherModel > 0) result.violations.push(`${heavy.otherModel} decisions name another model than ${trained.version}`);
    }
    result.recoverySeconds = recoverySeconds(ctx, fault);
    if (result.recoverySeconds === null) result.violations.push(`decisions did not resume after the fault (none seen within the scenario)`);
    else if (result.recoverySeconds > RECOVERY_LIMIT_SECONDS) result.violations.push(`decisions resumed ${result.recoverySeconds.toFixed(1)} s after the fault ended (limit ${RECOVERY_LIMIT_SECONDS} s)`);
  } catch (err) {
    result.violations.push(`the scenario could not finish: ${(err as Error).message}`);
    if (fault?.proof) result.proof = fault.proof;
  } finally {
    for (const c of children.list()) {
      if (!c.alive && c.proc.signalCode !== 'SIGKILL') result.notes.push(`${c.name} exited on its own (code ${c.proc.exitCode}); last lines: ${c.lastLines().slice(-3).join(' | ').slice(0, 400)}`);
    }
    await traffic.stop(1_000).catch(() => undefined);
    await children.stopAll();
    await observer.stop();
    await cleanup(env, config).catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
  }
  result.ok = result.violations.length === 0 && result.lost === 0 && result.decidedTwice === 0;
  result.seconds = Math.round((Date.now() - started) / 100) / 10;
  return result;
}

/**
 * Waits until the reader read back every message the broker acknowledged, every valid input has a decision and every
 * owed dead letter could be there (or the timeout).
 */
async function drain(ctx: ScenarioCtx, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = 0;
  for (;;) {
    const owed = new Set<string>();
    let letters = 0;
    const counted = new Set<string>();
    const read = new Set<string>();
    for (const i of ctx.observer.inputs) {
      read.add(i.hash);
      const e: Expectation | undefined = ctx.traffic.ledger.get(i.hash);
      if (e?.kind === 'valid') owed.add(e.txId);
      else if (e && !counted.has(`${i.partition}:${i.offset}`)) {
        counted.add(`${i.partition}:${i.offset}`);
        letters += 1;
      }
    }
    let missing = 0;
    for (const tx of owed) if (!ctx.observer.hasDecision(tx)) missing += 1;
    const lettersMissing = Math.max(0, letters - ctx.observer.deadLetters.length);
    let unread = 0;
    for (const h of ctx.traffic.acknowledgedHashes()) if (!read.has(h)) unread += 1;
    if (missing === 0 && lettersMissing === 0 && unread === 0) return;
    if (Date.now() > deadline) {
      ctx.log(`drain timed out: ${unread} acknowledged messages not read back, ${missing} transactions without a decision, ${lettersMissing} dead letters missing`);
      return;
    }
    if (Date.now() - lastReport > 10_000) {
      ctx.log(`waiting for ${unread} acknowledged messages to be read back, ${missing} decisions and ${lettersMissing} dead letters`);
      lastReport = Date.now();
    }
    await sleep(1_000);
  }
}

/** Seconds from the fault's end to the first fresh decision a reader saw (filtered as the fault says). */
function recoverySeconds(ctx: ScenarioCtx, fault: Fault): number | null {
  const r = fault.recovery ?? {};
  const where = new Map<string, { partition: number; offset: bigint }>();
  for (const i of ctx.observer.inputs) {
    const tx = ctx.txIdOf(i.hash);
    if (tx && !where.has(tx)) where.set(tx, { partition: i.partition, offset: BigInt(i.offset) });
  }
  let first: number | undefined;
  for (const d of ctx.observer.decisions) {
    if (r.stage && d.stage !== r.stage) continue;
    const at = where.get(d.txId);
    if (r.partition !== undefined && at?.partition !== r.partition) continue;
    if (r.afterOffset !== undefined ? !at || at.offset <= BigInt(r.afterOffset) : d.decidedAt < fault.end) continue;
    if (first === undefined || d.seenAt < first) first = d.seenAt;
  }
  return first === undefined ? null : Math.max(0, Math.round((first - fault.end) / 100) / 10);
}

async function cleanup(env: ChaosEnv, config: Config): Promise<void> {
  await env.broker.ensureUp();
  await env.redisCluster?.ensureUp();
  const admin = env.kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: Object.values(config.topics) }).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
  await dropKeys(env.redis, config.redis.keyPrefix);
}
