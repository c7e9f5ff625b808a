/**
 * What a reader of the system sees during a scenario. One read_committed consumer (kafkajs' default isolation)
 * follows every topic from the beginning; messages are kept once per (topic, partition, offset), so a consumer
 * that restarts after a broker outage and reads some of them again changes nothing. Decisions keep the time
 * this process first saw them: that is when decisions "resumed" for a reader.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { decodeCardState } from '../../detectors/pure/card-state.ts';
import { featureCardKey } from '../../state/features.ts';
import { reviewKeysOf } from '../../state/review.ts';
import { allKeys, deleteKeys, mgetKeys } from '../../core/redis.ts';
import { CLAIM_HEADER } from '../../state/outcomes.ts';
import { sha256, type ClosedCase, type ObservedInput } from './pure/invariants.ts';
import { sleep } from './services.ts';

export interface SeenDecision {
  raw: string;
  txId: string;
  decidedAt: number;
  final: boolean;
  action: string;
  stage: string;
  /** Local time this process first received it. */
  seenAt: number;
  position: string;
  /** The stage's claim of its input (header CLAIM_HEADER: stage, key, source partition:offset, content hash). */
  claim?: string;
}

interface Follower {
  stop(): Promise<void>;
}

/**
 * A consumer on `topics` that is rebuilt if kafkajs gives up on it (CRASH without restart): a broker gone for
 * minutes must not leave the observer blind.
 */
function follow(kafka: Kafka, topics: string[], opts: { readUncommitted?: boolean; log: (l: string) => void }, onMessage: (topic: string, partition: number, m: KafkaMessage) => void): Follower {
  const groupId = `chaos-observer-${randomUUID()}`;
  let consumer: Consumer | undefined;
  let stopped = false;
  const start = async (): Promise<void> => {
    while (!stopped) {
      const c = kafka.consumer({ groupId, readUncommitted: opts.readUncommitted ?? false, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 200, retry: { retries: 1_000, maxRetryTime: 2_000 } });
      consumer = c;
      try {
        c.on(c.events.CRASH, (e) => {
          if (!e.payload.restart && !stopped) {
            opts.log(`observer consumer crashed (${e.payload.error.message}); rebuilding it`);
            void c.disconnect().catch(() => undefined).then(() => (stopped ? undefined : start()));
          }
        });
        await c.connect();
        await c.subscribe({ topics, fromBeginning: true });
        await c.run({
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) onMessage(batch.topic, batch.partition, m);
          },
        });
        return;
      } catch (err) {
        opts.log(`observer consumer could not start (${(err as Error).message}); retrying`);
        await c.disconnect().catch(() => undefined);
        await sleep(1_000);
      }
    }
  };
  void start();
  return {
    stop: async () => {
      stopped = true;
      await consumer?.disconnect().catch(() => undefined);
    },
  };
}

export class Observer {
  readonly inputs: ObservedInput[] = [];
  readonly decisions: SeenDecision[] = [];
  readonly deadLetters: string[] = [];
  readonly cases: string[] = [];
  readonly labels: string[] = [];
  private readonly seen = new Set<string>();
  private readonly decidedTx = new Set<string>();
  private follower: Follower | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: Config,
    private readonly log: (l: string) => void,
  ) {}

  start(): void {
    const t = this.config.topics;
    this.follower = follow(this.kafka, [t.transactions, t.decisions, t.dlq, t.cases, t.labels], { log: this.log }, (topic, partition, m) => {
      const pos = `${topic}:${partition}:${m.offset}`;
      if (this.seen.has(pos)) return;
      this.seen.add(pos);
      const raw = m.value?.toString('utf8') ?? '';
      if (topic === t.transactions) this.inputs.push({ hash: sha256(m.value), partition, offset: m.offset });
      else if (topic === t.decisions) {
        let d: Partial<SeenDecision> = {};
        try {
          d = JSON.parse(raw) as Partial<SeenDecision>;
        } catch {
          // kept raw: the invariant check reports it
        }
        const txId = String(d.txId ?? '');
        this.decidedTx.add(txId);
        const claim = m.headers?.[CLAIM_HEADER]?.toString();
        this.decisions.push({ raw, txId, decidedAt: Number(d.decidedAt ?? 0), final: d.final === undefined ? d.action !== 'REVIEW' : d.final === true, action: String(d.action), stage: String(d.stage), seenAt: Date.now(), position: pos, ...(claim ? { claim } : {}) });
      } else if (topic === t.dlq) this.deadLetters.push(raw);
      else if (topic === t.cases) this.cases.push(raw);
      else if (topic === t.labels) this.labels.push(raw);
    });
  }

  hasDecision(txId: string): boolean {
    return this.decidedTx.has(txId);
  }

  positions(): Set<string> {
    return this.seen;
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
  }
}

/** Outputs as a read_uncommitted reader sees them: the evidence that a transaction was written and not committed. */
export class UncommittedWatch {
  readonly outputs: Array<{ position: string; txId: string; seenAt: number; /** Kafka timestamp (CreateTime: when the producer sent it). */ timestamp: number }> = [];
  private readonly seen = new Set<string>();
  private follower: Follower | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: string[],
    private readonly log: (l: string) => void,
  ) {}

  start(): void {
    this.follower = follow(this.kafka, this.topics, { readUncommitted: true, log: this.log }, (topic, partition, m) => {
      const position = `${topic}:${partition}:${m.offset}`;
      if (this.seen.has(position)) return;
      this.seen.add(position);
      let txId = '';
      try {
        txId = String((JSON.parse(m.value?.toString('utf8') ?? '') as { txId?: unknown }).txId ?? '');
      } catch {
        // not an output of ours
      }
      this.outputs.push({ position, txId, seenAt: Date.now(), timestamp: Number(m.timestamp) });
    });
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
  }
}

/** Waits until the consumer group has `members` members and is Stable. */
export async function waitForGroup(admin: Admin, groupId: string, members: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const { groups } = await admin.describeGroups([groupId]);
      const g = groups[0];
      last = `${g?.state ?? '?'} with ${g?.members.length ?? 0} members`;
      if (g && g.state === 'Stable' && g.members.length === members) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  throw new Error(`group ${groupId} did not reach ${members} stable members within ${timeoutMs / 1000} s (last: ${last})`);
}

/** The group's committed offset on one partition (-1 when none). */
export async function committedOffset(admin: Admin, groupId: string, topic: string, partition: number): Promise<bigint> {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  const p = res.find((t) => t.topic === topic)?.partitions.find((x) => x.partition === partition);
  return p ? BigInt(p.offset) : -1n;
}

/** Transactions applied per card, from the feature store's packed state (field s of state/features.ts featureCardKey). */
export async function featureCounts(redis: Redis, prefix: string, cards: Iterable<string>): Promise<Map<string, number>> {
  const list = [...cards];
  const out = new Map<string, number>();
  for (let i = 0; i < list.length; i += 500) {
    const chunk = list.slice(i, i + 500);
    const pipe = redis.pipeline();
    for (const card of chunk) pipe.hgetBuffer(featureCardKey(prefix, card), 's');
    const res = (await pipe.exec()) ?? [];
    chunk.forEach((card, j) => {
      const [err, buf] = res[j] ?? [null, null];
      if (err) throw err;
      out.set(card, buf ? decodeCardState(buf as Buffer).n : 0);
    });
  }
  return out;
}

/** Cases an analyst closed, from the review queue (state/review.ts keys; tagged on a Redis Cluster client). */
export async function closedCases(redis: Redis, prefix: string): Promise<ClosedCase[]> {
  const keys = reviewKeysOf(redis, prefix);
  const ids = await redis.zrange(keys.closed, 0, -1);
  if (ids.length === 0) return [];
  const raws = await mgetKeys(redis, ids.map((id) => keys.case(id)));
  return raws.flatMap((raw, i) => {
    if (!raw) return [];
    const c = JSON.parse(raw) as { caseId: string; txId: string; status: string };
    return c.status === 'open' ? [] : [{ caseId: c.caseId ?? ids[i]!, txId: c.txId, status: c.status }];
  });
}

/** Deletes every key under the prefix (SCAN, not KEYS; on every master of a Redis Cluster). */
export async function dropKeys(redis: Redis, prefix: string): Promise<void> {
  await deleteKeys(redis, await allKeys(redis, `${prefix}*`));
}
