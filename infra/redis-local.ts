import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { FraudstreamError, ErrorCodes } from '../core/errors.ts';
import { freePort } from './ports.ts';

export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
}

/**
 * The persistence flags: with a directory, an append-only file fsynced every second (a crash loses at most the last
 * second of feature updates, claims and cases; the rest comes back with the server), else none at all.
 */
export function redisPersistenceArgs(dir: string | undefined): string[] {
  return dir ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''] : ['--save', '', '--appendonly', 'no'];
}

/**
 * The memory limit and what goes when it is reached (issue 19): `volatile-lru` evicts only keys with a TTL, least
 * recently used first. Keys without a TTL (the record views restored from Kafka: policy, accounts, open cases, audit
 * view; the view markers; the dedupe claims, swept by time bucket in state/outcomes.ts) are never evicted; the caches
 * that grow with traffic all carry one (feature state, card history, search per card and merchant): README "Redis
 * memory" says what evicting each costs, and that maxmemory must hold a day of dedupe claims.
 * '0': no limit, and no policy flag (Redis' default, noeviction).
 */
export const REDIS_EVICTION_POLICY = 'volatile-lru';
export function redisMemoryArgs(maxmemory: string | undefined): string[] {
  return maxmemory && maxmemory !== '0' ? ['--maxmemory', maxmemory, '--maxmemory-policy', REDIS_EVICTION_POLICY] : [];
}

/**
 * Starts a redis-server on a free loopback port: with `dir`, persistent (AOF, fsync every second, in that directory:
 * the demo's, so a restart finds its state again); without, a throwaway one.
 */
export async function startLocalRedis(opts: { port?: number; dir?: string; maxmemory?: string } = {}): Promise<LocalRedis> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new FraudstreamError(
      ErrorCodes.MISSING_PREREQUISITE,
      'redis-server was not found. Install Redis (Debian: apt-get install redis-server) or set REDIS_URL.',
    );
  }
  const port = opts.port ?? (await freePort());
  const dir = opts.dir === undefined ? undefined : resolve(opts.dir);
  if (dir) mkdirSync(dir, { recursive: true });
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...redisPersistenceArgs(dir), ...redisMemoryArgs(opts.maxmemory)], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const { Redis } = await import('ioredis');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      break;
    } catch {
      c.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${url}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export interface LocalRedisCluster {
  /** host:port of every node (masters first), as REDIS_CLUSTER_NODES takes them. */
  nodes: string[];
  ports: number[];
  /** kill -9 of the node on `port` (the chaos scenario's failover). */
  kill(port: number): void;
  /** Starts the node on `port` again (same config file: it rejoins, as a replica once its replica took over). */
  restart(port: number): Promise<void>;
  /** True while the redis-server started on `port` runs. */
  alive(port: number): boolean;
  stop(): Promise<void>;
  /** SIGKILL of every node, without waiting (for process.on('exit')). */
  killNow(): void;
}

/**
 * Starts a Redis Cluster on loopback: `masters` masters and `replicas` replicas per master (redis-server
 * --cluster-enabled, joined by `redis-cli --cluster create`), on `ports` (default: free ports), without
 * persistence, in a temporary directory. Resolves once every node says cluster_state:ok. The node timeout is short
 * (2 s) so a killed master is replaced quickly.
 */
export async function startLocalRedisCluster(opts: { masters?: number; replicas?: number; ports?: number[]; nodeTimeoutMs?: number } = {}): Promise<LocalRedisCluster> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const count = masters * (1 + replicas);
  if (masters < 3) throw new Error('a Redis Cluster needs at least 3 masters');
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) throw new FraudstreamError(ErrorCodes.MISSING_PREREQUISITE, 'redis-server was not found. Install Redis (Debian: apt-get install redis-server).');
  const ports = opts.ports ?? (await Promise.all(Array.from({ length: count }, () => freePort())));
  if (ports.length !== count) throw new Error(`a cluster of ${masters} masters with ${replicas} replicas each needs ${count} ports, got ${ports.length}`);
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(resolve(tmpdir(), 'fraudstream-redis-cluster-'));
  const children = new Map<number, ChildProcess>();
  const start = (port: number): void => {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2_000), '--dir', dir, ...redisPersistenceArgs(undefined)],
      { stdio: 'ignore' },
    );
    children.set(port, child);
  };
  const cli = (args: string[]): string => {
    const r = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`redis cluster: ${what} within 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const answers = (port: number): boolean => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
  const clusterOk = (port: number): boolean => /cluster_state:ok/.test(spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout);
  const stop = async (): Promise<void> => {
    await Promise.all(
      [...children.values()].map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            c.once('exit', () => r());
            c.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const p of ports) start(p);
    await waitFor('every node answers', () => ports.every(answers));
    // A node that answers but is not ours (its port was taken) would join someone else's data to the cluster.
    await new Promise((r) => setTimeout(r, 200));
    const gone = ports.filter((p) => children.get(p)?.exitCode !== null);
    if (gone.length) throw new Error(`redis cluster: redis-server exited at start on port ${gone.join(', ')} (taken by another process? pick other ports)`);
    cli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    await waitFor('every node reports cluster_state:ok', () => ports.every(clusterOk));
    // Replicas attach and take their first full copy after the cluster is ok: until then a killed master loses everything.
    const linked = (port: number): boolean => /master_link_status:up/.test(spawnSync('redis-cli', ['-p', String(port), 'info', 'replication'], { encoding: 'utf8' }).stdout);
    await waitFor(`all ${masters * replicas} replicas in sync with their masters`, () => ports.filter(linked).length === masters * replicas);
  } catch (err) {
    await stop();
    throw err;
  }
  const alive = (port: number): boolean => {
    const c = children.get(port);
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  };
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    ports,
    kill: (port) => void children.get(port)?.kill('SIGKILL'),
    restart: async (port) => {
      start(port);
      await waitFor(`node ${port} answers again`, () => answers(port));
    },
    alive,
    stop,
    killNow: () => {
      for (const port of children.keys()) if (alive(port)) children.get(port)!.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
