/**
 * `bench scale-out`: detect members as separate processes on a broker cluster of this machine, joining one at a
 * time and then leaving, under steady traffic. Per phase: the coordinator's rebalance time, the longest pause a
 * reader of the decisions topic saw, visible latency and rate in the steady part, and per member the events its
 * own /metrics counted. Its own brokers and redis-server (the chaos suite's, on ports of their own), so a run
 * never touches a broker someone else uses.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import { isolatedConfig, loadConfig, withoutKafkaSecurityEnv, type Config } from '../../core/config.ts';
import type { Transaction } from '../../core/contracts.ts';
import { createProducer, ensureTopics } from '../../core/kafka.ts';
import { table } from '../../detectors/progress.ts';
import { Children, type Child } from '../../infra/chaos/children.ts';
import { chaosKafka } from '../../infra/chaos/harness.ts';
import { Observer, waitForGroup } from '../../infra/chaos/observe.ts';
import { ChaosBroker, ChaosRedis, sleep } from '../../infra/chaos/services.ts';
import { generateStream } from '../../producers/world/index.ts';
import { analysePhases, eventsCounted, perMemberRates, type PhaseResult, type PhaseWindow, type Seen } from './analysis.ts';

export interface ScaleOutOptions {
  instances: number;
  brokers: number;
  partitions: number;
  rate: number;
  stepSeconds: number;
  settleSeconds: number;
  model: string;
  kafkaPort: number;
  redisPort: number;
  metricsPort: number;
  json: string;
  log: (line: string) => void;
}

export interface ScaleOutResult {
  at: string;
  machine: { cpus: number; loadAvgStart: string; loadAvgEnd: string };
  options: Omit<ScaleOutOptions, 'log'>;
  phases: Array<PhaseResult & { perMember: Array<{ member: string; events: number; eventsPerSec: number }>; partitionsPerMember: number[] }>;
  sent: number;
  decided: number;
  undecided: number;
  decidedTwice: number;
}

/** Transactions at a fixed rate, keyed by card, each send time kept by tx id. */
class PacedSender {
  readonly sentAt = new Map<string, number>();
  private readonly gen: Iterator<{ tx: Transaction }>;
  private readonly producer: Producer;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private started = 0;
  private due = 0;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    private readonly rate: number,
  ) {
    this.gen = generateStream({ seed: 4_242, events: Infinity, cards: 5_000 })[Symbol.iterator]();
    this.producer = createProducer(kafka);
  }

  async start(): Promise<void> {
    await this.producer.connect();
    this.started = Date.now();
    this.timer = setInterval(() => void this.tick(), 10);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const target = Math.floor(((Date.now() - this.started) / 1000) * this.rate);
      const messages = [];
      for (; this.due < target; this.due++) {
        const { tx } = this.gen.next().value as { tx: Transaction };
        messages.push({ key: tx.cardId, value: JSON.stringify(tx), tx });
      }
      if (messages.length === 0) return;
      const now = Date.now();
      for (const m of messages) this.sentAt.set(m.tx.txId, now);
      await this.producer.send({ topic: this.topic, messages: messages.map(({ key, value }) => ({ key, value })) });
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.busy) await sleep(10);
    await this.producer.disconnect().catch(() => undefined);
  }
}

async function scrape(port: number): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2_000) });
    return eventsCounted(await res.text(), 'detect');
  } catch {
    return undefined;
  }
}

export async function runScaleOut(o: ScaleOutOptions): Promise<{ result: ScaleOutResult; text: string }> {
  const loadAvgStart = os.loadavg()[0]!.toFixed(2);
  const env0 = loadConfig();
  const broker = new ChaosBroker({ dataDir: env0.dataDir, port: o.kafkaPort, instance: 'bench-scale-out', nodes: o.brokers, log: o.log });
  const redisServer = new ChaosRedis(o.redisPort);
  const killNow = () => {
    broker.killNow();
    redisServer.killNow();
  };
  process.once('exit', killNow);
  let children: Children | undefined;
  let sender: PacedSender | undefined;
  let observer: Observer | undefined;
  try {
    o.log(`starting ${o.brokers} broker(s) from port ${o.kafkaPort} and a redis-server on ${o.redisPort}`);
    await redisServer.start();
    await broker.startFresh();
    const base: Config = loadConfig({
      ...withoutKafkaSecurityEnv(process.env),
      KAFKA_BROKERS: broker.brokers.join(','),
      REDIS_URL: redisServer.url,
      KAFKA_PARTITIONS: String(o.partitions),
      REDIS_KEY_PREFIX: 'scale:',
    });
    const config = isolatedConfig(base, `scale-${Date.now()}`);
    const kafka = chaosKafka({ brokers: broker.brokers, security: base.kafka.security });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(config, admin);
    o.log(`topics: ${o.partitions} partitions, replication ${JSON.stringify(config.kafka.replication)} (auto: 3 / 2 on three brokers)`);

    children = new Children({ config, logDir: path.join(env0.dataDir, 'bench-scale-out', 'logs'), model: o.model });
    const detect: Array<{ id: string; child: Child; port: number }> = [];
    const addMember = () => {
      const i = detect.length;
      const id = `detect-${i + 1}`;
      const port = o.metricsPort + i;
      detect.push({ id, port, child: children!.stage('detect', id, undefined, port) });
    };
    children.stage('escalate', 'escalate-1', undefined, o.metricsPort + 100);
    addMember();
    await waitForGroup(admin, config.groups.escalate, 1, 120_000);
    await waitForGroup(admin, config.groups.detect, 1, 120_000);

    observer = new Observer(kafka, config, () => undefined);
    observer.start();
    sender = new PacedSender(kafka, config.topics.transactions, o.rate);
    await sender.start();
    o.log(`traffic at ${o.rate}/s; waiting for the first decisions`);
    const deadline = Date.now() + 120_000;
    while (observer.decisions.length === 0 && Date.now() < deadline) await sleep(200);
    if (observer.decisions.length === 0) throw new Error('no decision within 120 s of traffic');

    const windows: PhaseWindow[] = [];
    const perMember: Array<ReturnType<typeof perMemberRates>> = [];
    const partitionsPerMember: number[][] = [];
    const counts = async () => new Map((await Promise.all(detect.filter((m) => m.child.alive).map(async (m) => [m.id, await scrape(m.port)] as const))).filter((e): e is [string, number] => e[1] !== undefined));
    /** Partitions held by each member of the detect group, largest first (members are not named in the group). */
    const assignment = async () => {
      const { groups } = await admin.describeGroups([config.groups.detect]);
      return (groups[0]?.members ?? []).map((m) => (m.memberAssignment.length ? parseAssignment(m.memberAssignment) : 0)).sort((a, b) => b - a);
    };
    const rebalanceStarted = async (before: number) => {
      const until = Date.now() + 180_000;
      while (Date.now() < until) {
        const g = (await admin.describeGroups([config.groups.detect])).groups[0];
        if (g && (g.state !== 'Stable' || g.members.length !== before)) return Date.now();
        await sleep(100);
      }
      throw new Error(`the new detect member did not join ${config.groups.detect} within 180 s`);
    };
    const phase = async (change: PhaseWindow['change'], changeAt: number) => {
      const members = detect.filter((m) => m.child.alive).length;
      await waitForGroup(admin, config.groups.detect, members, 120_000);
      const stableAt = Date.now();
      o.log(`${members} member(s): group stable ${((stableAt - changeAt) / 1000).toFixed(1)} s after the ${change}; steady for ${o.stepSeconds} s`);
      await sleep(o.settleSeconds * 1000);
      const before = await counts();
      const t0 = Date.now();
      await sleep(Math.max(0, o.stepSeconds * 1000 - (Date.now() - stableAt)));
      const after = await counts();
      const endAt = Date.now();
      const parts = await assignment();
      windows.push({ members, change, changeAt, stableAt, endAt });
      perMember.push(perMemberRates(before, after, (endAt - t0) / 1000));
      partitionsPerMember.push(parts);
    };

    await phase('start', Date.now());
    while (detect.length < o.instances) {
      addMember();
      // The change is the new member's JoinGroup (the process takes seconds to start first, and decisions flow on
      // meanwhile): the first moment the group is not Stable with the old member count.
      const at = await rebalanceStarted(detect.length - 1);
      o.log(`detect-${detect.length} joins the group`);
      await phase('join', at);
    }
    for (let i = detect.length - 1; i >= 1; i--) {
      const at = Date.now();
      o.log(`${detect[i]!.id} leaves (SIGTERM: finishes its batch, commits, leaves the group)`);
      await detect[i]!.child.stop(30_000);
      await phase('leave', at);
    }
    await sender.stop();
    o.log('traffic stopped; waiting for the last decisions');
    const drainUntil = Date.now() + 60_000;
    const firstSeen = () => {
      const m = new Map<string, number>();
      for (const d of observer!.decisions) if (!m.has(d.txId) || m.get(d.txId)! > d.seenAt) m.set(d.txId, d.seenAt);
      return m;
    };
    while (Date.now() < drainUntil && firstSeen().size < sender.sentAt.size) await sleep(500);
    const first = firstSeen();
    const seen: Seen[] = [...sender.sentAt].map(([txId, sentAt]) => ({ sentAt, visibleAt: first.get(txId) }));
    const results = analysePhases(seen, windows, o.settleSeconds * 1000);
    const finals = new Map<string, number>();
    for (const d of observer.decisions) if (d.final) finals.set(d.txId, (finals.get(d.txId) ?? 0) + 1);
    const result: ScaleOutResult = {
      at: new Date().toISOString(),
      machine: { cpus: os.cpus().length, loadAvgStart, loadAvgEnd: os.loadavg()[0]!.toFixed(2) },
      options: { instances: o.instances, brokers: o.brokers, partitions: o.partitions, rate: o.rate, stepSeconds: o.stepSeconds, settleSeconds: o.settleSeconds, model: o.model, kafkaPort: o.kafkaPort, redisPort: o.redisPort, metricsPort: o.metricsPort, json: o.json },
      phases: results.map((r, i) => ({ ...r, perMember: perMember[i]!, partitionsPerMember: partitionsPerMember[i]! })),
      sent: sender.sentAt.size,
      decided: first.size,
      undecided: sender.sentAt.size - [...sender.sentAt.keys()].filter((t) => first.has(t)).length,
      decidedTwice: [...finals.values()].filter((n) => n > 1).length,
    };
    await admin.disconnect();
    await mkdir(path.dirname(path.resolve(o.json)), { recursive: true });
    await writeFile(o.json, JSON.stringify(result, null, 2) + '\n');
    return { result, text: formatScaleOut(result) };
  } finally {
    await sender?.stop().catch(() => undefined);
    await observer?.stop().catch(() => undefined);
    await children?.stopAll().catch(() => undefined);
    await broker.stop();
    await redisServer.stop('SIGTERM').catch(() => undefined);
    process.removeListener('exit', killNow);
  }
}

/** Partitions in a consumer-protocol assignment (version, then topic -> partitions), counted over its topics. */
export function parseAssignment(buf: Buffer): number {
  let at = 2; // version
  const topics = buf.readInt32BE(at);
  at += 4;
  let partitions = 0;
  for (let t = 0; t < topics; t++) {
    const len = buf.readInt16BE(at);
    at += 2 + len;
    const n = buf.readInt32BE(at);
    at += 4 + 4 * n;
    partitions += n;
  }
  return partitions;
}

export function formatScaleOut(r: ScaleOutResult): string {
  const rows = r.phases.map((p) => [
    `${p.change}: ${p.members} member(s)`,
    p.partitionsPerMember.join(' / '),
    p.perMember.map((m) => `${m.member} ${m.eventsPerSec}`).join(', '),
    p.decisionsPerSec,
    `${p.visibleP50Ms} / ${p.visibleP99Ms}`,
    p.change === 'start' ? '-' : p.rebalanceSeconds,
    p.change === 'start' ? '-' : `${p.longestPauseSeconds} (steady ${p.steadyLongestGapSeconds})`,
    p.change === 'start' ? '-' : `${p.transitionVisibleP99Ms} / ${p.transitionVisibleMaxMs}`,
  ]);
  return [
    `detect members on ${r.options.brokers} broker(s), ${r.options.partitions} partitions, ${r.options.rate} tx/s, model ${r.options.model}; ${r.machine.cpus} cores, load ${r.machine.loadAvgStart} -> ${r.machine.loadAvgEnd}`,
    table(['phase', 'partitions per member', 'events/s per member (its /metrics)', 'decisions/s', 'visible p50 / p99 ms', 'rebalance s', 'longest gap s (steady gap)', 'sent while changing: visible p99 / max ms'], rows),
    `sent ${r.sent}, decided ${r.decided}, undecided ${r.undecided}, decided twice ${r.decidedTwice}`,
  ].join('\n');
}
