/**
 * A replicated cluster losing a broker: on 3 brokers, topics with replication factor 3 and min.insync.replicas 2
 * (what the project's `auto` gives there), kill -9 one broker, leave it down 20 s under traffic, start it again. The
 * other two keep every partition writable and take over every coordinator, so decisions must not stop for more than
 * 30 s (measured by the stages' decidedAt, and by when the reader saw them). Which broker dies is the scenario:
 * - broker-leader-kill: the one leading the most partitions of the scenario's topics;
 * - broker-coordinator-kill: the transaction coordinator of the most of the deciding stages' transactional ids (the
 *   leader of their `__transaction_state` partitions), so open transactions lose their coordinator mid-flight.
 */
import kafkajs, { type Admin } from 'kafkajs';
import { DECISION_STAGES } from '../../core/contracts.ts';
import { STAGES } from '../../router/stages.ts';
import { transactionalId } from '../../router/runner/kafka-settings.ts';
import type { Scenario, ScenarioCtx } from './harness.ts';
import { busiestLeader, coordinatorPartition, longestPause } from './pure/pauses.ts';
import { sleep } from './services.ts';

/** How long the killed broker stays down: longer than a session timeout (10 s), so the group and the ISR notice it. */
const BROKER_DOWN_SECONDS = 20;
/** Decisions may stop for at most this long when a broker of a replicated cluster dies. */
export const BROKER_KILL_PAUSE_LIMIT_SECONDS = 30;

// kafkajs is CommonJS, and Node finds no named export for this enum in it.
const { ConfigResourceTypes } = kafkajs;

const TRANSACTION_STATE = '__transaction_state';

interface PartitionLeader {
  topic: string;
  partition: number;
  leader: number;
  replicas: number;
}

/** The transactional ids of the deciding stages (one per input partition, router/runner/producers.ts) and each one's coordinator. */
async function stageCoordinators(ctx: ScenarioCtx, admin: Admin): Promise<Array<{ id: string; node: number }>> {
  const inputs = DECISION_STAGES.map((stage) => ({ group: ctx.config.groups[stage], topic: ctx.config.topics[STAGES[stage].input] }));
  const meta = await admin.fetchTopicMetadata({ topics: [TRANSACTION_STATE, ...new Set(inputs.map((i) => i.topic))] });
  const state = meta.topics.find((t) => t.name === TRANSACTION_STATE);
  if (!state || state.partitions.length === 0) throw new Error(`${TRANSACTION_STATE} has no partitions: no transactional producer has started`);
  const leaderOf = new Map(state.partitions.map((p) => [p.partitionId, p.leader]));
  return inputs.flatMap(({ group, topic }) => {
    const partitions = meta.topics.find((t) => t.name === topic)?.partitions ?? [];
    return partitions.map((p) => {
      const id = transactionalId(group, topic, p.partitionId);
      return { id, node: leaderOf.get(coordinatorPartition(id, state.partitions.length)) ?? -1 };
    });
  });
}

interface Victim {
  node: number;
  /** Why this broker, for the log. */
  why: string;
  proof: Record<string, unknown>;
}

type Choose = (c: { partitions: PartitionLeader[]; coordinators: Array<{ id: string; node: number }> }) => Victim;

function brokerKill(name: string, summary: string, choose: Choose): Scenario {
  return {
    name,
    summary: `3 brokers, replication 3 / min.insync 2: kill -9 ${summary}, restart it after ${BROKER_DOWN_SECONDS} s; decisions pause at most ${BROKER_KILL_PAUSE_LIMIT_SECONDS} s`,
    brokers: 3,
    async fault(ctx) {
      const violations: string[] = [];
      // A fresh cluster decides its first transaction well before every partition's producer and coordinator are
      // warm: kill once the pipeline keeps up (decisions for 90% of what went in), not at the first one.
      const steadyBy = Date.now() + 90_000;
      while (Date.now() < steadyBy && !(ctx.observer.decisions.length >= 300 && ctx.observer.decisions.length >= 0.9 * ctx.observer.inputs.length)) await sleep(500);
      ctx.log(`steady: ${ctx.observer.decisions.length} decisions for ${ctx.observer.inputs.length} inputs`);
      const topics = Object.values(ctx.config.topics);
      const before = await ctx.withAdmin(async (a) => {
        const meta = await a.fetchTopicMetadata({ topics });
        const configs = await a.describeConfigs({ includeSynonyms: false, resources: topics.map((t) => ({ type: ConfigResourceTypes.TOPIC, name: t, configNames: ['min.insync.replicas'] })) });
        return { meta, configs, coordinators: await stageCoordinators(ctx, a) };
      });
      const partitions = before.meta.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionId, leader: p.leader, replicas: p.replicas.length })));
      const underReplicated = partitions.filter((p) => p.replicas !== 3);
      if (underReplicated.length) violations.push(`${underReplicated.length} partitions have not 3 replicas (e.g. ${underReplicated[0]!.topic}[${underReplicated[0]!.partition}]: ${underReplicated[0]!.replicas}): the topics did not get the cluster's replication factor`);
      const minIsr = Object.fromEntries(before.configs.resources.map((r) => [r.resourceName, r.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue ?? '?']));
      const wrongIsr = Object.entries(minIsr).filter(([, v]) => v !== '2');
      if (wrongIsr.length) violations.push(`min.insync.replicas is not 2 on ${wrongIsr.map(([t, v]) => `${t} (${v})`).join(', ')}`);
      const victim = choose({ partitions, coordinators: before.coordinators });
      const leaders = busiestLeader(partitions.map((p) => p.leader));
      const coordinators = busiestLeader(before.coordinators.map((c) => c.node));
      ctx.log(`leaders per broker ${JSON.stringify(leaders.counts)}, transaction coordinators of the stages' ${before.coordinators.length} ids per broker ${JSON.stringify(coordinators.counts)}; kill -9 broker ${victim.node} (${victim.why})`);
      await ctx.env.broker.kill9(victim.node);
      const killedAt = Date.now();
      await sleep(BROKER_DOWN_SECONDS * 1_000);
      const during = await ctx.withAdmin(async (a) => ({
        leaders: (await a.fetchTopicMetadata({ topics })).topics.flatMap((t) => t.partitions.map((p) => p.leader)),
        coordinators: await stageCoordinators(ctx, a),
      }));
      const stillLed = during.leaders.filter((l) => l === victim.node).length;
      if (stillLed) violations.push(`${stillLed} partitions still name the killed broker ${victim.node} as leader ${BROKER_DOWN_SECONDS} s later`);
      const stillCoordinated = during.coordinators.filter((c) => c.node === victim.node).length;
      if (stillCoordinated) violations.push(`${stillCoordinated} of the stages' transactional ids still have the killed broker ${victim.node} as coordinator ${BROKER_DOWN_SECONDS} s later`);
      ctx.log(`${BROKER_DOWN_SECONDS} s down; leaders now ${JSON.stringify(busiestLeader(during.leaders).counts)}, coordinators ${JSON.stringify(busiestLeader(during.coordinators.map((c) => c.node)).counts)}; starting broker ${victim.node} again`);
      await ctx.env.broker.start();
      const back = Date.now();
      ctx.log(`broker ${victim.node} is back in the cluster after ${((back - killedAt) / 1000).toFixed(1)} s`);
      const proof: Record<string, unknown> = {
        killedBroker: victim.node,
        partitions: partitions.length,
        ledByKilledBroker: leaders.counts[victim.node] ?? 0,
        leadersBefore: leaders.counts,
        leadersWhileDown: busiestLeader(during.leaders).counts,
        transactionalIds: before.coordinators.length,
        coordinatedByKilledBroker: coordinators.counts[victim.node] ?? 0,
        coordinatorsBefore: coordinators.counts,
        coordinatorsWhileDown: busiestLeader(during.coordinators.map((c) => c.node)).counts,
        ...victim.proof,
        replicationFactor: 3,
        minInsyncReplicas: minIsr,
        downSeconds: Math.round((back - killedAt) / 100) / 10,
      };
      return {
        end: killedAt,
        proof,
        violations,
        verify: () => {
          const decided = longestPause(ctx.observer.decisions.map((d) => d.decidedAt), killedAt);
          const seen = longestPause(ctx.observer.decisions.map((d) => d.seenAt), killedAt);
          Object.assign(proof, { longestPauseDecidedSeconds: decided.seconds, longestPauseSeenSeconds: seen.seconds, pauseStartedSecondsAfterKill: decided.startedAt === null ? null : Math.round((decided.startedAt - killedAt) / 100) / 10 });
          return decided.seconds > BROKER_KILL_PAUSE_LIMIT_SECONDS ? [`decisions stopped for ${decided.seconds} s after broker ${victim.node} was killed (limit ${BROKER_KILL_PAUSE_LIMIT_SECONDS} s)`] : [];
        },
      };
    },
  };
}

export const brokerLeaderKill = brokerKill('broker-leader-kill', 'the broker leading most partitions', ({ partitions }) => {
  const b = busiestLeader(partitions.map((p) => p.leader));
  return { node: b.node, why: `leads ${b.led} of ${partitions.length} partitions`, proof: {} };
});

/**
 * Not the broker broker-leader-kill would pick (the busiest partition leader), so this is the coordinator's half of
 * a broker loss: of the other brokers, the one coordinating the most of the stages' transactional ids.
 */
export const brokerCoordinatorKill = brokerKill('broker-coordinator-kill', "the transaction coordinator of most of the deciding stages' transactional ids (not the busiest partition leader)", ({ partitions, coordinators }) => {
  const leader = busiestLeader(partitions.map((p) => p.leader)).node;
  const others = coordinators.filter((c) => c.node !== leader);
  if (others.length === 0) throw new Error(`broker ${leader} leads the most partitions and coordinates all ${coordinators.length} transactional ids: no coordinator-only victim`);
  const b = busiestLeader(others.map((c) => c.node));
  return {
    node: b.node,
    why: `coordinates ${b.led} of the stages' ${coordinators.length} transactional ids; broker ${leader} leads the most partitions`,
    proof: { busiestPartitionLeader: leader, coordinatedIds: others.filter((c) => c.node === b.node).map((c) => c.id) },
  };
});
