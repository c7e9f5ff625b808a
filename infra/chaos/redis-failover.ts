/**
 * redis-master-failover: the stages run on a Redis Cluster of 3 masters with a replica each (the suite's own,
 * services.ts ChaosRedisCluster). Under steady traffic, kill -9 the master serving the detect stage's claims view
 * marker (`outcome-view:detect`: every detect batch reads it, so detect stops until the replica takes over); its
 * replica is promoted after the node timeout (2 s) and an election. Already-decided transactions are sent again
 * twice: at the kill, everything decided by then; once the cluster is whole again and every transaction sent
 * before the kill is decided, the rest of those (the batches in flight at the kill, whose claims the master may
 * have acknowledged and not passed on: replication is asynchronous). None may be decided twice, none lost.
 *
 * Beyond the invariants, `proof` says which master died and how many of the scenario's keys each master held, when
 * the replica was promoted, the killed master's replication offset read just before the kill and its replica's
 * offset read just after (a replica behind it lost writes), and how many of the claims that the decisions' claim
 * headers name were missing in Redis after the failover (checked before the second resend, which would claim them
 * again).
 */
import type { Cluster, Redis } from 'ioredis';
import type { Transaction } from '../../core/contracts.ts';
import { keySlot } from '../../core/redis.ts';
import { decodeClaimHeader, outcomeKeyPrefix, outcomeViewKey } from '../../state/outcomes.ts';
import type { Fault, Scenario, ScenarioCtx } from './harness.ts';
import { longestPause } from './pure/pauses.ts';
import { replicasOf, slotOwner, type ClusterNodeLine } from './pure/redis-cluster.ts';
import { sleep, type ChaosRedisCluster } from './services.ts';

/** How long the replica may take to be promoted (node timeout 2 s, then an election) before the scenario gives up. */
const PROMOTION_TIMEOUT_MS = 60_000;

/** Keys under `prefix` on each master, by port (SCAN MATCH on each). */
async function keysByMaster(redis: Redis, prefix: string): Promise<Record<number, number>> {
  const out: Record<number, number> = {};
  for (const node of (redis as unknown as Cluster).nodes('master')) {
    let n = 0;
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      n += keys.length;
      cursor = next;
    } while (cursor !== '0');
    out[Number(node.options.port)] = n;
  }
  return out;
}

/** A number field of INFO output. */
const infoNumber = (info: unknown, field: string): number | null => {
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(String(info));
  return m ? Number(m[1]) : null;
};

/** A node that runs (the cluster's view is asked of it). */
function livePort(cluster: ChaosRedisCluster): number {
  const p = cluster.ports.find((x) => cluster.alive(x));
  if (p === undefined) throw new Error('no node of the Redis Cluster runs');
  return p;
}

/**
 * The claims that decisions seen so far name in their claim header (stage, key), and which of them Redis no longer
 * holds; `onVictim`: of those missing, how many were in the killed master's slots.
 */
async function missingClaims(ctx: ScenarioCtx, victim: ClusterNodeLine): Promise<{ checked: number; missing: number; onVictim: number; examples: string[] }> {
  const prefix = ctx.config.redis.keyPrefix;
  const keys = [...new Set(ctx.observer.decisions.flatMap((d) => {
    const c = decodeClaimHeader(d.claim);
    return c ? [outcomeKeyPrefix(prefix, c.stage) + c.key] : [];
  }))];
  const missing: string[] = [];
  // One command per key, not a pipeline: right after a failover this client's slot map is stale, and ioredis follows
  // a MOVED for a single command but not for a pipeline whose commands were moved from several slots (it retries a
  // pipeline only when every error is the same), which is what the first run of this scenario met.
  for (let i = 0; i < keys.length; i += 500) {
    const part = keys.slice(i, i + 500);
    const found = await Promise.all(part.map((k) => ctx.env.redis.exists(k)));
    found.forEach((n, j) => n === 0 && missing.push(part[j]!));
  }
  const onVictim = missing.filter((k) => {
    const slot = keySlot(k);
    return victim.slots.some(([a, b]) => slot >= a && slot <= b);
  }).length;
  return { checked: keys.length, missing: missing.length, onVictim, examples: missing.slice(0, 5) };
}

function resend(ctx: ScenarioCtx, txs: readonly Transaction[]): void {
  for (const t of txs) ctx.traffic.inject({ key: t.cardId, value: JSON.stringify(t), expect: { kind: 'valid', txId: t.txId, cardId: t.cardId, tx: t } });
}

export const redisMasterFailover: Scenario = {
  name: 'redis-master-failover',
  summary: "Redis Cluster of 3 masters + 3 replicas: kill -9 the master holding detect's claims view marker under traffic, its replica takes over; decided transactions sent again (at the kill, and after): none decided twice, none lost",
  redisCluster: true,
  async fault(ctx): Promise<Fault> {
    const cluster = ctx.env.redisCluster;
    if (!cluster) throw new Error("redis-master-failover needs the suite's Redis Cluster (Scenario.redisCluster)");
    const prefix = ctx.config.redis.keyPrefix;
    const violations: string[] = [];
    const notes: string[] = [];
    // Kill once the pipeline keeps up (decisions for 90% of what went in), not at the first decision.
    const steadyBy = Date.now() + 90_000;
    while (Date.now() < steadyBy && !(ctx.observer.decisions.length >= 300 && ctx.observer.decisions.length >= 0.9 * ctx.observer.inputs.length)) await sleep(500);
    ctx.log(`steady: ${ctx.observer.decisions.length} decisions for ${ctx.observer.inputs.length} inputs`);

    const marker = outcomeViewKey(prefix, 'detect');
    const markerSlot = keySlot(marker);
    if ((await ctx.env.redis.exists(marker)) !== 1) violations.push(`detect's claims view marker ${marker} is not in Redis before the kill`);
    const before = await cluster.view(livePort(cluster));
    const victim = slotOwner(before, markerSlot);
    if (!victim) throw new Error(`no live master serves slot ${markerSlot} (${marker}) before the kill`);
    const replica = replicasOf(before, victim.id)[0];
    if (!replica) throw new Error(`master ${victim.port} has no replica: the cluster was not started with one per master`);
    const keysBefore = await keysByMaster(ctx.env.redis, prefix);
    const busiest = Object.entries(keysBefore).sort(([, a], [, b]) => b - a)[0];
    ctx.log(`keys of the scenario per master ${JSON.stringify(keysBefore)}; kill -9 master ${victim.port} (serves ${marker}, slot ${markerSlot}; replica ${replica.port})`);

    const alreadyDecided = ctx.traffic.acknowledged().filter((t) => ctx.observer.hasDecision(t.txId));
    const masterOffset = infoNumber(await cluster.call(victim.port, 'INFO', 'replication'), 'master_repl_offset');
    await cluster.kill9(victim.port);
    const killedAt = Date.now();
    const replicaOffset = infoNumber(await cluster.call(replica.port, 'INFO', 'replication'), 'slave_repl_offset');
    const sentBeforeKill = [...ctx.traffic.acknowledged()];
    // The first resend meets the stages while the marker's slot has no master (their commands queue).
    resend(ctx, alreadyDecided);
    ctx.log(`master killed; resent ${alreadyDecided.length} decided transactions; waiting for replica ${replica.port} to take over`);

    let promotedAt: number | undefined;
    let last = 'not asked';
    while (Date.now() - killedAt < PROMOTION_TIMEOUT_MS) {
      try {
        const view = await cluster.view(replica.port);
        const owner = slotOwner(view, markerSlot);
        const dead = view.find((n) => n.id === victim.id);
        const state = await cluster.state(replica.port);
        last = `slot ${markerSlot} served by ${owner?.port ?? 'nobody'}, killed node flags ${dead?.flags.join(',') ?? '?'}, cluster_state ${state}`;
        if (owner?.id === replica.id && dead?.flags.includes('fail') && state === 'ok') {
          promotedAt = Date.now();
          break;
        }
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(100);
    }
    if (promotedAt === undefined) throw new Error(`replica ${replica.port} did not take over within ${PROMOTION_TIMEOUT_MS / 1000} s (last: ${last})`);
    const promotedSeconds = Math.round((promotedAt - killedAt) / 100) / 10;
    ctx.log(`replica ${replica.port} promoted ${promotedSeconds} s after the kill`);

    // Every transaction sent before the kill decided (the batches in flight at the kill committed or were retried).
    const decidedBy = Date.now() + 90_000;
    let undecided = sentBeforeKill.filter((t) => !ctx.observer.hasDecision(t.txId));
    while (undecided.length > 0 && Date.now() < decidedBy) {
      await sleep(500);
      undecided = undecided.filter((t) => !ctx.observer.hasDecision(t.txId));
    }
    if (undecided.length > 0) notes.push(`${undecided.length} transactions sent before the kill had no decision 90 s after the promotion (resent anyway)`);
    const claims = await missingClaims(ctx, victim);
    if (claims.missing > 0) notes.push(`${claims.missing} of the ${claims.checked} claims named by decisions were missing from Redis after the failover (${claims.onVictim} in the killed master's slots): a copy of such a transaction would be decided again`);
    const first = new Set(alreadyDecided.map((t) => t.txId));
    const second = sentBeforeKill.filter((t) => !first.has(t.txId));
    resend(ctx, second);
    ctx.log(`claims named by ${claims.checked} decisions: ${claims.missing} missing (${claims.onVictim} on the killed master's slots); resent the other ${second.length} transactions sent before the kill`);

    // The killed node comes back on its config file and rejoins as a replica of the promoted one.
    await cluster.restart(victim.port);
    let rejoinedSeconds: number | null = null;
    const rejoinBy = Date.now() + 30_000;
    while (Date.now() < rejoinBy) {
      const view = await cluster.view(replica.port).catch(() => [] as ClusterNodeLine[]);
      const back = view.find((n) => n.id === victim.id);
      if (back && back.masterId === replica.id && !back.flags.includes('fail')) {
        rejoinedSeconds = Math.round((Date.now() - killedAt) / 100) / 10;
        break;
      }
      await sleep(200);
    }
    if (rejoinedSeconds === null) notes.push(`the killed node ${victim.port} did not show as a replica of ${replica.port} within 30 s of its restart`);
    const proof: Record<string, unknown> = {
      killedMaster: victim.port,
      promotedReplica: replica.port,
      markerKey: marker,
      markerSlot,
      keysPerMasterBefore: keysBefore,
      killedHeldMostKeys: busiest !== undefined && Number(busiest[0]) === victim.port,
      masterReplOffsetBeforeKill: masterOffset,
      replicaOffsetAfterKill: replicaOffset,
      promotedSeconds,
      rejoinedAsReplicaSeconds: rejoinedSeconds,
      resentAtKill: alreadyDecided.length,
      resentAfterFailover: second.length,
      claimsChecked: claims.checked,
      claimsMissing: claims.missing,
      claimsMissingOnKilledMaster: claims.onVictim,
      claimsMissingExamples: claims.examples,
    };
    return {
      end: killedAt,
      recovery: { stage: 'detect' },
      proof,
      violations,
      notes,
      verify: () => {
        const decided = longestPause(ctx.observer.decisions.map((d) => d.decidedAt), killedAt);
        const seen = longestPause(ctx.observer.decisions.map((d) => d.seenAt), killedAt);
        Object.assign(proof, { longestPauseDecidedSeconds: decided.seconds, longestPauseSeenSeconds: seen.seconds });
        return [];
      },
    };
  },
};
