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
import { ChaosBroker, ChaosRedis } from './services.ts';

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
  const broker = new ChaosBroker({ dataDir: env0.dataDir, port: o.kafkaPort, instance: o.instance, log });
  const redisServer = new ChaosRedis(o.redisPort);
  const killNow = () => {
    broker.killNow();
    redisServer.killNow();
  };
  process.once('exit', killNow);
  let redis: Redis | undefined;
  const report: ChaosReport = {
    at: new Date().toISOString(),
    broker: broker.brokers[0]!,
    redis: redisServer.url,
    rate: o.rate,
    partitions: o.partitions,
    model: o.model,
    scenarios: [],
  };
  try {
    log(`starting the suite's own broker on ${broker.brokers[0]} and redis-server on ${redisServer.url}`);
    await redisServer.start();
    await broker.startFresh();
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(200 * n, 1_000) });
    redis.on('error', () => undefined);
    // The suite's own broker speaks plaintext: the caller's Kafka security settings are for theirs.
    const base = loadConfig({
      ...withoutKafkaSecurityEnv(process.env),
      KAFKA_BROKERS: broker.brokers.join(','),
      REDIS_URL: redisServer.url,
      KAFKA_PARTITIONS: String(o.partitions),
      REDIS_KEY_PREFIX: 'chaos:',
    });
    const env: ChaosEnv = {
      base,
      broker,
      redisServer,
      kafka: chaosKafka({ brokers: broker.brokers, security: base.kafka.security }),
      redis,
      timing: o.quick ? TIMINGS.quick : TIMINGS.full,
      rate: o.rate,
      model: o.model,
      logDir: o.logDir,
      runId: randomUUID().slice(0, 6),
      quick: o.quick,
      log,
    };
    log(`child logs in ${path.resolve(o.logDir)}`);
    for (const [i, s] of selected.entries()) {
      log(`scenario ${i + 1}/${selected.length}: ${s.name}: ${s.summary}`);
      const r = await runScenario(env, s, 1_000 + i);
      report.scenarios.push(r);
      log(`${s.name}: ${r.ok ? 'ok' : 'FAILED'} (in ${r.in}, decided ${r.decided}, lost ${r.lost}, twice ${r.decidedTwice}, dead-lettered ${r.deadLettered}, recovery ${r.recoverySeconds ?? '-'} s)`);
      for (const v of r.violations) log(`  - ${v}`);
      o.onResult?.(r);
    }
  } finally {
    redis?.disconnect();
    await broker.stop();
    await redisServer.stop('SIGTERM');
    process.removeListener('exit', killNow);
  }
  if (o.json) {
    await mkdir(path.dirname(path.resolve(o.json)), { recursive: true });
    await writeFile(o.json, JSON.stringify(report, null, 2) + '\n');
  }
  return report;
}

export { table };
