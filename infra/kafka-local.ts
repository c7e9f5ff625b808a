/**
 * A real Apache Kafka cluster without Docker: jars from Maven (infra/kafka/pom.xml) into a cache outside git, KRaft
 * storage formatted once, one or more combined broker+controller nodes on loopback. Optionally the client listener
 * speaks SASL over TLS, with certificates made here (openssl) and users set when the storage is formatted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { FraudstreamError, ErrorCodes, ServiceUnavailableError, UserInputError } from '../core/errors.ts';
import { kafkaConnection, waitForKafka, type KafkaTarget } from '../core/kafka.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const POM = join(here, 'kafka', 'pom.xml');
const LOG4J = join(here, 'kafka', 'log4j2.yaml');

/** Node i's ports are port + PORT_STRIDE * i: its client listener, the controller (+1) and, secured, the brokers' own (+2). */
export const PORT_STRIDE = 3;

export interface LocalKafkaUser {
  username: string;
  password: string;
}

export interface LocalKafkaOptions {
  /** Cache root, e.g. ~/.cache/fraudstream. Jars, data and logs live under it. */
  dataDir: string;
  host?: string;
  /** The first node's client port; node i listens on port + 3 i. */
  port?: number;
  /** Name of this cluster instance: separate data dir and pid files (tests use their own). */
  instance?: string;
  /** Brokers in the cluster, each a KRaft controller too (default 1). */
  nodes?: number;
  /**
   * Clients connect with SASL over TLS (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 enabled, these users for each);
   * the brokers talk to each other on a plaintext listener on loopback. Certificates are made once per instance.
   */
  saslSsl?: { users: LocalKafkaUser[] };
  onProgress?: (line: string) => void;
}

export interface LocalKafkaTls {
  /** The CA that signed the broker's certificate: a client's KAFKA_SSL_CA_FILE. */
  caFile: string;
  /** A client certificate and key signed by that CA (KAFKA_SSL_CERT_FILE / KAFKA_SSL_KEY_FILE; optional for clients). */
  clientCertFile: string;
  clientKeyFile: string;
}

export interface LocalKafka {
  brokers: string[];
  /** The first node's pid; unknown when the broker on the port was not started by this project. */
  pid?: number;
  /** Every node's pid by node id (started by this project). */
  pids: Map<number, number>;
  started: boolean;
  logFile: string;
  /** With saslSsl: the files a client needs. */
  tls?: LocalKafkaTls;
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

interface NodeLayout {
  id: number;
  clientPort: number;
  controllerPort: number;
  internalPort: number;
  root: string;
  data: string;
  props: string;
  pidFile: string;
  logFile: string;
}

interface Layout {
  root: string;
  host: string;
  nodes: NodeLayout[];
  tlsDir: string;
  /** What the instance was formatted as: a restart with other nodes or users needs a wipe. */
  stateFile: string;
}

function instanceRoot(opts: Pick<LocalKafkaOptions, 'dataDir' | 'instance'>): string {
  return join(resolve(opts.dataDir), `kafka-${kafkaVersion()}`, opts.instance ?? 'default');
}

function nodeDirs(root: string, count: number): string[] {
  // One node keeps the layout a single broker always had (its data survives this change); a cluster has a folder per node.
  return count === 1 ? [root] : Array.from({ length: count }, (_, i) => join(root, `node-${i + 1}`));
}

function layout(opts: LocalKafkaOptions): Layout {
  const root = instanceRoot(opts);
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 9092;
  const count = opts.nodes ?? 1;
  const nodes = nodeDirs(root, count).map((dir, i) => ({
    id: i + 1,
    clientPort: port + PORT_STRIDE * i,
    controllerPort: port + PORT_STRIDE * i + 1,
    internalPort: port + PORT_STRIDE * i + 2,
    root: dir,
    data: join(dir, 'data'),
    props: join(dir, 'server.properties'),
    pidFile: join(dir, 'broker.pid'),
    logFile: join(dir, 'broker.log'),
  }));
  return { root, host, nodes, tlsDir: join(root, 'tls'), stateFile: join(root, 'cluster.json') };
}

/** The client addresses of a local cluster of `nodes` brokers whose first node listens on host:port. */
export function localKafkaBrokers(host: string, port: number, nodes: number): string[] {
  return Array.from({ length: nodes }, (_, i) => `${host}:${port + PORT_STRIDE * i}`);
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

const SAFE_USER = /^[A-Za-z0-9._-]{1,64}$/;
const SAFE_PASSWORD = /^[A-Za-z0-9._~+\-/@#%^*!?]{6,128}$/;

function checkUsers(users: LocalKafkaUser[]): void {
  if (users.length === 0) throw new UserInputError('a SASL_SSL broker needs at least one user: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
  for (const u of users) {
    // The names and passwords go into the broker's JAAS line and the storage tool's SCRAM argument, whose syntax
    // has no escaping: a quote, comma, bracket or equals sign would cut them short.
    if (!SAFE_USER.test(u.username)) throw new UserInputError(`KAFKA_SASL_USERNAME=${JSON.stringify(u.username)}: the local broker takes letters, digits, '.', '_' and '-' (1 to 64)`);
    if (!SAFE_PASSWORD.test(u.password)) throw new UserInputError('KAFKA_SASL_PASSWORD: the local broker takes 6 to 128 letters, digits and ._~+-/@#%^*!? (no quotes, commas, brackets, = or spaces)');
  }
}

function openssl(args: string[], what: string): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw new FraudstreamError(ErrorCodes.MISSING_PREREQUISITE, `openssl was not found (${r.error.message}): install it (Debian: apt-get install openssl) to run a SASL_SSL broker`);
  if (r.status !== 0) throw new Error(`openssl failed making ${what}: ${r.stderr.trim()}`);
}

/**
 * A CA, the broker's certificate (for 127.0.0.1 and localhost, in a PKCS12 keystore) and a client certificate, made
 * once per instance so a client's KAFKA_SSL_CA_FILE stays valid across restarts.
 */
function ensureCertificates(tlsDir: string, progress: (l: string) => void): LocalKafkaTls & { keystore: string; keystorePassword: string } {
  const f = (name: string) => join(tlsDir, name);
  const files = {
    caFile: f('ca.pem'),
    clientCertFile: f('client.pem'),
    clientKeyFile: f('client.key'),
    keystore: f('broker.p12'),
    passwordFile: f('broker.p12.password'),
  };
  if (Object.values(files).every((p) => existsSync(p))) {
    return { ...files, keystorePassword: readFileSync(files.passwordFile, 'utf8').trim() };
  }
  progress(`making a CA and certificates in ${tlsDir} (openssl)`);
  rmSync(tlsDir, { recursive: true, force: true });
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const days = '3650';
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', files.caFile, '-days', days, '-subj', '/CN=fraudstream local Kafka CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    'the CA',
  );
  const signed = (name: string, cn: string, ext: string) => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`], `the ${name} key`);
    writeFileSync(f(`${name}.ext`), ext);
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', files.caFile, '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', days, '-extfile', f(`${name}.ext`)], `the ${name} certificate`);
  };
  signed('broker', 'localhost', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  signed('client', 'fraudstream-client', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const keystorePassword = randomBytes(18).toString('hex');
  openssl(['pkcs12', '-export', '-in', f('broker.pem'), '-inkey', f('broker.key'), '-certfile', files.caFile, '-name', 'broker', '-out', files.keystore, '-passout', `pass:${keystorePassword}`], 'the broker keystore');
  writeFileSync(files.passwordFile, keystorePassword, { mode: 0o600 });
  return { ...files, keystorePassword };
}

function nodeProperties(l: Layout, node: NodeLayout, count: number, secured: { users: LocalKafkaUser[]; keystore: string; keystorePassword: string; caFile: string } | undefined): string {
  const h = l.host;
  const voters = l.nodes.map((n) => `${n.id}@${h}:${n.controllerPort}`).join(',');
  // Internal topics follow the cluster's size: replicated three ways, two in sync, once there are three brokers.
  const rf = Math.min(3, count);
  const minIsr = rf >= 3 ? 2 : 1;
  const lines = [
    'process.roles=broker,controller',
    `node.id=${node.id}`,
    `controller.quorum.voters=${voters}`,
    'controller.listener.names=CONTROLLER',
    `log.dirs=${node.data}`,
    'num.partitions=1',
    'auto.create.topics.enable=false',
    `offsets.topic.replication.factor=${rf}`,
    'offsets.topic.num.partitions=10',
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${minIsr}`,
    'group.initial.rebalance.delay.ms=0',
    `share.coordinator.state.topic.replication.factor=${rf}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
  ];
  if (!secured) {
    lines.push(
      `listeners=PLAINTEXT://${h}:${node.clientPort},CONTROLLER://${h}:${node.controllerPort}`,
      `advertised.listeners=PLAINTEXT://${h}:${node.clientPort}`,
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    );
  } else {
    const jaasPlain = secured.users.map((u) => `user_${u.username}="${u.password}"`).join(' ');
    const p = 'listener.name.sasl_ssl';
    lines.push(
      `listeners=SASL_SSL://${h}:${node.clientPort},CONTROLLER://${h}:${node.controllerPort},INTERNAL://${h}:${node.internalPort}`,
      `advertised.listeners=SASL_SSL://${h}:${node.clientPort},INTERNAL://${h}:${node.internalPort}`,
      'listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT',
      'inter.broker.listener.name=INTERNAL',
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      `${p}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${jaasPlain};`,
      `${p}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
      `${p}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
      `${p}.ssl.keystore.type=PKCS12`,
      `${p}.ssl.keystore.location=${secured.keystore}`,
      `${p}.ssl.keystore.password=${secured.keystorePassword}`,
      `${p}.ssl.key.password=${secured.keystorePassword}`,
      `${p}.ssl.truststore.type=PEM`,
      `${p}.ssl.truststore.location=${secured.caFile}`,
      // A client may present a certificate (checked against the CA) or not: SASL says who it is either way.
      `${p}.ssl.client.auth=requested`,
    );
  }
  return `${lines.join('\n')}\n`;
}

interface InstanceState {
  nodes: number;
  /** A hash of the SASL users the storage was formatted with (SCRAM credentials live in the metadata log). */
  users?: string;
}

function usersHash(users: LocalKafkaUser[] | undefined): string | undefined {
  if (!users) return undefined;
  return createHash('sha256').update(JSON.stringify(users.map((u) => [u.username, u.password]).sort())).digest('hex');
}

function spawnNode(node: NodeLayout, classpath: string, heap: string): number {
  const out = openSync(node.logFile, 'a');
  const child = spawn(
    'java',
    [`-Xms256m`, `-Xmx${heap}`, '-XX:+UseG1GC', `-Dlog4j2.configurationFile=${LOG4J}`, '-cp', classpath, 'kafka.Kafka', node.props],
    { detached: true, stdio: ['ignore', out, out] },
  );
  child.unref();
  if (!child.pid) throw new Error('could not start java');
  writeFileSync(node.pidFile, String(child.pid));
  return child.pid;
}

function logTail(node: NodeLayout): string {
  return existsSync(node.logFile) ? readFileSync(node.logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
}

/** How a client of this project reaches the instance (the probe uses it, and so can a test). */
export function localKafkaTarget(brokers: string[], saslSsl: LocalKafkaOptions['saslSsl'], caFile: string | undefined): KafkaTarget {
  const first = saslSsl?.users[0];
  if (!first) return { brokers, security: { protocol: 'PLAINTEXT' } };
  return {
    brokers,
    security: { protocol: 'SASL_SSL', sasl: { mechanism: 'SCRAM-SHA-256', ...first }, tls: caFile ? { caFile } : {} },
  };
}

/** Waits until every one of `count` brokers is in the cluster's metadata (a node alone answers before its peers joined). */
export async function waitForBrokers(target: KafkaTarget, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await waitForKafka(target, timeoutMs);
  if (count <= 1) return;
  let seen = 0;
  while (Date.now() < deadline) {
    const admin = new Kafka({ clientId: 'fraudstream-probe', ...kafkaConnection(target), logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      seen = (await admin.describeCluster()).brokers.length;
      if (seen >= count) return;
    } catch {
      // a node still starting: ask again
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new ServiceUnavailableError(`only ${seen} of ${count} brokers joined the cluster at ${target.brokers.join(',')} within ${timeoutMs} ms`);
}

/** Starts the cluster (or finds it already running) and waits until every broker answers. */
export async function startLocalKafka(opts: LocalKafkaOptions): Promise<LocalKafka> {
  const count = opts.nodes ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new UserInputError(`--brokers must be a whole number from 1 to 9, got ${count}`);
  if (opts.saslSsl) checkUsers(opts.saslSsl.users);
  const l = layout(opts);
  const brokers = l.nodes.map((n) => `${l.host}:${n.clientPort}`);
  const progress = opts.onProgress ?? (() => undefined);
  const tlsPaths = opts.saslSsl ? { caFile: join(l.tlsDir, 'ca.pem'), clientCertFile: join(l.tlsDir, 'client.pem'), clientKeyFile: join(l.tlsDir, 'client.key') } : undefined;
  const target = localKafkaTarget(brokers, opts.saslSsl, tlsPaths?.caFile);
  // What the instance was formatted as decides before anything runs: its nodes and its SCRAM users are fixed then.
  const want: InstanceState = { nodes: count, ...(opts.saslSsl ? { users: usersHash(opts.saslSsl.users) } : {}) };
  const had: InstanceState | undefined = existsSync(l.stateFile)
    ? (JSON.parse(readFileSync(l.stateFile, 'utf8')) as InstanceState)
    : existsSync(join(l.root, 'data', 'meta.properties'))
      ? { nodes: 1 }
      : undefined;
  if (had && had.nodes !== count) {
    throw new UserInputError(`the Kafka instance in ${l.root} was formatted as ${had.nodes} broker${had.nodes === 1 ? '' : 's'}, not ${count}: stop it and delete its data first (fraudstream kafka stop --wipe)`);
  }
  if (had && want.users !== undefined && had.users !== want.users) {
    throw new UserInputError(`the Kafka instance in ${l.root} was formatted with other SASL users (SCRAM credentials are set when the storage is formatted): fraudstream kafka stop --wipe, then start it again`);
  }
  const running = new Map<number, number>();
  for (const n of l.nodes) {
    const pid = readPid(n.pidFile);
    if (pid) running.set(n.id, pid);
  }
  const first = l.nodes[0] as NodeLayout;
  if (running.size === l.nodes.length) {
    await waitForBrokers(target, count, 60_000);
    return { brokers, pid: running.get(1), pids: running, started: false, logFile: first.logFile, ...(tlsPaths ? { tls: tlsPaths } : {}) };
  }
  // A broker someone else runs on this port: use it rather than start one that cannot bind.
  if (running.size === 0 && (await waitForKafka({ brokers: [brokers[0] as string], security: target.security }, 1_000).then(() => true, () => false))) {
    progress(`a Kafka broker already answers at ${brokers[0]}; using it`);
    return { brokers, pids: running, started: false, logFile: first.logFile, ...(tlsPaths ? { tls: tlsPaths } : {}) };
  }
  const libs = fetchKafkaJars(opts.dataDir, progress);
  mkdirSync(l.root, { recursive: true });
  const formatted = l.nodes.some((n) => existsSync(join(n.data, 'meta.properties')));
  const secured = opts.saslSsl ? { users: opts.saslSsl.users, ...ensureCertificates(l.tlsDir, progress) } : undefined;
  for (const n of l.nodes) {
    mkdirSync(n.root, { recursive: true });
    writeFileSync(n.props, nodeProperties(l, n, count, secured), { mode: 0o600 });
  }
  const classpath = `${libs}/*`;
  if (!formatted) {
    progress(`formatting KRaft storage for ${count} node${count === 1 ? '' : 's'} in ${l.root}`);
    const uuid = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' }).stdout.trim();
    const scram = (secured?.users ?? []).flatMap((u) =>
      ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u.username},password=${u.password}]`]),
    );
    for (const n of l.nodes) {
      const fmt = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', uuid, '-c', n.props, ...scram], { encoding: 'utf8' });
      if (fmt.status !== 0) throw new Error(`formatting KRaft storage of node ${n.id} failed: ${fmt.stdout}${fmt.stderr}`);
    }
    writeFileSync(l.stateFile, JSON.stringify(want));
  }
  const heap = count === 1 ? '1g' : '512m';
  const pids = new Map(running);
  for (const n of l.nodes) if (!pids.has(n.id)) pids.set(n.id, spawnNode(n, classpath, heap));
  progress(`started Kafka ${kafkaVersion()} (${[...pids].map(([id, pid]) => `node ${id} pid ${pid}`).join(', ')}), waiting for ${brokers.join(',')}; log: ${first.logFile}`);
  try {
    await waitForBrokers(target, count, 90_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nbroker log tail:\n${logTail(first)}`, { cause: err });
  }
  return { brokers, pid: pids.get(1), pids, started: true, logFile: first.logFile, ...(tlsPaths ? { tls: tlsPaths } : {}) };
}

/** Node ids, pids (when running) and client addresses of a local cluster started with these options. */
export function localKafkaNodes(opts: LocalKafkaOptions): Array<{ id: number; pid?: number; broker: string }> {
  const l = layout(opts);
  return l.nodes.map((n) => {
    const pid = readPid(n.pidFile);
    return { id: n.id, ...(pid ? { pid } : {}), broker: `${l.host}:${n.clientPort}` };
  });
}

/** Starts one node of an instance again (after a kill), from the properties startLocalKafka wrote. Returns its pid. */
export function restartLocalKafkaNode(opts: LocalKafkaOptions, id: number): number {
  const l = layout(opts);
  const node = l.nodes.find((n) => n.id === id);
  if (!node || !existsSync(node.props)) throw new Error(`no node ${id} in ${l.root}`);
  const running = readPid(node.pidFile);
  if (running) return running;
  const libs = fetchKafkaJars(opts.dataDir);
  return spawnNode(node, `${libs}/*`, l.nodes.length === 1 ? '1g' : '512m');
}

/** Stops every node started by startLocalKafka (same dataDir/instance). Returns false if none was running. */
export async function stopLocalKafka(opts: Pick<LocalKafkaOptions, 'dataDir' | 'instance'> & { wipe?: boolean }): Promise<boolean> {
  const root = instanceRoot(opts);
  const pidFiles = [join(root, 'broker.pid')];
  if (existsSync(root)) {
    for (const d of readdirSync(root)) if (/^node-\d+$/.test(d)) pidFiles.push(join(root, d, 'broker.pid'));
  }
  const pids = pidFiles.flatMap((f) => {
    const pid = readPid(f);
    return pid ? [pid] : [];
  });
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const f of pidFiles) rmSync(f, { force: true });
  if (opts.wipe) rmSync(root, { recursive: true, force: true });
  return pids.length > 0;
}
