/**
 * The chaos suite's own broker and redis-server, never the shared ones: it kills them. Both are stopped (and the
 * broker's data wiped) when the run ends, and killed by pid if the process exits without that.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { alive, localKafkaBrokers, startLocalKafka, stopLocalKafka, waitForBrokers } from '../kafka-local.ts';
import type { KafkaTarget } from '../../core/kafka.ts';
import { FraudstreamError, ErrorCodes } from '../../core/errors.ts';
import { startLocalRedisCluster, type LocalRedisCluster } from '../redis-local.ts';
import { parseClusterNodes, type ClusterNodeLine } from './pure/redis-cluster.ts';

export interface ChaosBrokerOptions {
  dataDir: string;
  port: number;
  instance: string;
  /** Brokers in the suite's cluster (default 1); node i listens on port + 3 i. */
  nodes?: number;
  log: (line: string) => void;
}

export class ChaosBroker {
  readonly brokers: string[];
  readonly nodes: number;
  private pids = new Map<number, number>();

  constructor(private readonly opts: ChaosBrokerOptions) {
    this.nodes = opts.nodes ?? 1;
    this.brokers = localKafkaBrokers('127.0.0.1', opts.port, this.nodes);
  }

  private get target(): KafkaTarget {
    return { brokers: this.brokers, security: { protocol: 'PLAINTEXT' } };
  }

  /** Wipes what a previous run of this instance left, then starts a fresh broker. */
  async startFresh(): Promise<void> {
    await stopLocalKafka({ dataDir: this.opts.dataDir, instance: this.opts.instance, wipe: true });
    await this.start();
  }

  /** Starts every node that is not running (on its existing data) and waits until all of them are in the cluster. */
  async start(): Promise<void> {
    const k = await startLocalKafka({ dataDir: this.opts.dataDir, port: this.opts.port, instance: this.opts.instance, nodes: this.nodes, onProgress: (l) => this.opts.log(`broker: ${l}`) });
    if (k.pids.size === 0) {
      throw new FraudstreamError(ErrorCodes.CONFIG_INVALID, `a Kafka broker this run did not start answers on ${this.brokers[0]}; the chaos suite kills its broker, so pick a free port (--kafka-port)`);
    }
    this.pids = new Map(k.pids);
  }

  get running(): boolean {
    return this.pids.size === this.nodes && [...this.pids.values()].every(alive);
  }

  /** Node ids and pids of the running nodes. */
  nodePids(): Map<number, number> {
    return new Map([...this.pids].filter(([, pid]) => alive(pid)));
  }

  /** kill -9 every node's JVM (or only node `id`) and wait until it is gone. */
  async kill9(id?: number): Promise<void> {
    const victims = [...this.pids].filter(([node]) => id === undefined || node === id);
    for (const [, pid] of victims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + 10_000;
    while (victims.some(([, pid]) => alive(pid)) && Date.now() < deadline) await sleep(50);
    for (const [node] of victims) this.pids.delete(node);
  }

  /** Starts the broker again if it is not running (a scenario that failed mid-fault leaves it down). */
  async ensureUp(): Promise<void> {
    if (this.running) await waitForBrokers(this.target, this.nodes, 90_000);
    else await this.start();
  }

  async stop(): Promise<void> {
    await stopLocalKafka({ dataDir: this.opts.dataDir, instance: this.opts.instance, wipe: true }).catch(() => undefined);
    this.pids.clear();
  }

  /** For process.on('exit'): no awaiting possible there. */
  killNow(): void {
    for (const pid of this.pids.values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** A redis-server without persistence on a fixed port, so a restart comes back at the same address (empty). */
export class ChaosRedis {
  readonly url: string;
  private child: ChildProcess | undefined;

  constructor(private readonly port: number) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    if (spawnSync('redis-server', ['--version']).error) {
      throw new FraudstreamError(ErrorCodes.MISSING_PREREQUISITE, 'redis-server was not found. Install Redis (Debian: apt-get install redis-server).');
    }
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    this.child = child;
    const { Redis } = await import('ioredis');
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited at start (is port ${this.port} taken? pick another with --redis-port)`);
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.ping();
        // Another redis-server on this port would answer too: make sure it is ours.
        const info = await c.info('server');
        c.disconnect();
        if (!info.includes(`process_id:${child.pid}`)) throw new Error(`another redis-server answers on port ${this.port}; pick another with --redis-port`);
        return;
      } catch (err) {
        c.disconnect();
        if (String(err).includes('another redis-server')) throw err;
        if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${this.url}`);
        await sleep(100);
      }
    }
  }

  /** Stops it (SIGKILL unless told otherwise) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  /** Starts it again if a scenario that failed mid-fault left it down. */
  async ensureUp(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) await this.start();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  killNow(): void {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * The suite's Redis Cluster (scenarios with `redisCluster: true`): 3 masters and a replica each on fixed loopback
 * ports, without persistence, node timeout 2 s (infra/redis-local.ts startLocalRedisCluster). A node killed with
 * kill -9 is started again on its config file: it rejoins, as a replica once its replica took over.
 */
export class ChaosRedisCluster {
  readonly nodes: string[];
  private cluster: LocalRedisCluster | undefined;

  constructor(readonly ports: number[]) {
    this.nodes = ports.map((p) => `127.0.0.1:${p}`);
  }

  async start(): Promise<void> {
    try {
      this.cluster = await startLocalRedisCluster({ masters: 3, replicas: 1, ports: this.ports });
    } catch (err) {
      throw new Error(`the chaos suite's Redis Cluster on ports ${this.ports[0]} to ${this.ports.at(-1)} (and 10000 above) did not start: ${(err as Error).message}; pick another --redis-port`);
    }
  }

  private get c(): LocalRedisCluster {
    if (!this.cluster) throw new Error('the chaos Redis Cluster is not started');
    return this.cluster;
  }

  alive(port: number): boolean {
    return this.cluster?.alive(port) ?? false;
  }

  /** kill -9 of the node on `port`; resolves once the process is gone. */
  async kill9(port: number): Promise<void> {
    this.c.kill(port);
    const deadline = Date.now() + 10_000;
    while (this.c.alive(port) && Date.now() < deadline) await sleep(20);
    if (this.c.alive(port)) throw new Error(`redis-server on port ${port} still runs 10 s after SIGKILL`);
  }

  async restart(port: number): Promise<void> {
    await this.c.restart(port);
  }

  /** Starts the nodes a scenario left down (it rejoins as a replica). */
  async ensureUp(): Promise<void> {
    if (!this.cluster) return this.start();
    for (const p of this.ports) if (!this.cluster.alive(p)) await this.cluster.restart(p);
  }

  /** One command on one node (its own connection, no cluster redirection), e.g. CLUSTER NODES. */
  async call(port: number, ...args: string[]): Promise<unknown> {
    const { Redis } = await import('ioredis');
    const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return await c.call(args[0]!, ...args.slice(1));
    } finally {
      c.disconnect();
    }
  }

  /** CLUSTER NODES as node `port` sees it. */
  async view(port: number): Promise<ClusterNodeLine[]> {
    return parseClusterNodes(String(await this.call(port, 'CLUSTER', 'NODES')));
  }

  /** cluster_state as node `port` reports it ('ok' or 'fail'). */
  async state(port: number): Promise<string | undefined> {
    return /cluster_state:(\w+)/.exec(String(await this.call(port, 'CLUSTER', 'INFO')))?.[1];
  }

  async stop(): Promise<void> {
    await this.cluster?.stop();
    this.cluster = undefined;
  }

  killNow(): void {
    this.cluster?.killNow();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
