/**
 * `fraudstream kafka start --brokers 3` for real: a 3-broker KRaft cluster on loopback ports of its own, in a data
 * folder of its own (the Kafka jars linked in, not fetched again), never the shared broker. The project's topics get
 * replication factor 3 and min.insync.replicas 2 there by default, the configured numbers when given, and a factor
 * the cluster cannot hold is refused naming the variable.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs, { type Admin } from 'kafkajs';
import { isolatedConfig, loadConfig } from '../../core/config.ts';
import { createKafka, ensureTopics } from '../../core/kafka.ts';
import { fetchKafkaJars, kafkaVersion, localKafkaBrokers } from '../../infra/kafka-local.ts';

const { ConfigResourceTypes } = kafkajs;
const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env };
  return run(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { env: childEnv, timeout: 170_000 }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}

/** A free run of ports for 3 nodes (each: client, controller, internal). */
async function freeRun(count: number): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await free(p);
    if (ok) return base;
  }
  throw new Error('no free run of ports');
}

/** A topic created a moment ago may not be known yet to the broker asked (metadata or its configs): ask again for a few seconds. */
async function askAgain<T>(ask: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ask();
    } catch (err) {
      if (attempt >= 20 || !/does not host this topic-partition|leader not available/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function replication(admin: Admin, topic: string): Promise<{ replicas: number[]; minIsr: string | undefined }> {
  const meta = await askAgain(() => admin.fetchTopicMetadata({ topics: [topic] }));
  // The broker asked for the configs may learn of the topic later than the one that answered the metadata: seen in CI.
  const cfg = await askAgain(() => admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }] }));
  return {
    replicas: meta.topics[0]!.partitions.map((p) => p.replicas.length),
    minIsr: cfg.resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue,
  };
}

describe('kafka start --brokers 3: a replicated cluster, and replication from config', () => {
  const sharedData = loadConfig({ ...(process.env.DATA_DIR ? { DATA_DIR: process.env.DATA_DIR } : {}) }).dataDir;
  const dataDir = mkdtempSync(join(tmpdir(), 'fs-cluster-'));
  let env: Record<string, string>;
  let brokers: string[];

  beforeAll(async () => {
    // The jars once, where every other local broker takes them from; this test's data folder links them.
    const libs = fetchKafkaJars(sharedData);
    mkdirSync(join(dataDir, `kafka-${kafkaVersion()}`), { recursive: true });
    symlinkSync(libs, join(dataDir, `kafka-${kafkaVersion()}`, 'libs'));
    const port = await freeRun(9);
    brokers = localKafkaBrokers('127.0.0.1', port, 3);
    env = { DATA_DIR: dataDir, KAFKA_BROKERS: `127.0.0.1:${port}`, KAFKA_PARTITIONS: '3' };
    const r = await cli(['kafka', 'start', '--brokers', '3'], env);
    expect(r.err.split('\n').filter((l) => l.startsWith('fraudstream:'))).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Kafka started at ${brokers.join(',')} (node 1 pid `);
    expect(r.out).toContain(`clients need: KAFKA_BROKERS=${brokers.join(',')}`);
    env.KAFKA_BROKERS = brokers.join(',');
  }, 180_000);

  afterAll(async () => {
    const r = await cli(['kafka', 'stop', '--wipe'], env);
    expect(r.out).toContain('Kafka stopped');
    rmSync(dataDir, { recursive: true, force: true });
  }, 90_000);

  it('three brokers are in the cluster, and `kafka start` made the project topics with factor 3 and min.insync 2', async () => {
    const config = loadConfig(env);
    const admin = createKafka(config, '-test').admin();
    await admin.connect();
    try {
      expect((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
      const r = await replication(admin, config.topics.transactions);
      expect(r.replicas).toEqual([3, 3, 3]);
      expect(r.minIsr).toBe('2');
    } finally {
      await admin.disconnect();
    }
  });

  it('configured numbers win over auto', async () => {
    const config = isolatedConfig(loadConfig({ ...env, KAFKA_REPLICATION_FACTOR: '2', KAFKA_MIN_INSYNC_REPLICAS: '1' }), `rf-${randomUUID().slice(0, 6)}`);
    await ensureTopics(config);
    const admin = createKafka(config, '-test').admin();
    await admin.connect();
    try {
      const r = await replication(admin, config.topics.decisions);
      expect(r.replicas).toEqual([2, 2, 2]);
      expect(r.minIsr).toBe('1');
      await admin.deleteTopics({ topics: Object.values(config.topics) });
    } finally {
      await admin.disconnect();
    }
  });

  it('a factor the cluster cannot hold is refused, naming the variable (exit 2)', async () => {
    const r = await cli(['topics', 'create'], { ...env, KAFKA_REPLICATION_FACTOR: '4', TOPIC_TRANSACTIONS: `tx-${randomUUID().slice(0, 6)}` });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^fraudstream: KAFKA_REPLICATION_FACTOR=4 but the cluster has 3 brokers: set it to at most 3, or auto \(CONFIG_INVALID\)$/m);
  });

  it('a second start finds the cluster running; starting it as another size is refused until it is wiped', async () => {
    const again = await cli(['kafka', 'start', '--brokers', '3'], env);
    expect(again.code).toBe(0);
    expect(again.out).toContain(`Kafka already running at ${brokers.join(',')}`);
    const other = await cli(['kafka', 'start', '--brokers', '2'], { ...env, KAFKA_BROKERS: brokers[0]! });
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/was formatted as 3 brokers, not 2: stop it and delete its data first \(fraudstream kafka stop --wipe\)/);
  });
});
