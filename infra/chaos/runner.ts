/**
 * `fraudstream chaos`: real processes (stage members as `fraudstream detect|escalate` children), the suite's own
 * broker and redis-server, steady traffic, one fault per scenario, invariants read back with read_committed.
 * Everything it starts is stopped when it ends, also when it fails; a process exit kills what is left by pid.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig, withoutKafkaSecurityEnv } from '../../core/config.ts';
import { TIMINGS, chaosKafka, runScenario, type ChaosEnv } from './harness.ts';
import { table, type ChaosReport, type ScenarioResult } from './pure/report.ts';
import { SCENARIOS } from './scenarios.ts';
import { ChaosBroker, ChaosRedis, ChaosRedisCluster } from './services.ts';
import { createRedis } from '../../core/redis.ts';
import { chaosClusterPorts } from './pure/redis-cluster.ts';
import { CHAOS_TRAIN_ARGS, trainChaosModel, type TrainedModel } from './model.ts';

/** A scenario's cluster of more than one broker listens from --kafka-port + 10 on (node i: + 3 i, controllers + 1). */
export const CLUSTER_PORT_OFFSET = 10;

export interface ChaosOptions {
  /** Scenario names, in the order to run. */
  only: string[];
  rate: number;
  kafkaPort: number;
  redisPort: number;
  /** Broker instance name (its data folder under DATA_DIR). */
  instance: string;
  partitions: number;
  model: string;
  logDir: string;
  quick: boolean;
  /** How long the console-down scenario runs without a console (seconds). */
  consoleDownSeconds?: number;
  json?: string;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** Called after each scenario (the test prints it as it goes). */
  onResult?: (r: ScenarioResult) => void;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const selected = o.only.map((name) => {
    const s = SCENARIOS.find((x) => x.name === name);
    if (!s) throw new Error(`unknown scenario ${name}`);
    return s;
  });
  const t0 = Date.now();
  const log = (l: string) => o.log(`[chaos ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${l}`);
  const env0 = loadConfig();
  // One broker for most scenarios, a cluster for those that need one (its ports start 10 above --kafka-port).
  const sizes = [...new Set(selected.map((s) => s.brokers ?? 1))].sort((a, b) => a - b);
  const clusters = new Map(
    sizes.map((n) => [n, new ChaosBroker({ dataDir: env0.dataDir, port: n === 1 ? o.kafkaPort : o.kafkaPort + CLUSTER_PORT_OFFSET, instance: n === 1 ? o.instance : `${o.instance}-${n}`, nodes: n, log })] as const),
  );
  const redisServer = new ChaosRedis(o.redisPort);
  // A Redis Cluster (3 masters, a replica each, on --redis-port + 1 to + 6) only when a scenario asks for one.
  const redisCluster = selected.some((s) => s.redisCluster) ? new ChaosRedisCluster(chaosClusterPorts(o.redisPort)) : undefined;
  const killNow = () => {
    for (const b of clusters.values()) b.killNow();
    redisServer.killNow();
    redisCluster?.killNow();
  };
  process.once('exit', killNow);
  let redis: Redis | undefined;
  let clusterRedis: Redis | undefined;
  let trained: TrainedModel | undefined;
  const report: ChaosReport = {
    at: new Date().toISOString(),
    broker: [...clusters.values()].map((b) => b.brokers.join(',')).join(' + '),
    redis: redisServer.url + (redisCluster ? ` + cluster ${redisCluster.nodes.join(',')}` : ''),
    rate: o.rate,
    partitions: o.partitions,
    model: o.model,
    scenarios: [],
  };
  try {
    if (o.model === 'none' && selected.some((s) => s.model === 'trained')) {
      log(`training a small model for ${selected.filter((s) => s.model === 'trained').map((s) => s.name).join(', ')}`);
      trained = await trainChaosModel(log);
      report.trainedModel = { version: trained.version, seconds: trained.seconds, train: `fraudstream train ${CHAOS_TRAIN_ARGS.join(' ')}` };
    }
    log(`starting the suite's own redis-server on ${redisServer.url} and broker${sizes.length > 1 || sizes[0] !== 1 ? 's' : ''} on ${report.broker}`);
    await redisServer.start();
    if (redisCluster) {
      log(`starting the suite's own Redis Cluster (3 masters, 3 replicas) on ${redisCluster.nodes.join(',')}`);
      await redisCluster.start();
      clusterRedis = createRedis(loadConfig({ REDIS_CLUSTER_NODES: redisCluster.nodes.join(','), REDIS_KEY_PREFIX: 'chaos:' }), 'chaos-cluster');
    }
    for (const b of clusters.values()) await b.startFresh();
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(200 * n, 1_000) });
    redis.on('error', () => undefined);
    const runId = randomUUID().slice(0, 6);
    // One environment per (brokers, Redis) pair the selected scenarios need.
    const envKey = (s: { brokers?: number; redisCluster?: boolean }) => `${s.brokers ?? 1}/${s.redisCluster ? 'cluster' : 'single'}`;
    const needed = [...new Map(selected.map((s) => [envKey(s), s] as const)).values()];
    // The caller's REDIS_CLUSTER_NODES is for their Redis: the suite's scenarios name their own.
    const { REDIS_CLUSTER_NODES: _callersCluster, ...callerEnv } = withoutKafkaSecurityEnv(process.env);
    const envs = new Map(
      needed.map((s) => {
        const broker = clusters.get(s.brokers ?? 1)!;
        const cluster = s.redisCluster ? redisCluster : undefined;
        // The suite's own brokers speak plaintext: the caller's Kafka security settings are for theirs.
        const base = loadConfig({
          ...callerEnv,
          KAFKA_BROKERS: broker.brokers.join(','),
          REDIS_URL: redisServer.url,
          ...(cluster ? { REDIS_CLUSTER_NODES: cluster.nodes.join(',') } : {}),
          KAFKA_PARTITIONS: String(o.partitions),
          REDIS_KEY_PREFIX: 'chaos:',
        });
        const env: ChaosEnv = {
          base,
          broker,
          redisServer,
          ...(cluster ? { redisCluster: cluster } : {}),
          kafka: chaosKafka({ brokers: broker.brokers, security: base.kafka.security }),
          redis: cluster ? clusterRedis! : redis!,
          timing: o.quick ? TIMINGS.quick : TIMINGS.full,
          rate: o.rate,
          model: o.model,
          logDir: o.logDir,
          runId,
          quick: o.quick,
          ...(o.consoleDownSeconds === undefined ? {} : { consoleDownSeconds: o.consoleDownSeconds }),
          ...(trained ? { trained } : {}),
          log,
        };
        return [envKey(s), env] as const;
      }),
    );
    log(`child logs in ${path.resolve(o.logDir)}`);
    for (const [i, s] of selected.entries()) {
      log(`scenario ${i + 1}/${selected.length}: ${s.name}: ${s.summary}`);
      const r = await runScenario(envs.get(envKey(s))!, s, 1_000 + i);
      report.scenarios.push(r);
      log(`${s.name}: ${r.ok ? 'ok' : 'FAILED'} (in ${r.in}, decided ${r.decided}, lost ${r.lost}, twice ${r.decidedTwice}, dead-lettered ${r.deadLettered}, recovery ${r.recoverySeconds ?? '-'} s)`);
      for (const v of r.violations) log(`  - ${v}`);
      o.onResult?.(r);
    }
  } finally {
    redis?.disconnect();
    clusterRedis?.disconnect();
    await redisCluster?.stop();
    for (const b of clusters.values()) await b.stop();
    await redisServer.stop('SIGTERM');
    await trained?.remove();
    process.removeListener('exit', killNow);
  }
  if (o.json) {
    await mkdir(path.dirname(path.resolve(o.json)), { recursive: true });
    await writeFile(o.json, JSON.stringify(report, null, 2) + '\n');
  }
  return report;
}

export { table };
