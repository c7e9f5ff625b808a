/** The faults, each run under steady traffic by harness.ts. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { DECISION_STAGES, type PipelineStage, type Transaction } from '../../core/contracts.ts';
import { STAGES } from '../../router/stages.ts';
import { kafkaChangelog } from '../../core/changelog.ts';
import { policyKeys } from '../../state/policy.ts';
import { reviewKeys } from '../../state/review.ts';
import { ShadowStore, shadowKeys } from '../../state/shadow.ts';
import { auditHeadKey, auditKey, outboxKey, userPattern } from '../../state/ui.ts';
import { viewMarkerKey } from '../../state/view.ts';
import { UserStore } from '../../review-ui/server/auth.ts';
import { openAuditLog } from '../../state/audit.ts';
import { GuardState } from '../../state/guard.ts';
import { readHeartbeats } from '../../state/heartbeats.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { GUARD_WHO } from '../../router/ops/guard.ts';
import { freePort } from '../ports.ts';
import type { Fault, Scenario, ScenarioCtx } from './harness.ts';
import { UncommittedWatch, committedOffset } from './observe.ts';
import { fuzzMessages, type FuzzMessage } from './pure/fuzz.ts';
import { HOLD_MESSAGE, openAtKill, parseHoldLine } from './pure/hold-line.ts';
import type { Expectation } from './pure/invariants.ts';
import { sleep } from './services.ts';
import { brokerCoordinatorKill, brokerLeaderKill } from './broker-kill.ts';
import { redisMasterFailover } from './redis-failover.ts';

const HOLD = 'holdBeforeCommitMs=3000';
const isHold = (line: string) => line.includes(HOLD_MESSAGE);

/**
 * kill -9 a member while its transaction is provably open: the member (FRAUDSTREAM_FAULTS holdBeforeCommitMs) logs
 * the held batch after sending its outputs and before committing. Proof: a read_uncommitted reader saw outputs of
 * that batch, and the group's committed offset after the kill is at or below the batch's first offset. Afterwards
 * those outputs must never be committed and each of the batch's transactions must be decided exactly once.
 */
function killMidBatch(stage: PipelineStage): Scenario {
  const members = [{ id: `${stage}-held`, faults: HOLD }, { id: `${stage}-peer` }];
  // escalate serves a trained model (heavy path): what the kill interrupts is the heavy model's batch.
  const trained = stage === 'escalate';
  return {
    name: `kill-${stage}`,
    summary: `kill -9 a ${stage} member holding an uncommitted transaction; a peer and a replacement take over${trained ? ' (stages serve a small trained model: escalations scored by the heavy model)' : ''}`,
    ...(trained ? { model: 'trained' as const } : {}),
    [stage]: members,
    async fault(ctx) {
      const t = ctx.config.topics;
      const watch = new UncommittedWatch(ctx.env.kafka, [t.decisions, t.escalations, t.cases], ctx.env.log);
      watch.start();
      const held = ctx.member(`${stage}-held`);
      const violations: string[] = [];
      const line = await held.waitForLine(isHold, 45_000);
      held.signal('SIGKILL');
      const killedAt = Date.now();
      await held.exited;
      ctx.log(line ? 'killed the member mid-transaction' : 'no hold line from the member: killed it anyway');
      const batch = line ? parseHoldLine(line) : undefined;
      if (!line) violations.push(`no "${HOLD_MESSAGE}" line from ${held.name} within 45 s (the runner does not honour holdBeforeCommitMs): killed it anyway, uncommitted state not proven`);
      else if (!batch) violations.push(`the hold line did not say which partition: ${line.slice(0, 200)}`);

      const inputTopic = t[STAGES[stage].input];
      const outputTopics = STAGES[stage].outputs.filter((o) => o !== 'dlq').map((o) => t[o]);
      const proof: Record<string, unknown> = { member: held.name, killedAt: new Date(killedAt).toISOString(), holdLine: line?.slice(0, 300) ?? null };
      let uncommitted: string[] = [];
      let heldTx = new Set<string>();
      if (batch) {
        // Read at once: the peer takes the partition over after the session timeout (10 s) and commits past it.
        // Each output partition's last stable offset (see openAtKill), read before anyone can fence or time out the held transaction.
        const { committed, stable } = await ctx.withAdmin(async (a) => ({
          committed: await committedOffset(a, ctx.config.groups[stage], inputTopic, batch.partition),
          stable: new Map((await Promise.all(outputTopics.map(async (topic) => (await a.fetchTopicOffsets(topic)).map((o) => [`${topic}:${o.partition}`, BigInt(o.high)] as const)))).flat()),
        }));
        Object.assign(proof, { partition: batch.partition, firstOffset: batch.first?.toString() ?? null, lastOffset: batch.last?.toString() ?? null, committedOffsetAfterKill: committed.toString() });
        if (batch.first !== undefined && committed > batch.first) violations.push(`the group's committed offset ${committed} on ${inputTopic}[${batch.partition}] is past the held batch's first offset ${batch.first}: the kill did not land before the commit`);
        ctx.startStage(stage, { id: `${stage}-replacement` });
        // With no offsets in the line, everything at or after the committed offset was uncommitted by definition.
        const from = batch.first ?? (committed < 0n ? 0n : committed);
        const to = batch.last ?? BigInt(Number.MAX_SAFE_INTEGER);
        // Outputs of the held batch uncommitted at the kill (pure/hold-line.ts openAtKill).
        const wasOpen = (o: { position: string; timestamp: number }) => {
          const [topic, p, off] = splitPosition(o.position);
          return openAtKill({ offset: BigInt(off), timestamp: o.timestamp }, stable.get(`${topic}:${p}`), killedAt);
        };
        const deadline = Date.now() + 15_000;
        for (;;) {
          await sleep(1_000);
          heldTx = heldTransactions(ctx, watch, stage, inputTopic, batch.partition, from, to);
          uncommitted = watch.outputs.filter((o) => heldTx.has(o.txId) && outputTopics.includes(splitPosition(o.position)[0]) && wasOpen(o)).map((o) => o.position);
          if (uncommitted.length > 0 || Date.now() > deadline) break;
        }
        Object.assign(proof, { heldTransactions: heldTx.size, outputsSeenUncommitted: uncommitted.length });
        if (uncommitted.length === 0) violations.push(`a read_uncommitted reader saw no output of the held batch (${heldTx.size} transactions): not proven that the kill landed after the outputs were sent`);
      } else ctx.startStage(stage, { id: `${stage}-replacement` });
      await watch.stop();
      return {
        end: killedAt,
        recovery: { stage, ...(batch ? { partition: batch.partition } : {}) },
        proof,
        violations,
        verify: () => {
          // The observer reads decisions and cases with read_committed (escalations are not among its topics).
          const committed = ctx.observer.positions();
          const leaked = uncommitted.filter((p) => committed.has(p));
          if (heldTx.size > 0) {
            const once = [...heldTx].filter((tx) => ctx.observer.decisions.filter((d) => d.txId === tx && d.final).length === 1).length;
            Object.assign(proof, { uncommittedOutputsLaterCommitted: leaked.length, heldTransactionsWithOneFinalDecision: once });
          }
          return leaked.length ? [`${leaked.length} outputs a read_uncommitted reader saw before the kill were later committed: the held transaction was not aborted`] : [];
        },
      };
    },
  };
}

/** Tx ids of the held batch: from the observer's read-back of the transactions topic (a stage reading it), else what a reader saw on the stage's input topic. */
function heldTransactions(ctx: ScenarioCtx, watch: UncommittedWatch, stage: PipelineStage, topic: string, partition: number, from: bigint, to: bigint): Set<string> {
  const out = new Set<string>();
  const inRange = (p: number, o: string) => p === partition && BigInt(o) >= from && BigInt(o) <= to;
  if (STAGES[stage].input === 'transactions') {
    for (const i of ctx.observer.inputs) {
      const tx = inRange(i.partition, i.offset) ? ctx.txIdOf(i.hash) : undefined;
      if (tx) out.add(tx);
    }
  } else {
    for (const o of watch.outputs) {
      const [t, p, off] = splitPosition(o.position);
      if (t === topic && inRange(p, off) && o.txId) out.add(o.txId);
    }
  }
  return out;
}

function splitPosition(pos: string): [string, number, string] {
  const b = pos.lastIndexOf(':');
  const a = pos.lastIndexOf(':', b - 1);
  return [pos.slice(0, a), Number(pos.slice(a + 1, b)), pos.slice(b + 1)];
}

function brokerRestart(downSeconds: number): Scenario {
  return {
    name: `broker-restart-${downSeconds}s`,
    summary: `kill -9 the broker, start it again after ${downSeconds} s`,
    async fault(ctx) {
      await ctx.env.broker.kill9();
      const downAt = Date.now();
      ctx.log(`broker killed (-9); starting it again in ${downSeconds} s`);
      await sleep(downSeconds * 1_000);
      await ctx.env.broker.start();
      const end = Date.now();
      ctx.log(`broker answers again after ${((end - downAt) / 1000).toFixed(1)} s`);
      return { end, proof: { downSeconds: (end - downAt) / 1000 } };
    },
  };
}

const zombie: Scenario = {
  name: 'zombie-detect',
  summary: 'two detect members; SIGSTOP one mid-transaction for longer than the session timeout (10 s), then SIGCONT',
  detect: [{ id: 'detect-zombie', faults: HOLD }, { id: 'detect-peer' }],
  async fault(ctx) {
    const z = ctx.member('detect-zombie');
    const violations: string[] = [];
    const line = await z.waitForLine(isHold, 45_000);
    z.signal('SIGSTOP');
    const stoppedAt = Date.now();
    if (!line) violations.push(`no "${HOLD_MESSAGE}" line from the zombie within 45 s: stopped it anyway, not proven mid-transaction`);
    ctx.log('zombie stopped; waiting 20 s (session and transaction timeouts are 10 s)');
    await sleep(20_000);
    const members = await ctx.withAdmin(async (a) => (await a.describeGroups([ctx.config.groups.detect])).groups[0]?.members.length ?? -1);
    z.signal('SIGCONT');
    const end = Date.now();
    ctx.log(`zombie resumed (group had ${members} member(s) while it was stopped)`);
    const held = line ? parseHoldLine(line) : undefined;
    return {
      end,
      proof: { stoppedSeconds: (end - stoppedAt) / 1000, membersWhileStopped: members, heldPartition: held?.partition ?? null, holdLine: line?.slice(0, 300) ?? null },
      violations,
    };
  },
};

const redisRestart: Scenario = {
  name: 'redis-restart',
  summary: 'restart redis-server (no persistence: it comes back empty)',
  featureMode: 'atMost',
  async fault(ctx) {
    await ctx.env.redisServer.stop();
    ctx.log('redis-server killed; starting it again in 3 s');
    await sleep(3_000);
    await ctx.env.redisServer.start();
    return { end: Date.now(), notes: ['Redis came back empty (no persistence), so per-card feature counts are checked as "never above the distinct transactions"'] };
  },
};

const clientKill: Scenario = {
  name: 'redis-client-kill',
  summary: "CLIENT KILL every Redis connection but the suite's own, every 2 s",
  async fault(ctx) {
    const killer = new Redis(ctx.env.redisServer.url, { maxRetriesPerRequest: 3 });
    const windowMs = ctx.env.quick ? 12_000 : 30_000;
    let killed = 0;
    let rounds = 0;
    try {
      const me = String(await killer.client('ID'));
      const until = Date.now() + windowMs;
      while (Date.now() < until) {
        const list = String(await killer.client('LIST'));
        for (const id of list.split('\n').flatMap((l) => /(?:^|\s)id=(\d+)/.exec(l)?.[1] ?? [])) {
          if (id === me) continue;
          killed += Number(await killer.client('KILL', 'ID', id).catch(() => 0));
        }
        rounds += 1;
        await sleep(2_000);
      }
    } finally {
      killer.disconnect();
    }
    ctx.log(`killed ${killed} connections in ${rounds} rounds`);
    return { end: Date.now(), proof: { rounds, connectionsKilled: killed } };
  },
};

const poisonLarge: Scenario = {
  name: 'poison-large',
  summary: 'a 900 KB message that is not JSON',
  async fault(ctx) {
    const value = randomBytes(900 * 1024);
    value[0] = 0;
    const at = await ctx.traffic.injectTracked({ key: 'chaos-poison-large', value, expect: { kind: 'invalid' } });
    ctx.log(`900 KB pill written at partition ${at.partition} offset ${at.offset}`);
    return { end: Date.now(), recovery: { partition: at.partition, afterOffset: at.offset }, proof: { ...at, bytes: value.length } };
  },
};

const poisonThrow: Scenario = {
  name: 'poison-throw',
  summary: 'a valid transaction that makes detect logic throw (FRAUDSTREAM_FAULTS throwOnKey)',
  detect: [{ id: 'detect-a', faults: 'throwOnKey=chaos-poison-' }],
  async fault(ctx) {
    const base = ctx.traffic.acknowledged().at(-1);
    if (!base) throw new Error('no traffic acknowledged yet');
    const tx: Transaction = { ...base, txId: `chaos-poison-${ctx.env.runId}`, cardId: 'chaos-poison-card' };
    const at = await ctx.traffic.injectTracked({ key: tx.cardId, value: JSON.stringify(tx), expect: { kind: 'poison', txId: tx.txId } });
    ctx.log(`pill ${tx.txId} written at partition ${at.partition} offset ${at.offset}`);
    return { end: Date.now(), recovery: { partition: at.partition, afterOffset: at.offset }, proof: { ...at, txId: tx.txId } };
  },
};

function expectationOf(m: FuzzMessage): Expectation {
  switch (m.expect) {
    case 'valid':
    case 'repeat': {
      const tx = JSON.parse(m.value!.toString('utf8')) as Transaction;
      return { kind: 'valid', txId: tx.txId, cardId: tx.cardId, tx };
    }
    case 'conflict':
      return { kind: 'conflict', txId: m.txId! };
    case 'invalid':
      return { kind: 'invalid' };
  }
}

const fuzz: Scenario = {
  name: 'fuzz',
  summary: '10,000 fuzzed messages (random bytes, wrong types, huge and non-finite numbers, bidi controls, deep nesting, conflicting duplicates) mixed into good traffic',
  async fault(ctx) {
    const count = ctx.env.quick ? 2_000 : 10_000;
    const messages = fuzzMessages({ seed: 20_251, count, originals: [...ctx.traffic.acknowledged()], tag: ctx.env.runId });
    const spreadMs = Math.min(ctx.env.timing.afterMs, 10_000);
    const perTick = Math.ceil(messages.length / (spreadMs / 100));
    for (let i = 0; i < messages.length; i += perTick) {
      for (const m of messages.slice(i, i + perTick)) ctx.traffic.inject({ key: m.key, value: m.value, expect: expectationOf(m) });
      await sleep(100);
    }
    const byKind: Record<string, number> = {};
    for (const m of messages) byKind[m.kind] = (byKind[m.kind] ?? 0) + 1;
    ctx.log(`injected ${messages.length} fuzzed messages`);
    return { end: Date.now(), proof: { fuzzed: messages.length, byKind } };
  },
};

const conflictingDuplicate: Scenario = {
  name: 'conflicting-duplicate',
  summary: 'decided transactions sent again: 20 with different content (to the DLQ as "conflicting duplicate"), 10 identical (ignored)',
  async fault(ctx) {
    const deadline = Date.now() + 30_000;
    let decided: Transaction[] = [];
    while (decided.length < 30 && Date.now() < deadline) {
      decided = ctx.traffic.acknowledged().filter((t) => ctx.observer.hasDecision(t.txId)).slice(0, 30);
      if (decided.length < 30) await sleep(500);
    }
    if (decided.length < 30) throw new Error(`only ${decided.length} transactions decided after warm-up`);
    for (const [i, orig] of decided.entries()) {
      if (i < 20) {
        const changed = { ...orig, amountMinor: orig.amountMinor + 1 + i };
        ctx.traffic.inject({ key: orig.cardId, value: JSON.stringify(changed), expect: { kind: 'conflict', txId: orig.txId } });
      } else ctx.traffic.inject({ key: orig.cardId, value: JSON.stringify(orig), expect: { kind: 'valid', txId: orig.txId, cardId: orig.cardId, tx: orig } });
    }
    return { end: Date.now(), proof: { conflicting: 20, identical: 10 } };
  },
};

interface Session {
  url: string;
  cookie: string;
  csrf: string;
}

async function login(url: string, username: string, password: string): Promise<Session> {
  const res = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }), signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`login at ${url}: HTTP ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { csrf: string };
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  return { url, cookie, csrf: body.csrf };
}

/**
 * A login as the console's page makes it: a 503 "restoring" (a view being restored, or its check slower than the
 * console's gate) is tried again after its Retry-After, for up to `forMs`. Resolves with the attempts it took.
 */
async function loginWhileRestoring(url: string, username: string, password: string, forMs: number): Promise<{ attempts: number; session?: Session; error?: string }> {
  const deadline = Date.now() + forMs;
  for (let attempts = 1; ; attempts++) {
    try {
      return { attempts, session: await login(url, username, password) };
    } catch (err) {
      const message = (err as Error).message;
      if (!message.includes('HTTP 503') || !message.includes('"restoring":true') || Date.now() > deadline) return { attempts, error: message };
      await sleep(2_000);
    }
  }
}

async function approve(s: Session, caseId: string): Promise<number | string> {
  try {
    const res = await fetch(`${s.url}/api/cases/${encodeURIComponent(caseId)}/verdict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: s.cookie, 'x-csrf-token': s.csrf },
      body: JSON.stringify({ verdict: 'approve', note: 'chaos' }),
      signal: AbortSignal.timeout(180_000),
    });
    await res.text();
    return res.status;
  } catch (err) {
    return (err as Error).name;
  }
}

async function untilHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
    if (ok) return;
    await sleep(500);
  }
  throw new Error(`review UI at ${url} did not answer within ${timeoutMs / 1000} s`);
}

const verdictsKafkaDown: Scenario = {
  name: 'verdicts-kafka-down',
  summary: 'two review-ui processes approve the same cases while the broker is down (20 s)',
  async fault(ctx): Promise<Fault> {
    const user = 'chaos';
    const password = 'chaos-password';
    const ports = [await freePort(), await freePort()];
    const uis = ports.map((p, i) => ({ child: ctx.children.ui(`ui-${i}`, p, `${user}:${password}`), url: `http://127.0.0.1:${p}` }));
    await Promise.all(uis.map((u) => untilHealthy(u.url, 90_000)));
    const sessions = await Promise.all(uis.map((u) => login(u.url, user, password)));
    const want = ctx.env.quick ? 6 : 20;
    const openKey = reviewKeys(ctx.config.redis.keyPrefix).open;
    const deadline = Date.now() + 90_000;
    while ((await ctx.env.redis.zcard(openKey)) < want && Date.now() < deadline) await sleep(1_000);
    const ids = await ctx.env.redis.zrange(openKey, 0, want - 1);
    if (ids.length < want) throw new Error(`only ${ids.length} open cases after 90 s (need ${want})`);

    await ctx.env.broker.kill9();
    const downAt = Date.now();
    ctx.log(`broker killed; both UIs approve the same ${ids.length} cases`);
    const answers = ids.map((id) => Promise.all(sessions.map((s) => approve(s, id))));
    await sleep(20_000);
    await ctx.env.broker.start();
    const end = Date.now();
    ctx.log(`broker back after ${((end - downAt) / 1000).toFixed(1)} s; waiting for the verdicts`);
    const statuses = await Promise.all(answers);
    const violations: string[] = [];
    const byStatus: Record<string, number> = {};
    statuses.forEach((pair, i) => {
      for (const s of pair) byStatus[String(s)] = (byStatus[String(s)] ?? 0) + 1;
      const won = pair.filter((s) => s === 200).length;
      if (won > 1) violations.push(`case ${ids[i]} was approved by both UIs`);
    });
    const outbox = outboxKey(ctx.config.redis.keyPrefix);
    const drainDeadline = Date.now() + 60_000;
    while ((await ctx.env.redis.llen(outbox)) > 0 && Date.now() < drainDeadline) await sleep(1_000);
    const left = await ctx.env.redis.llen(outbox);
    if (left > 0) violations.push(`${left} verdict messages still in the UI outbox 60 s after the broker came back`);
    return { end, proof: { cases: ids.length, answers: byStatus, outboxLeft: left }, violations };
  },
};

/** The resent already-decided transactions of redis-wipe. */
const WIPE_RESENDS = 500;
/** The views must be back this long after the wipe (issue 18's aim: the console shows the same data within 60 s). */
const WIPE_RESTORE_LIMIT_SECONDS = 60;

/** What operators and analysts created, read raw from Redis (reading through the stores would restore it). */
interface WipeSnapshot {
  policyVersion: string | null;
  policy: string | null;
  accounts: Record<string, string | null>;
  openCases: Record<string, string | null>;
  shadow: { active: string | null; last: string | null };
  auditHead: string | null;
  audit: string[];
}

async function wipeSnapshot(redis: Redis, prefix: string): Promise<WipeSnapshot> {
  const pk = policyKeys(prefix);
  const version = await redis.get(pk.current);
  const users = (await redis.keys(userPattern(prefix))).sort();
  const rk = reviewKeys(prefix);
  const open = await redis.zrange(rk.open, 0, -1);
  const sk = shadowKeys(prefix);
  return {
    policyVersion: version,
    policy: version === null ? null : await redis.get(pk.doc(version)),
    accounts: Object.fromEntries(await Promise.all(users.map(async (k) => [k, await redis.get(k)] as const))),
    openCases: Object.fromEntries(await Promise.all(open.map(async (id) => [id, await redis.get(rk.case(id))] as const))),
    shadow: { active: await redis.get(sk.active), last: await redis.get(sk.last) },
    // "<seq> <mac>": the offset part is the view's bookkeeping, not the chain.
    auditHead: (await redis.get(auditHeadKey(prefix)))?.split(' ').slice(0, 2).join(' ') ?? null,
    audit: await redis.lrange(auditKey(prefix), 0, -1),
  };
}

/** Which top-level fields of two JSON objects differ, with both values (short), e.g. `createdAt 1 -> 2`. */
function changedFields(before: string, after: string): string {
  let a: Record<string, unknown>;
  let b: Record<string, unknown>;
  try {
    a = JSON.parse(before) as Record<string, unknown>;
    b = JSON.parse(after) as Record<string, unknown>;
  } catch {
    return 'not JSON';
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return keys.map((k) => `${k} ${JSON.stringify(a[k])?.slice(0, 40)} -> ${JSON.stringify(b[k])?.slice(0, 40)}`).join(', ') || 'same fields, other order';
}

/** How the state after the wipe differs from the snapshot before it (open cases: each one open before is open again, unchanged). */
export function wipeDifferences(before: WipeSnapshot, after: WipeSnapshot): string[] {
  const out: string[] = [];
  if (after.policyVersion !== before.policyVersion || after.policy !== before.policy) out.push(`policy: v${before.policyVersion} before the wipe, v${after.policyVersion} after${after.policyVersion === before.policyVersion ? ' with other content' : ''}`);
  const names = new Set([...Object.keys(before.accounts), ...Object.keys(after.accounts)]);
  for (const n of names) if (before.accounts[n] !== after.accounts[n]) out.push(`account ${n.split(':').at(-1)}: ${before.accounts[n] === undefined ? 'appeared' : after.accounts[n] === undefined ? 'lost' : 'changed (hash, role or epoch)'}`);
  const lostCases = Object.keys(before.openCases).filter((id) => after.openCases[id] === undefined);
  const changedCases = Object.keys(before.openCases).filter((id) => after.openCases[id] !== undefined && after.openCases[id] !== before.openCases[id]);
  if (lostCases.length) out.push(`${lostCases.length} open cases lost (e.g. ${lostCases.slice(0, 3).join(', ')})`);
  if (changedCases.length) out.push(`${changedCases.length} open cases changed (e.g. ${changedCases.slice(0, 3).join(', ')}; ${changedCases[0]}: ${changedFields(before.openCases[changedCases[0]!]!, after.openCases[changedCases[0]!]!)})`);
  if (after.shadow.active !== before.shadow.active || after.shadow.last !== before.shadow.last) out.push('shadow run: not the one that ran before the wipe');
  if (after.auditHead !== before.auditHead) out.push(`audit chain head: ${JSON.stringify(before.auditHead)} before, ${JSON.stringify(after.auditHead)} after`);
  else if (after.audit.join('\n') !== before.audit.join('\n')) out.push(`audit view: ${before.audit.length} entries before, ${after.audit.length} after, not the same`);
  return out;
}

/** How Redis loses everything in a redis-loss scenario: resolves when Redis answers again (empty). */
interface RedisLoss {
  name: string;
  /** What happened, for the summary, the log and the note. */
  what: string;
  /** Calls `gone` once Redis has lost its state (a killed server: before it starts again). */
  lose(ctx: ScenarioCtx, gone: () => void): Promise<void>;
}

/** Down this long after a kill -9, under traffic, before it starts again (empty: no persistence). */
const KILL9_DOWN_SECONDS = 3;

const FLUSHALL: RedisLoss = {
  name: 'redis-wipe',
  what: 'FLUSHALL',
  async lose(ctx, gone) {
    await ctx.env.redis.flushall();
    gone();
  },
};

const infoField = (info: string, field: string) => new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();

const KILL9: RedisLoss = {
  name: 'redis-kill9',
  what: `kill -9 of the redis-server (no persistence), started again empty ${KILL9_DOWN_SECONDS} s later`,
  async lose(ctx, gone) {
    const runId = infoField(await ctx.env.redis.info('server'), 'run_id');
    await ctx.env.redisServer.stop('SIGKILL');
    gone();
    await sleep(KILL9_DOWN_SECONDS * 1_000);
    await ctx.env.redisServer.start();
    // Another process, and one that loaded nothing: the stages may write again at once, so no key count proves it.
    const [server, persistence] = [await ctx.env.redis.info('server'), await ctx.env.redis.info('persistence')];
    const loaded = infoField(persistence, 'rdb_last_load_keys_loaded');
    if (infoField(server, 'run_id') === runId) throw new Error('the redis-server answering after the kill is the one killed');
    if (infoField(persistence, 'aof_enabled') !== '0' || (loaded !== undefined && loaded !== '0')) throw new Error(`the new redis-server loaded state (aof_enabled ${infoField(persistence, 'aof_enabled')}, keys loaded ${loaded}): it was meant to start empty`);
  },
};

/**
 * Redis loses everything mid-traffic (FLUSHALL, or kill -9 of a redis-server without persistence), then the
 * already-decided transactions are resent byte for byte: none may be decided twice, and the views an operator built
 * (policy and lists, accounts, open cases, shadow run, audit chain) must come back exactly as they were, unaided.
 */
const redisLoss = (loss: RedisLoss): Scenario => ({
  name: loss.name,
  summary: `${loss.what} mid-traffic, then resend ${WIPE_RESENDS} already-decided transactions: none decided twice; policy, lists, accounts, open cases, shadow run and audit chain come back as they were`,
  featureMode: 'atMost',
  async fault(ctx): Promise<Fault> {
    const prefix = ctx.config.redis.keyPrefix;
    const redis = ctx.env.redis;
    const violations: string[] = [];
    // A console (accounts, the audit chain, the case views) and an operator's work through it and the CLI's stores.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    ctx.children.ui('ui-0', port, 'chaos:chaos-password');
    await untilHealthy(url, 90_000);
    // A console's first start restores its views (and on a loaded machine its 200 ms gate may answer 503 once more).
    const first = await loginWhileRestoring(url, 'chaos', 'chaos-password', 60_000);
    if (!first.session) throw new Error(`the operator could not log in (${first.attempts} attempts in 60 s): ${first.error}`);
    const session = first.session;
    const accounts = kafkaChangelog(ctx.env.kafka, ctx.config.topics.accounts);
    const shadowRecord = kafkaChangelog(ctx.env.kafka, ctx.config.topics.shadow);
    try {
      await new UserStore(redis, prefix, accounts).add('analyst-1', 'analyst-password-1', { role: 'analyst' });
      await new ShadowStore(redis, prefix, undefined, shadowRecord).start({ model: 'chaos-challenger', startedAt: Date.now(), by: 'chaos', thresholds: 'policy', matureAt: 0.8 });
      const policy = (await (await fetch(`${url}/api/policy`, { headers: { cookie: session.cookie } })).json()) as { current: Record<string, unknown> & { lists: Record<string, string[]> } };
      const { version: baseVersion, updatedAt: _u, updatedBy: _b, ...input } = policy.current;
      const put = await fetch(`${url}/api/policy`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', cookie: session.cookie, 'x-csrf-token': session.csrf },
        body: JSON.stringify({ ...input, baseVersion, lists: { ...input.lists, blockCards: ['chaos-blocked-card'], allowMerchants: ['chaos-allowed-merchant'] } }),
      });
      if (!put.ok) throw new Error(`policy update: HTTP ${put.status} ${await put.text()}`);
      const openKey = reviewKeys(prefix).open;
      const caseDeadline = Date.now() + 60_000;
      while ((await redis.zcard(openKey)) < 4 && Date.now() < caseDeadline) await sleep(500);
      for (const id of await redis.zrange(openKey, 0, 1)) {
        const status = await approve(session, id);
        if (status !== 200) violations.push(`verdict on ${id} before the wipe: ${status}`);
      }
      const outbox = outboxKey(prefix);
      const outboxDeadline = Date.now() + 30_000;
      while ((await redis.llen(outbox)) > 0 && Date.now() < outboxDeadline) await sleep(250);

      const decidedBy = Date.now() + 90_000;
      let decided: Transaction[] = [];
      while (Date.now() < decidedBy) {
        decided = ctx.traffic.acknowledged().filter((t) => ctx.observer.hasDecision(t.txId)).slice(0, WIPE_RESENDS);
        if (decided.length >= WIPE_RESENDS) break;
        await sleep(500);
      }
      if (decided.length < WIPE_RESENDS) throw new Error(`only ${decided.length} transactions decided before the wipe (need ${WIPE_RESENDS})`);

      const before = await wipeSnapshot(redis, prefix);
      const lostAt = Date.now();
      // The resends go out once Redis lost its state (a killed one: while it is down): the stages meet them on a Redis
      // without the dedupe claims.
      await loss.lose(ctx, () => {
        for (const t of decided) ctx.traffic.inject({ key: t.cardId, value: JSON.stringify(t), expect: { kind: 'valid', txId: t.txId, cardId: t.cardId, tx: t } });
      });
      const wipedAt = Date.now();
      ctx.log(`${loss.what} (policy v${before.policyVersion}, ${Object.keys(before.accounts).length} accounts, ${Object.keys(before.openCases).length} open cases, audit head seq ${before.auditHead?.split(' ')[0]}); resent ${decided.length} decided transactions`);

      // No manual step: the stages and the console notice the missing markers and restore from the topics.
      let back: number | null = null;
      let last: string[] = ['not checked'];
      while (Date.now() - wipedAt < WIPE_RESTORE_LIMIT_SECONDS * 1000 * 2) {
        const markers = await Promise.all(['accounts', 'cases', 'shadow', 'audit'].map((p) => redis.exists(viewMarkerKey(prefix, p))));
        const status = (await fetch(`${url}/api/status`).then((r) => r.json(), () => ({}))) as { view?: { state?: string } };
        if (markers.every((m) => m === 1) && status.view?.state === 'ready') {
          last = wipeDifferences(before, await wipeSnapshot(redis, prefix));
          if (last.length === 0) {
            back = (Date.now() - wipedAt) / 1000;
            break;
          }
        }
        await sleep(500);
      }
      if (back === null) violations.push(`the views were not back as they were ${WIPE_RESTORE_LIMIT_SECONDS * 2} s after the wipe: ${last.join('; ')}`);
      else if (back > WIPE_RESTORE_LIMIT_SECONDS) violations.push(`the views took ${back.toFixed(1)} s to come back (limit ${WIPE_RESTORE_LIMIT_SECONDS} s)`);
      else ctx.log(`views back as they were ${back.toFixed(1)} s after the wipe`);
      const relogin = await loginWhileRestoring(url, 'analyst-1', 'analyst-password-1', 30_000);
      if (relogin.error) violations.push(`a restored account could not log in (${relogin.attempts} attempts in 30 s): ${relogin.error}`);
      return {
        end: wipedAt,
        proof: {
          loss: loss.what,
          redisDownSeconds: Math.round((wipedAt - lostAt) / 100) / 10,
          resent: decided.length,
          viewsBackSeconds: back,
          reloginAttempts: relogin.attempts,
          before: { policyVersion: before.policyVersion, accounts: Object.keys(before.accounts).length, openCases: Object.keys(before.openCases).length, shadow: before.shadow.last, auditHeadSeq: Number(before.auditHead?.split(' ')[0] ?? 0), auditView: before.audit.length },
        },
        violations,
        notes: [`Redis lost everything (${loss.what}), so per-card feature counts are checked as "never above the distinct transactions"`],
      };
    } finally {
      await accounts.close();
      await shadowRecord.close();
    }
  },
});

/** Default length of the console-down window (`npm run chaos -- --console-down-seconds N` shortens it). */
export const CONSOLE_DOWN_SECONDS = 300;

/**
 * No console process at all while a runaway version is served: the ops service (two members here) must still roll it
 * back, once. The runaway is a new policy version that blocks every transaction above one minor unit, as a bad model
 * version or threshold would; the served model (if any) stays named. The scenario waits out the whole window, then
 * checks the policy holds the content from before the runaway, that exactly one rollback was made and audited as
 * 'guard-rail', and that no console heartbeat was seen during the window.
 */
const consoleDown: Scenario = {
  name: 'console-down',
  summary: `no console process for ${CONSOLE_DOWN_SECONDS} s (--console-down-seconds) while a runaway version blocks everything: two ops members roll it back once`,
  ops: [{ id: 'ops-a' }, { id: 'ops-b' }],
  async fault(ctx) {
    const seconds = ctx.env.consoleDownSeconds ?? CONSOLE_DOWN_SECONDS;
    const prefix = ctx.config.redis.keyPrefix;
    const redis = ctx.env.redis;
    const policies = new RedisPolicyStore(redis, prefix, () => defaultPolicy(COLD_START_THRESHOLDS));
    const guard = new GuardState(redis, prefix);
    const { audit, close: closeAudit } = openAuditLog(ctx.config, redis, ctx.env.kafka);
    const violations: string[] = [];
    const before = await policies.current();
    const { version: _v, updatedAt: _u, updatedBy: _b, ...content } = before;
    const runaway = await policies.update({ ...content, rules: { ...content.rules, blockAmountAbove: 1 } }, 'chaos-runaway');
    const startedAt = Date.now();
    ctx.log(`runaway policy v${runaway.version} served (blocks every amount above 1); no console for ${seconds} s`);
    let rolledBackAt: number | undefined;
    let consoles = 0;
    while (Date.now() - startedAt < seconds * 1_000) {
      consoles = Math.max(consoles, (await readHeartbeats(redis, prefix, Date.now())).filter((h) => h.stage === 'ui').length);
      if (rolledBackAt === undefined && (await policies.current()).version > runaway.version) {
        rolledBackAt = Date.now();
        ctx.log(`rolled back ${((rolledBackAt - startedAt) / 1000).toFixed(1)} s after the runaway was served`);
      }
      await sleep(1_000);
    }
    const end = Date.now();
    const now = await policies.current();
    const rollbacks = (await guard.rollbacks()).filter((r) => r.fromVersion === runaway.version);
    const audited = (await audit.list(50, { target: 'policy' })).filter((e) => e.who === GUARD_WHO && e.action === 'policy.rollback');
    await closeAudit();
    const counted = await guard.counts(runaway.version);
    if (consoles > 0) violations.push(`${consoles} console heartbeat(s) seen during the window: not a console-down run`);
    if (rolledBackAt === undefined) violations.push(`runaway policy v${runaway.version} was still current ${seconds} s later (${counted.blocks} of ${counted.decisions} decisions under it blocked): no guard rail without a console`);
    if (rollbacks.length > 1 || audited.length > 1) violations.push(`the runaway was rolled back ${rollbacks.length} times (${audited.length} audit entries): the ops members did not act once`);
    if (rolledBackAt !== undefined && (rollbacks.length === 0 || audited.length === 0)) violations.push(`the policy moved on but no guard-rail rollback was recorded (${rollbacks.length}) or audited (${audited.length})`);
    if (now.version !== runaway.version + 1 || now.rules.blockAmountAbove !== before.rules.blockAmountAbove) {
      violations.push(`after the window the policy is v${now.version} with blockAmountAbove ${now.rules.blockAmountAbove}; expected v${runaway.version + 1} holding v${before.version}'s ${before.rules.blockAmountAbove}`);
    }
    return {
      end,
      proof: {
        windowSeconds: seconds,
        consoleHeartbeatsSeen: consoles,
        opsMembers: 2,
        runawayVersion: runaway.version,
        restoredFrom: rollbacks[0]?.toVersion ?? null,
        newVersion: rollbacks[0]?.newVersion ?? null,
        rolledBackBy: rollbacks[0]?.by ?? null,
        rolledBackAfterSeconds: rolledBackAt === undefined ? null : Math.round((rolledBackAt - startedAt) / 100) / 10,
        decisionsUnderRunaway: counted.decisions,
        blocksUnderRunaway: counted.blocks,
        reason: rollbacks[0]?.reason ?? null,
      },
      violations,
    };
  },
};

export const SCENARIOS: readonly Scenario[] = [
  ...DECISION_STAGES.map(killMidBatch),
  brokerRestart(5),
  brokerRestart(45),
  zombie,
  redisRestart,
  redisLoss(FLUSHALL),
  redisLoss(KILL9),
  clientKill,
  poisonLarge,
  poisonThrow,
  fuzz,
  conflictingDuplicate,
  verdictsKafkaDown,
  brokerLeaderKill,
  brokerCoordinatorKill,
  consoleDown,
  redisMasterFailover,
];

export const SCENARIO_NAMES = SCENARIOS.map((s) => s.name);

/** The short subset `npm test` runs. */
export const TEST_SUBSET = ['broker-restart-5s', 'poison-large', 'conflicting-duplicate'] as const;
