/**
 * A real Apache Kafka broker without Docker: jars from Maven (infra/kafka/pom.xml) into a cache outside git,
 * KRaft storage formatted once, one combined broker+controller on loopback.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FraudstreamError, ErrorCodes } from '../core/errors.ts';
import { waitForKafka } from '../core/kafka.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const POM = join(here, 'kafka', 'pom.xml');
const LOG4J = join(here, 'kafka', 'log4j2.yaml');

export interface LocalKafkaOptions {
  /** Cache root, e.g. ~/.cache/fraudstream. Jars, data and logs live under it. */
  dataDir: string;
  host?: string;
  port?: number;
  /** Name of this broker instance: separate data dir and pid file (tests use their own). */
  instance?: string;
  onProgress?: (line: string) => void;
}

export interface LocalKafka {
  brokers: string[];
  /** Unknown when the broker on the port was not started by this project. */
  pid?: number;
  started: boolean;
  logFile: string;
}

export function kafkaVersion(): string {
  const m = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'));
  if (!m?.[1]) throw new Error(`no kafka.version in ${POM}`);
  return m[1];
}

function requireTool(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new FraudstreamError(
      ErrorCodes.MISSING_PREREQUISITE,
      `${cmd} was not found or failed (${r.error?.message ?? r.stderr.trim().split('\n')[0]}). ${what}`,
    );
  }
}

/** Resolves the broker's jars with Maven into the cache (once per version). Returns the lib folder. */
export function fetchKafkaJars(dataDir: string, onProgress: (l: string) => void = () => undefined): string {
  const version = kafkaVersion();
  const libs = join(dataDir, `kafka-${version}`, 'libs');
  const marker = join(libs, '.complete');
  if (existsSync(marker)) return libs;
  requireTool('java', ['-version'], 'Install Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless), or set KAFKA_BROKERS to a running broker.');
  requireTool('mvn', ['-v'], 'Install Apache Maven (Debian: apt-get install maven), or set KAFKA_BROKERS to a running broker.');
  onProgress(`fetching Apache Kafka ${version} and its dependencies with Maven into ${libs}`);
  mkdirSync(libs, { recursive: true });
  const r = spawnSync(
    'mvn',
    ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`, '-DincludeScope=runtime'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (r.status !== 0) {
    throw new FraudstreamError(ErrorCodes.MISSING_PREREQUISITE, `Maven could not fetch Kafka ${version}:\n${r.stdout}${r.stderr}`);
  }
  const jars = readdirSync(libs).filter((f) => f.endsWith('.jar'));
  writeFileSync(marker, jars.join('\n'));
  onProgress(`fetched ${jars.length} jars`);
  return libs;
}

function paths(opts: LocalKafkaOptions) {
  const root = join(resolve(opts.dataDir), `kafka-${kafkaVersion()}`, opts.instance ?? 'default');
  return {
    root,
    data: join(root, 'data'),
    props: join(root, 'server.properties'),
    pidFile: join(root, 'broker.pid'),
    logFile: join(root, 'broker.log'),
  };
}

/** Whether a process with this pid exists (signal 0 tests without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** Starts the broker (or finds it already running) and waits until it answers. */
export async function startLocalKafka(opts: LocalKafkaOptions): Promise<LocalKafka> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 9092;
  const brokers = [`${host}:${port}`];
  const progress = opts.onProgress ?? (() => undefined);
  const p = paths(opts);
  const running = readPid(p.pidFile);
  if (running) {
    await waitForKafka(brokers, 60_000);
    return { brokers, pid: running, started: false, logFile: p.logFile };
  }
  // A broker someone else runs on this port: use it rather than start one that cannot bind.
  if (await waitForKafka(brokers, 1_000).then(() => true, () => false)) {
    progress(`a Kafka broker already answers at ${brokers[0]}; using it`);
    return { brokers, started: false, logFile: p.logFile };
  }
  const libs = fetchKafkaJars(opts.dataDir, progress);
  mkdirSync(p.root, { recursive: true });
  writeFileSync(
    p.props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${host}:${port + 1}`,
      `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${port + 1}`,
      `advertised.listeners=PLAINTEXT://${host}:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${p.data}`,
      'num.partitions=1',
      'auto.create.topics.enable=false',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=10',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      '',
    ].join('\n'),
  );
  const classpath = `${libs}/*`;
  if (!existsSync(join(p.data, 'meta.properties'))) {
    progress(`formatting KRaft storage in ${p.data}`);
    const uuid = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' }).stdout.trim();
    const fmt = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', uuid, '-c', p.props], {
      encoding: 'utf8',
    });
    if (fmt.status !== 0) throw new Error(`formatting KRaft storage failed: ${fmt.stdout}${fmt.stderr}`);
  }
  const out = openSync(p.logFile, 'a');
  const child = spawn(
    'java',
    ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', `-Dlog4j2.configurationFile=${LOG4J}`, '-cp', classpath, 'kafka.Kafka', p.props],
    { detached: true, stdio: ['ignore', out, out] },
  );
  child.unref();
  if (!child.pid) throw new Error('could not start java');
  writeFileSync(p.pidFile, String(child.pid));
  progress(`started Kafka ${kafkaVersion()} (pid ${child.pid}), waiting for ${brokers[0]}; log: ${p.logFile}`);
  try {
    await waitForKafka(brokers, 90_000);
  } catch (err) {
    const tail = existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
    throw new Error(`${(err as Error).message}\nbroker log tail:\n${tail}`);
  }
  return { brokers, pid: child.pid, started: true, logFile: p.logFile };
}

/** Stops the broker started by startLocalKafka (same dataDir/instance). Returns false if none was running. */
export async function stopLocalKafka(opts: Pick<LocalKafkaOptions, 'dataDir' | 'instance'> & { wipe?: boolean }): Promise<boolean> {
  const p = paths(opts);
  const pid = readPid(p.pidFile);
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(p.pidFile, { force: true });
  if (opts.wipe) rmSync(p.root, { recursive: true, force: true });
  return pid !== undefined;
}
