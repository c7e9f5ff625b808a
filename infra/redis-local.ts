import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { FraudstreamError, ErrorCodes } from '../core/errors.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

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
 * view; the view markers) are never evicted; the families that grow with traffic all carry one (feature state, card
 * history, search per card and merchant, dedupe claims): README "Redis memory" says what evicting each costs.
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
