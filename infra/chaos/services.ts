/**
 * The chaos suite's own broker and redis-server, never the shared ones: it kills them. Both are stopped (and the
 * broker's data wiped) when the run ends, and killed by pid if the process exits without that.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { alive, localKafkaBrokers, startLocalKafka, stopLocalKafka, waitForBrokers } from '../kafka-local.ts';
import type { KafkaTarget } from '../../core/kafka.ts';
import { FraudstreamError, ErrorCodes } from '../../core/errors.ts';

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


export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
