import { Cluster, Redis, type ChainableCommander } from 'ioredis';
import type { ClusterNode, Config } from './config.ts';
import { logger } from './logger.ts';

/**
 * A Redis client that keeps retrying while Redis is down instead of failing the process:
 * commands queue (offline queue) and stages wait; see README "When Redis is down".
 *
 * With REDIS_CLUSTER_NODES it is an ioredis Cluster (README "Redis Cluster"). It is typed as a Redis so that the
 * callers keep one type: the two share the command API, and what differs is handled here or by the key families
 * (state/*): a pipeline is split per node on exec (clusterPipeline below), MGET/DEL/SCAN over many keys go through
 * mgetKeys, deleteKeys and scanKeys, and every script or MULTI only touches keys of one hash slot.
 */
export function createRedis(config: Config, name = 'redis'): Redis {
  const log = logger(name);
  const client = config.redis.clusterNodes ? createCluster(config.redis.url, config.redis.clusterNodes) : new Redis(config.redis.url, {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(200 * times, 2_000),
    lazyConnect: false,
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message }, 'redis unavailable; retrying');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info('redis reconnected');
    down = false;
  });
  return client;
}

/** An ioredis Cluster with the single client's behaviour (retries forever, queues while down) and the URL's credentials and TLS. */
function createCluster(url: string, nodes: ClusterNode[]): Redis {
  const u = new URL(url);
  const cluster = new Cluster(nodes, {
    clusterRetryStrategy: (times) => Math.min(200 * times, 2_000),
    enableOfflineQueue: true,
    // A master that died is replaced by its replica after cluster-node-timeout: commands wait and follow the new map.
    retryDelayOnFailover: 300,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    retryDelayOnMoved: 50,
    maxRedirections: 64,
    slotsRefreshTimeout: 2_000,
    redisOptions: {
      maxRetriesPerRequest: null,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  });
  const original = cluster.pipeline.bind(cluster);
  cluster.pipeline = ((commands?: unknown[][]) => {
    if (commands) throw new Error('cluster pipeline: pass no command list; queue commands on the pipeline instead');
    return clusterPipeline(cluster, original);
  }) as Cluster['pipeline'];
  return cluster as unknown as Redis;
}

/** True when the client is an ioredis Cluster (REDIS_CLUSTER_NODES). */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

interface Queued {
  getKeys(): Array<string | Buffer>;
}

/**
 * A pipeline whose commands may touch keys of any slot: commands are queued as on any pipeline, and exec() sends one
 * ioredis pipeline per node (the node that serves each command's first key), all at once, and answers in the order
 * they were queued. ioredis' own cluster pipeline refuses keys served by different nodes. Not atomic (no pipeline
 * is); a command whose own keys span slots is refused by ioredis, as it would be by Redis (CROSSSLOT).
 */
function clusterPipeline(cluster: Cluster, original: () => ChainableCommander): ChainableCommander {
  // The probe is never sent: queuing a command on it is how ioredis works out that command's keys (defined scripts
  // included), which picks its node.
  const probe = original();
  const calls: Array<{ name: string; args: unknown[]; keys: Array<string | Buffer> }> = [];
  const queueOf = (p: ChainableCommander): Queued[] => {
    const q = (p as unknown as { _queue?: Queued[] })._queue;
    if (!Array.isArray(q)) throw new Error('cluster pipeline: this ioredis version does not expose its pipeline queue');
    return q;
  };
  const exec = async (): Promise<Array<[Error | null, unknown]>> => {
    if (calls.length === 0) return [];
    const groups = new Map<string, number[]>();
    calls.forEach((c, i) => {
      const key = c.keys[0];
      const slot = key === undefined ? -1 : keySlot(key);
      const group = slot < 0 ? 'any' : (cluster.slots[slot]?.join(',') ?? `slot:${slot}`);
      const list = groups.get(group);
      if (list) list.push(i);
      else groups.set(group, [i]);
    });
    const out: Array<[Error | null, unknown]> = new Array(calls.length);
    await Promise.all(
      [...groups.values()].map(async (indices) => {
        const p = original() as unknown as Record<string, (...a: unknown[]) => unknown> & { exec(): Promise<Array<[Error | null, unknown]> | null> };
        for (const i of indices) p[calls[i]!.name]!(...calls[i]!.args);
        const results = await p.exec();
        if (!results) throw new Error('redis cluster pipeline was discarded');
        indices.forEach((i, j) => (out[i] = results[j]!));
        // ioredis follows a redirection for a pipeline only when every error in it is the same one; right after a
        // failover (slot map not refreshed yet) the commands of several moved slots each get their own MOVED and come
        // back as errors. A redirected command was not run: send it again alone, in order (a single command follows it).
        for (const i of indices.filter((x) => redirected(out[x]![0]))) {
          const c = calls[i]!;
          out[i] = await (cluster as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[c.name]!(...c.args).then(
            (v): [Error | null, unknown] => [null, v],
            (err: Error): [Error | null, unknown] => [err, null],
          );
        }
      }),
    );
    return out;
  };
  const proxy: ChainableCommander = new Proxy(probe, {
    get(target, prop, receiver) {
      if (prop === 'exec') return exec;
      if (prop === 'length') return calls.length;
      if (prop === 'then' || typeof prop === 'symbol') return Reflect.get(target, prop, receiver) as unknown;
      const fn = (target as unknown as Record<string, unknown>)[prop];
      if (typeof fn !== 'function') return fn;
      return (...args: unknown[]) => {
        const before = queueOf(probe).length;
        (fn as (...a: unknown[]) => unknown).apply(probe, args);
        const q = queueOf(probe);
        if (q.length !== before + 1) throw new Error(`cluster pipeline: ${prop} is not a single command (multi/exec are not supported here: use redis.multi() with keys of one slot)`);
        calls.push({ name: prop, args, keys: q[q.length - 1]!.getKeys() });
        return proxy;
      };
    },
  });
  return proxy;
}

/** A reply that a cluster node did not run the command and names where to send it. */
const redirected = (err: Error | null): boolean => err !== null && /^(MOVED|ASK) \d+ /.test(err.message);

/** GET of many keys: one MGET on a single node; on a cluster, one GET per key pipelined per node (MGET must not span slots). */
export async function mgetKeys(redis: Redis, keys: readonly string[]): Promise<Array<string | null>> {
  if (keys.length === 0) return [];
  if (!isCluster(redis)) return redis.mget(...keys);
  const p = redis.pipeline();
  for (const k of keys) p.get(k);
  return ((await p.exec()) ?? []).map(([err, v]) => {
    if (err) throw err;
    return v as string | null;
  });
}

/** UNLINK of many keys (how many existed): in chunks of `chunk` on a single node, one per key pipelined on a cluster. */
export async function deleteKeys(redis: Redis, keys: readonly string[], chunk = 1_000): Promise<number> {
  let n = 0;
  if (!isCluster(redis)) {
    for (let i = 0; i < keys.length; i += chunk) n += await redis.unlink(...keys.slice(i, i + chunk));
    return n;
  }
  for (let i = 0; i < keys.length; i += chunk) {
    const p = redis.pipeline();
    for (const k of keys.slice(i, i + chunk)) p.unlink(k);
    for (const [err, v] of (await p.exec()) ?? []) {
      if (err) throw err;
      n += Number(v);
    }
  }
  return n;
}

/**
 * SCAN MATCH over the whole keyspace: on a cluster, over every master (a key lives on exactly one). `onKeys` gets each
 * page; keys a page holds may repeat across pages (SCAN's own guarantee), never across masters.
 */
export async function scanKeys(redis: Redis, pattern: string, onKeys: (keys: string[]) => Promise<void> | void, count = 1_000): Promise<void> {
  const nodes: Redis[] = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length) await onKeys(keys);
    } while (cursor !== '0');
  }
}

/** Every key matching `pattern` (SCAN, every master on a cluster). */
export async function allKeys(redis: Redis, pattern: string, count = 1_000): Promise<string[]> {
  const out = new Set<string>();
  await scanKeys(redis, pattern, (keys) => void keys.forEach((k) => out.add(k)), count);
  return [...out];
}

/** Runs `fn` on every master (FLUSHDB, INFO...); on a single node, on it. */
export async function onEveryMaster<T>(redis: Redis, fn: (node: Redis) => Promise<T>): Promise<T[]> {
  const nodes: Redis[] = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  return Promise.all(nodes.map(fn));
}

const CRC16 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The Redis Cluster hash slot of a key (CRC16 of the key, or of its first non-empty {tag}, mod 16384). */
export function keySlot(key: string | Buffer): number {
  let b = typeof key === 'string' ? Buffer.from(key) : key;
  const open = b.indexOf(0x7b);
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1);
    if (close > open + 1) b = b.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of b) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ byte) & 0xff]!;
  return crc & 0x3fff;
}

/**
 * The prefix of a key family whose keys a script or a MULTI uses together: on a cluster `<prefix>{<tag>}:`, so the
 * family shares one hash slot; on a single Redis `prefix` itself (key names as they always were). A family in one
 * slot lives on one master: fine for the console's stores (cases, policy, audit), not for per-transaction families,
 * which are tagged per entity instead.
 */
export function familyPrefix(redis: Redis, prefix: string, tag: string): string {
  return isCluster(redis) ? `${prefix}{${tag}}:` : prefix;
}

/** What waitForReplicas found: masters written to that have replicas, and how many of them had one acknowledge in time. */
export interface ReplicaWait {
  masters: number;
  acknowledged: number;
}

/**
 * Redis Cluster: after writes to `keys`, waits (WAIT 1, at most `timeoutMs`) until a replica of each master serving one
 * of them has acknowledged this client's writes so far, so a master killed right after cannot take them with it
 * (replication is asynchronous otherwise). Masters without a connected replica (INFO replication, read again every
 * REPLICA_INFO_MS) are skipped (WAIT would only time out), as is a single Redis. WAIT is not consensus: a replica that
 * acknowledged can still lose the election. What did not acknowledge in time is counted, not thrown: the caller decides
 * (the writes stand on the master either way).
 */
export async function waitForReplicas(redis: Redis, keys: readonly string[], timeoutMs: number, now = Date.now()): Promise<ReplicaWait> {
  if (!isCluster(redis) || keys.length === 0) return { masters: 0, acknowledged: 0 };
  const cluster = redis as unknown as Cluster;
  const touched = new Set<string>();
  for (const k of keys) {
    const owner = cluster.slots[keySlot(k)]?.[0];
    if (owner) touched.add(owner);
  }
  let known = replicaState.get(cluster);
  if (!known) replicaState.set(cluster, (known = new Map()));
  const byKey = new Map(cluster.nodes('master').map((n) => [`${n.options.host}:${n.options.port}`, n] as const));
  const replies = await Promise.all(
    [...touched].map(async (m): Promise<number | undefined> => {
      const node = byKey.get(m as `${string}:${number}`);
      if (!node) return undefined;
      let state = known.get(m);
      if (!state || now - state.at > REPLICA_INFO_MS) {
        const info = await node.info('replication');
        state = { replicas: Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0), at: now, skipUntil: state?.skipUntil ?? 0 };
        known.set(m, state);
      }
      if (state.replicas < 1) return undefined;
      if (state.skipUntil > now) return 0;
      const n = Number(await node.call('WAIT', '1', String(timeoutMs)));
      // A replica that missed the wait (down, or far behind) is not waited on again for REPLICA_SKIP_MS: otherwise every
      // batch would sit out the whole timeout until the next INFO says it is gone.
      if (n < 1) state.skipUntil = now + REPLICA_SKIP_MS;
      return n;
    }),
  );
  const waited = replies.filter((n): n is number => n !== undefined);
  return { masters: waited.length, acknowledged: waited.filter((n) => n >= 1).length };
}

/** How often a master's replica count is read again (INFO replication) by waitForReplicas. */
export const REPLICA_INFO_MS = 5_000;
/** How long a master whose replica missed a WAIT is written to without waiting (see waitForReplicas). */
export const REPLICA_SKIP_MS = 30_000;
const replicaState = new WeakMap<Cluster, Map<string, { replicas: number; at: number; skipUntil: number }>>();
