/**
 * kafkajs 2.2.4 asks the cluster who the coordinator is before every coordinator request: a transactional producer
 * sends FindCoordinator before AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit (the group's coordinator) and
 * EndTxn, so each transaction of the stage runner cost four FindCoordinator round trips beside its five real
 * requests. Counted in the pipeline at 500 tx/s (`.scratch` probe): 16,643 FindCoordinator requests for 4,157
 * transactions, the most frequent request of the process. The Java client keeps the coordinator until a request to
 * it fails; this does the same for kafkajs.
 *
 * What is cached: `Cluster.findGroupCoordinator` answers, per cluster object (one per client), by coordinator type
 * and key (group id or transactional id). An answer is used again while:
 * - its broker's connection is up (a broker that went away is asked about again, as before);
 * - no request of the process has failed since with a coordinator error (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
 *   COORDINATOR_LOAD_IN_PROGRESS and the older names) or a connection error: any such failure drops every cached
 *   answer, so the retry that follows asks the cluster again, exactly as kafkajs did before;
 * - it is younger than COORDINATOR_TTL_MS (a coordinator that moved without failing anything is noticed anyway).
 *
 * It is installed by wrapping `findGroupCoordinator` on kafkajs' Cluster prototype and `send` on its Connection
 * prototype (to see the failures), once per process, by core/kafka.ts.
 */
import { createRequire } from 'node:module';

export const COORDINATOR_TTL_MS = 10_000;

/** Errors after which no cached coordinator is trusted (kafkajs' protocol error types and error names). */
const STALE_TYPES = new Set(['NOT_COORDINATOR', 'NOT_COORDINATOR_FOR_GROUP', 'COORDINATOR_NOT_AVAILABLE', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS', 'GROUP_LOAD_IN_PROGRESS']);
const STALE_NAMES = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound']);

/** True for a failure after which cached coordinators may be wrong. */
export function makesCoordinatorsStale(err: unknown): boolean {
  const e = err as { type?: unknown; name?: unknown; code?: unknown } | null;
  if (!e) return false;
  return (typeof e.type === 'string' && STALE_TYPES.has(e.type)) || (typeof e.name === 'string' && STALE_NAMES.has(e.name)) || e.code === 'ECONNREFUSED';
}

interface BrokerLike {
  isConnected(): boolean;
}
type FindCoordinator = (this: object, args: { groupId: string; coordinatorType?: number }) => Promise<BrokerLike>;
interface Entry {
  broker: BrokerLike;
  at: number;
  generation: number;
}

/** Counts of what the cache did, for tests and the curious (process-wide). */
export const coordinatorCacheStats = { hits: 0, misses: 0, invalidations: 0 };

let generation = 0;
const caches = new WeakMap<object, Map<string, Entry>>();

/** Forgets every cached coordinator (what a coordinator or connection error does). */
export function invalidateCoordinators(): void {
  generation += 1;
  coordinatorCacheStats.invalidations += 1;
}

/** Wraps a findGroupCoordinator implementation with the cache (exported for unit tests with a fake cluster). */
export function cachedFindCoordinator(find: FindCoordinator, now: () => number = Date.now): FindCoordinator {
  return async function (this: object, args) {
    let cache = caches.get(this);
    if (!cache) caches.set(this, (cache = new Map()));
    const key = `${args.coordinatorType ?? 0}:${args.groupId}`;
    const hit = cache.get(key);
    if (hit && hit.generation === generation && now() - hit.at < COORDINATOR_TTL_MS && hit.broker.isConnected()) {
      coordinatorCacheStats.hits += 1;
      return hit.broker;
    }
    coordinatorCacheStats.misses += 1;
    const asked = generation;
    const broker = await find.call(this, args);
    // An answer that raced with a failure is used once but not kept.
    if (asked === generation) cache.set(key, { broker, at: now(), generation });
    else cache.delete(key);
    return broker;
  };
}

// On kafkajs' prototype, so two copies of this module (two loaders in one process) still install it once.
const PATCHED = Symbol.for('fraudstream.coordinatorCache');

export function installCoordinatorCache(): boolean {
  const require = createRequire(import.meta.url);
  const Cluster = require('kafkajs/src/cluster/index.js') as { prototype: Record<string | symbol, unknown> };
  const Connection = require('kafkajs/src/network/connection.js') as { prototype: Record<string | symbol, unknown> };
  if (Cluster.prototype[PATCHED]) return false;
  Cluster.prototype[PATCHED] = true;
  Cluster.prototype.findGroupCoordinator = cachedFindCoordinator(Cluster.prototype.findGroupCoordinator as FindCoordinator);
  const send = Connection.prototype.send as (this: object, ...a: unknown[]) => Promise<unknown>;
  Connection.prototype.send = async function (this: object, ...a: unknown[]) {
    try {
      return await send.apply(this, a);
    } catch (err) {
      if (makesCoordinatorsStale(err)) invalidateCoordinators();
      throw err;
    }
  };
  return true;
}
