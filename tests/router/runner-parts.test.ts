/**
 * The stage runner's parts against fakes (issue 20, item 3): the batch processor with a fake outcome store and
 * fake transactions, the member supervisor with a fake consumer factory, the health watch with fake lag and a
 * fake clock. Each path the chaos suite drives on a real broker: a failing batch split down to its poison message,
 * a fenced producer, a stalled partition, a retry after a lost reply.
 */
import type { KafkaMessage } from 'kafkajs';
import { kafkaRetryCounts } from '../../core/kafka-retries.ts';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DeadLetterSchema } from '../../core/contracts.ts';
import { CLAIM_HEADER, decodeClaimHeader, OutcomeViewLostError, type Claim, type Claims } from '../../state/outcomes.ts';
import { BatchProcessor, LOGIC_ATTEMPTS, type BatchContext, type BatchProcessorOptions, type OutcomePort, type PartitionTxnProducer, type ProducerPool, type StageLogic, type TransactionPort } from '../../router/runner/batch-processor.ts';
import { StageStatus, type PartitionLag } from '../../router/runner/health.ts';
import { HealthWatch, type MemberView } from '../../router/runner/health-watch.ts';
import { MemberSupervisor, type MemberHandlers, type MemberProducers } from '../../router/runner/member-supervisor.ts';

const quiet = { info: () => undefined, warn: () => undefined };

interface Row {
  txId: string;
  poison?: boolean;
}

function message(row: Row, offset: number): KafkaMessage {
  return { key: Buffer.from(row.txId), value: Buffer.from(JSON.stringify(row)), offset: String(offset), timestamp: String(Date.now()), attributes: 0, headers: {} } as KafkaMessage;
}

/** Outputs one message per row; throws on a poison row anywhere in what it is given. */
function logic(calls: string[][]): StageLogic<Row> {
  return {
    name: 'detect',
    schema: z.object({ txId: z.string(), poison: z.boolean().optional() }),
    keyOf: (r) => r.txId,
    async handle(inputs) {
      calls.push(inputs.map((i) => i.value.txId));
      if (inputs.some((i) => i.value.poison)) throw new Error('bad row');
      return inputs.map((i) => [{ topic: 'decisions', key: i.value.txId, value: `decided ${i.value.txId}` }]);
    },
  };
}

class FakeOutcomes implements OutcomePort {
  claimed = new Set<string>();
  released: string[] = [];
  claimCalls = 0;
  /** Throws this on the next claim, after applying it (a reply lost on a dropped connection). */
  loseNextReply: Error | undefined;
  /** The generation of the claims' view; `wipeAfterNextClaim` replaces it right after the next claim (a FLUSHALL and a rebuild). */
  view = 'g1';
  wipeAfterNextClaim = false;
  confirmed: string[] = [];
  async claim(items: Array<{ key: string }>): Promise<Claims> {
    this.claimCalls += 1;
    const out: Claims = items.map((i): Claim => ({ mine: true, again: this.claimed.has(i.key) }));
    out.view = this.view;
    for (const i of items) this.claimed.add(i.key);
    if (this.wipeAfterNextClaim) {
      this.wipeAfterNextClaim = false;
      this.view = 'g2';
    }
    const lost = this.loseNextReply;
    this.loseNextReply = undefined;
    if (lost) throw lost;
    return out;
  }
  async confirm(view: string): Promise<void> {
    this.confirmed.push(view);
    if (view !== this.view) throw new OutcomeViewLostError('detect');
  }
  async release(keys: string[]): Promise<void> {
    this.released.push(...keys);
  }
  markedCommitted: Array<{ key: string; source: string }> = [];
  async markCommitted(items: Array<{ key: string; source: string }>): Promise<void> {
    this.markedCommitted.push(...items.map((i) => ({ key: i.key, source: i.source })));
  }
}

class FakeTxn implements TransactionPort {
  sent: Array<{ topic: string; key: string; value: string; headers?: Record<string, string> }> = [];
  offsets: string[] = [];
  state: 'open' | 'committed' | 'aborted' = 'open';
  constructor(
    private readonly commitError?: Error,
    private readonly answer?: (topicMessages: Array<{ topic: string; messages: Array<{ key: string; partition?: number }> }>) => unknown,
  ) {}
  async sendBatch(b: { topicMessages: Array<{ topic: string; messages: Array<{ key: string; value: string; headers?: Record<string, string> }> }> }) {
    for (const t of b.topicMessages) for (const m of t.messages) this.sent.push({ topic: t.topic, ...m });
    return this.answer?.(b.topicMessages);
  }
  async sendOffsets(o: { topics: Array<{ partitions: Array<{ offset: string }> }> }) {
    this.offsets.push(...o.topics.flatMap((t) => t.partitions.map((p) => p.offset)));
  }
  async commit() {
    if (this.commitError) throw this.commitError;
    this.state = 'committed';
  }
  async abort() {
    this.state = 'aborted';
  }
}

class FakePool implements ProducerPool {
  txns: FakeTxn[] = [];
  released: number[] = [];
  acquired = 0;
  /** Errors for the commits of the next transactions, in order. */
  commitErrors: Array<Error | undefined> = [];
  /** What the next transactions' sendBatch calls answer, in order (kafkajs: the partitions written). */
  answers: Array<((topicMessages: Array<{ topic: string; messages: Array<{ key: string; partition?: number }> }>) => unknown) | undefined> = [];
  private live = new Map<number, PartitionTxnProducer>();
  async acquire(partition: number): Promise<PartitionTxnProducer> {
    this.acquired += 1;
    let pp = this.live.get(partition);
    if (!pp) {
      pp = { partition, minOffset: 0n, producer: { transaction: async () => this.txns[this.txns.push(new FakeTxn(this.commitErrors.shift(), this.answers.shift())) - 1]! } };
      this.live.set(partition, pp);
    }
    return pp;
  }
  async release(partition: number): Promise<void> {
    this.released.push(partition);
    this.live.delete(partition);
  }
  committed(): FakeTxn[] {
    return this.txns.filter((t) => t.state === 'committed');
  }
}

function setup(rows: Row[], firstOffset = 100, over: Partial<BatchProcessorOptions<Row>> = {}) {
  const calls: string[][] = [];
  const outcomes = new FakeOutcomes();
  const pool = new FakePool();
  const sleeps: number[] = [];
  const processor = new BatchProcessor<Row>({
    logic: logic(calls),
    outcomes,
    topic: 'transactions',
    groupId: 'detect',
    dlqTopic: 'dlq',
    instanceId: 'test',
    faults: {},
    log: quiet,
    sleep: async (ms) => void sleeps.push(ms),
    ...over,
  });
  const messages = rows.map((r, i) => message(r, firstOffset + i));
  const resolved: string[] = [];
  const ctx: BatchContext = {
    batch: { partition: 2, messages, lastOffset: () => messages.at(-1)!.offset },
    heartbeat: async () => undefined,
    isRunning: () => true,
    isStale: () => false,
    resolveOffset: (o) => void resolved.push(o),
  };
  const fenced: string[] = [];
  const run = () => processor.run(ctx, () => pool, () => false, () => void fenced.push('fenced'));
  return { calls, outcomes, pool, sleeps, processor, resolved, fenced, run };
}

const rows = (n: number, poisonAt = -1): Row[] => Array.from({ length: n }, (_, i) => ({ txId: `tx-${i}`, ...(i === poisonAt ? { poison: true } : {}) }));

describe('batch processor (fakes)', () => {
  it('issue 18: a send answered without one of its partitions (kafkajs after a leader died) aborts the batch, which is sent again whole', async () => {
    // The cluster path: one sendBatch per output partition, the partition set (here: tx-0, tx-1 -> 0; tx-2, tx-3 -> 1).
    const t = setup(rows(4), 100, {
      sends: {
        of: async (chunk) => [0, 1].map((p) => [{ topic: 'decisions', messages: chunk.filter((_, i) => Math.floor(i / 2) === p).map((m) => ({ key: m.key, value: m.value, partition: p })) }]),
        forget: () => undefined,
      },
    });
    const named = (tm: Array<{ topic: string; messages: Array<{ key: string; partition?: number }> }>) => tm.map((x) => ({ topicName: x.topic, partition: x.messages[0]!.partition, errorCode: 0 }));
    // First transaction: partition 1's send resolves naming nothing. Second: every send named.
    t.pool.answers = [(tm) => (tm[0]!.messages[0]!.partition === 1 ? [] : named(tm)), named];
    await t.run();
    expect(t.pool.txns.map((x) => x.state)).toEqual(['aborted', 'committed']);
    expect(t.pool.committed()[0]!.sent.map((m) => m.key)).toEqual(['tx-0', 'tx-1', 'tx-2', 'tx-3']);
  });

  it('issue 18: outputs carry their input\'s claim; a batch whose claims\' view was lost before commit is aborted and claimed again', async () => {
    const t = setup(rows(3));
    t.outcomes.wipeAfterNextClaim = true;
    await t.run();
    expect(t.outcomes.confirmed).toEqual(['g1', 'g2']);
    expect(t.pool.txns.map((x) => x.state)).toEqual(['aborted', 'committed']);
    expect(t.outcomes.claimCalls).toBe(2);
    const sent = t.pool.committed()[0]!.sent;
    expect(sent).toHaveLength(3);
    expect(sent.map((m) => decodeClaimHeader(m.headers?.[CLAIM_HEADER]))).toEqual([0, 1, 2].map((i) => ({ stage: 'detect', key: `tx-${i}`, source: `2:${100 + i}`, hash: expect.stringMatching(/^[\w-]{22}$/) })));
    // Marked committed once, after the commit that held them (not after the aborted attempt).
    await t.processor.drain();
    expect(t.outcomes.markedCommitted).toEqual([0, 1, 2].map((i) => ({ key: `tx-${i}`, source: `2:${100 + i}` })));
  });

  it('splits a failing batch down to its poison message: the rest decided, the poison dead-lettered after bounded attempts, its claim released after commit', async () => {
    const t = setup(rows(8, 5));
    await t.run();
    await t.processor.drain();
    // 8 fails -> 4 ok, 4 fails -> [4,5] fails -> [4] ok, [5] fails 3 times in all -> [6,7] ok.
    expect(t.calls).toEqual([rows(8).map((r) => r.txId), ['tx-0', 'tx-1', 'tx-2', 'tx-3'], ['tx-4', 'tx-5', 'tx-6', 'tx-7'], ['tx-4', 'tx-5'], ['tx-4'], ['tx-5'], ['tx-5'], ['tx-5'], ['tx-6', 'tx-7']]);
    expect(t.calls.filter((c) => c.length === 1 && c[0] === 'tx-5')).toHaveLength(LOGIC_ATTEMPTS);
    expect(t.sleeps).toEqual([40, 60]);
    const [txn] = t.pool.committed();
    expect(t.pool.txns).toHaveLength(1);
    expect(txn!.sent.filter((m) => m.topic === 'decisions').map((m) => m.key)).toEqual(['tx-0', 'tx-1', 'tx-2', 'tx-3', 'tx-4', 'tx-6', 'tx-7']);
    const letters = txn!.sent.filter((m) => m.topic === 'dlq').map((m) => DeadLetterSchema.parse(JSON.parse(m.value)));
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toBe(`stage logic failed ${LOGIC_ATTEMPTS} times: bad row`);
    expect(Buffer.from(letters[0]!.rawBase64, 'base64').toString()).toContain('"txId":"tx-5"');
    expect(txn!.offsets).toEqual(['108']);
    expect(t.resolved).toEqual(['107']);
    expect(t.outcomes.released).toEqual(['tx-5']);
    // The dead-lettered one is released, never marked committed.
    expect(t.outcomes.markedCommitted.map((m) => m.key)).toEqual(['tx-0', 'tx-1', 'tx-2', 'tx-3', 'tx-4', 'tx-6', 'tx-7']);
    expect(t.processor.lastCommitAt).toBeTypeOf('number');
  });

  it('issue 20: the stage\'s prefetch starts before the claims return, with every parsed input, and reaches only the first handle call', async () => {
    const t = setup(rows(8, 5));
    const base = logic(t.calls);
    const order: string[] = [];
    const given: unknown[] = [];
    const claim = t.outcomes.claim.bind(t.outcomes);
    t.outcomes.claim = async (items) => {
      order.push('claim');
      return claim(items);
    };
    const processor = new BatchProcessor<Row>({
      logic: {
        ...base,
        prefetch: (values) => {
          order.push('prefetch');
          return { read: values.map((v) => v.txId) };
        },
        handle: (inputs, prefetched) => {
          given.push(prefetched);
          return base.handle(inputs);
        },
      },
      outcomes: t.outcomes, topic: 'transactions', groupId: 'detect', dlqTopic: 'dlq', instanceId: 'test', faults: {}, log: quiet, sleep: async () => undefined,
    });
    await processor.run(
      { batch: { partition: 2, messages: rows(8, 5).map((r, i) => message(r, 100 + i)), lastOffset: () => '107' }, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false, resolveOffset: () => undefined },
      () => t.pool, () => false, () => undefined,
    );
    expect(order).toEqual(['prefetch', 'claim']);
    // The first call (the whole batch) failed on the poison row: its splits read afresh.
    expect(given[0]).toEqual({ read: rows(8).map((r) => r.txId) });
    expect(given.slice(1).every((g) => g === undefined)).toBe(true);
    expect(given.length).toBeGreaterThan(1);
  });

  it('a fenced producer: the transaction is aborted, nothing retried or resolved, the supervisor told once', async () => {
    const t = setup(rows(3));
    t.pool.commitErrors = [Object.assign(new Error('There is a newer producer with the same transactionalId'), { name: 'KafkaJSProtocolError', type: 'PRODUCER_FENCED' })];
    await t.run();
    expect(t.fenced).toEqual(['fenced']);
    expect(t.pool.txns.map((x) => x.state)).toEqual(['aborted']);
    expect(t.pool.released).toEqual([]);
    expect(t.resolved).toEqual([]);
    expect(t.sleeps).toEqual([]);
  });

  it('regression: a claim whose reply was lost is retried on a fresh producer, decided and published once', async () => {
    const t = setup(rows(4));
    t.outcomes.loseNextReply = new Error('Connection is closed.');
    await t.run();
    // Attempt 1 failed before any transaction; the partition's producer was dropped, then 100 ms of backoff.
    expect(t.outcomes.claimCalls).toBe(2);
    expect(t.pool.released).toEqual([2]);
    expect(t.sleeps).toEqual([100]);
    // Attempt 2: the keys are this message's own claims ("again"), so they are decided, not counted as duplicates.
    expect(t.pool.txns).toHaveLength(1);
    expect(t.pool.committed()[0]!.sent.map((m) => m.key)).toEqual(['tx-0', 'tx-1', 'tx-2', 'tx-3']);
    expect(t.calls).toEqual([['tx-0', 'tx-1', 'tx-2', 'tx-3']]);
    expect(t.resolved).toEqual(['103']);
  });

  it('a commit that failed on the broker (its reply lost) is aborted and the whole batch retried, never half-published', async () => {
    const t = setup(rows(2));
    t.pool.commitErrors = [Object.assign(new Error('Connection timeout'), { name: 'KafkaJSConnectionError' })];
    await t.run();
    expect(t.pool.txns.map((x) => x.state)).toEqual(['aborted', 'committed']);
    expect(t.pool.released).toEqual([2]);
    expect(t.pool.committed()[0]!.sent.map((m) => m.key)).toEqual(['tx-0', 'tx-1']);
    expect(t.resolved).toEqual(['101']);
  });

  it('a broker\'s "ask again" (a transaction still closing) is retried quietly and counted; any other failure is warned', async () => {
    const logged = (commitError: Error) => {
      const t = setup(rows(2));
      const lines: string[] = [];
      (t.processor as unknown as { o: { log: object } }).o.log = {
        info: () => undefined,
        warn: (_o: object, m?: string) => void lines.push(`warn ${m}`),
        debug: (_o: object, m?: string) => void lines.push(`debug ${m}`),
      };
      t.pool.commitErrors = [commitError];
      return { t, lines };
    };
    const before = kafkaRetryCounts().get('concurrent_transactions') ?? 0;
    const busy = logged(new Error('The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'));
    await busy.t.run();
    expect(busy.t.pool.txns.map((x) => x.state)).toEqual(['aborted', 'committed']);
    expect(busy.lines).toEqual(['debug batch met a retriable broker answer; retrying it (nothing was committed)']);
    expect(kafkaRetryCounts().get('concurrent_transactions')).toBe(before + 1);
    const other = logged(new Error('disk on fire'));
    await other.t.run();
    expect(other.lines).toEqual(['warn batch failed; retrying it (nothing was committed)']);
  });

  it('skips what a previous owner committed (below the producer\'s minOffset) without deciding it', async () => {
    const t = setup(rows(3));
    const pp = await t.pool.acquire(2);
    pp.minOffset = 102n;
    await t.run();
    expect(t.calls).toEqual([['tx-2']]);
    expect(t.resolved).toEqual(['102']);
  });
});

class FakeConsumer {
  disconnected = false;
  constructor(readonly handlers: MemberHandlers) {}
  async disconnect() {
    this.disconnected = true;
  }
}

function supervisorSetup() {
  const consumers: FakeConsumer[] = [];
  const pools: Array<{ releasedAll: boolean; released: number[] }> = [];
  const rebuildsSeen: Array<[string, string]> = [];
  const sleeps: number[] = [];
  let failures = 0;
  let joined = 0;
  const s = new MemberSupervisor({
    stage: 'detect',
    consumers: async (h) => {
      if (failures > 0) {
        failures -= 1;
        throw new Error('broker not answering');
      }
      const c = new FakeConsumer(h);
      consumers.push(c);
      return c;
    },
    newProducers: (): MemberProducers => {
      const p = { releasedAll: false, released: [] as number[] };
      pools.push(p);
      return { acquire: () => Promise.reject(new Error('unused')), release: async (n) => void p.released.push(n), releaseAll: async () => void (p.releasedAll = true) };
    },
    eachBatch: async () => undefined,
    onJoined: () => void (joined += 1),
    onRebuild: (why, status) => void rebuildsSeen.push([why, status]),
    log: quiet,
    sleep: async (ms) => void sleeps.push(ms),
  });
  return { s, consumers, pools, rebuildsSeen, sleeps, joined: () => joined, failNextBuilds: (n: number) => void (failures = n) };
}

describe('member supervisor (fakes)', () => {
  it('a fenced member is rebuilt: old consumer disconnected, old producers released, a new consumer and producer set, partitions reassigned', async () => {
    const t = supervisorSetup();
    await t.s.build();
    t.consumers[0]!.handlers.onJoin([3, 1]);
    expect(t.s.assigned).toEqual([1, 3]);
    expect(t.joined()).toBe(1);
    const firstProducers = t.s.producers;
    await t.s.rebuild('fenced');
    expect(t.rebuildsSeen).toEqual([['fenced', StageStatus.DOWN]]);
    expect(t.consumers[0]!.disconnected).toBe(true);
    expect(t.pools.at(-2)!.releasedAll).toBe(true);
    expect(t.consumers).toHaveLength(2);
    expect(t.s.producers).not.toBe(firstProducers);
    expect(t.s.rebuilds).toBe(1);
    expect(t.s.assigned).toEqual([]);
    // A partition that moved away at the next join has its producer dropped.
    t.consumers[1]!.handlers.onJoin([1, 3]);
    t.consumers[1]!.handlers.onJoin([1]);
    expect(t.pools.at(-1)!.released).toEqual([3]);
  });

  it('one rebuild at a time, and a consumer that crashed for good is rebuilt while one kafkajs restarts is not', async () => {
    const t = supervisorSetup();
    await t.s.build();
    const a = t.s.rebuild('fenced');
    const b = t.s.rebuild('stalled', StageStatus.STALLED);
    expect(b).toBe(a);
    await a;
    expect(t.s.rebuilds).toBe(1);
    t.consumers[1]!.handlers.onCrash(new Error('coordinator moved'), true);
    expect(t.s.rebuilding).toBeUndefined();
    t.consumers[1]!.handlers.onCrash(new Error('gave up'), false);
    await t.s.rebuilding;
    expect(t.rebuildsSeen.at(-1)).toEqual(['consumer crashed: gave up', StageStatus.DOWN]);
    expect(t.consumers).toHaveLength(3);
  });

  it('keeps trying to rebuild with doubling backoff while the broker does not answer; never once stopping', async () => {
    const t = supervisorSetup();
    await t.s.build();
    const orig = t.consumers.length;
    t.failNextBuilds(3);
    await t.s.rebuild('consumer crashed: x');
    expect(t.sleeps).toEqual([1_000, 2_000, 4_000]);
    expect(t.consumers).toHaveLength(orig + 1);
    await t.s.stop();
    expect(t.consumers.at(-1)!.disconnected).toBe(true);
    await t.s.rebuild('after stop');
    expect(t.s.rebuilds).toBe(1);
  });
});

describe('health watch (fakes)', () => {
  function watchSetup() {
    let now = 0;
    let lag: PartitionLag[] | Error = [];
    let redis = 'ready';
    const m = { assigned: [0], assignedAt: 0, lastBuiltAt: 0, lastCommitAt: undefined as number | undefined, rebuilding: false, consumer: true, rebuilds: 0 };
    const member: MemberView = {
      assigned: () => m.assigned,
      assignedAt: () => m.assignedAt,
      lastBuiltAt: () => m.lastBuiltAt,
      lastCommitAt: () => m.lastCommitAt,
      isRebuilding: () => m.rebuilding,
      hasConsumer: () => m.consumer,
      rebuilds: () => m.rebuilds,
    };
    const rebuilds: Array<[string, string]> = [];
    let resets = 0;
    const w = new HealthWatch({
      stage: 'detect',
      instanceId: 'test',
      topic: 'transactions',
      stallMs: 1_000,
      readLag: async () => {
        if (lag instanceof Error) throw lag;
        return lag;
      },
      resetLagReader: () => void (resets += 1),
      redisStatus: () => redis,
      member,
      rebuild: (why, status) => void rebuilds.push([why, status]),
      now: () => now,
    });
    return {
      w,
      m,
      rebuilds,
      resets: () => resets,
      at: async (t: number) => {
        now = t;
        await w.tick();
      },
      setLag: (l: PartitionLag[] | Error) => void (lag = l),
      setRedis: (s: string) => void (redis = s),
    };
  }
  const lagOf = (partition: number, n: number, committed: bigint): PartitionLag => ({ partition, lag: n, committed, end: committed + BigInt(n) });

  it('a stalled partition: said first, rebuilt only if the stall lasts as long again, up once the member commits', async () => {
    const t = watchSetup();
    t.setLag([lagOf(0, 5, 10n), lagOf(1, 0, 7n)]);
    await t.at(500);
    expect(t.w.status).toBe(StageStatus.UP);
    expect([t.w.myLag, t.w.groupLag]).toEqual([5, 5]);
    await t.at(1_500);
    expect(t.w.status).toBe(StageStatus.STALLED);
    expect(t.w.reason).toBe('lag 5 and no progress for 1 s');
    expect(t.rebuilds).toEqual([]);
    await t.at(2_600);
    expect(t.rebuilds).toEqual([['stalled', StageStatus.STALLED]]);
    t.m.lastCommitAt = 2_700;
    await t.at(2_800);
    expect(t.w.status).toBe(StageStatus.UP);
    expect(t.w.health()).toMatchObject({ status: 'up', lag: 5, groupLag: 5, partitions: [0], lastCommitAt: 2_700, checkedAt: 2_800 });
  });

  it('lag on a partition of another member is not this member\'s stall; no lag is never a stall', async () => {
    const t = watchSetup();
    t.setLag([lagOf(0, 0, 10n), lagOf(1, 9, 7n)]);
    await t.at(5_000);
    expect(t.w.status).toBe(StageStatus.UP);
    expect(t.w.myLag).toBe(0);
  });

  it('down while Redis is not ready or the broker does not answer; the lag reader is started afresh after 3 failures', async () => {
    const t = watchSetup();
    t.setRedis('reconnecting');
    await t.at(100);
    expect(t.w.status).toBe(StageStatus.DOWN);
    expect(t.w.reason).toBe('redis reconnecting: batches wait for it');
    t.setRedis('ready');
    t.setLag(new Error('connect ECONNREFUSED'));
    await t.at(200);
    await t.at(300);
    expect(t.resets()).toBe(0);
    await t.at(400);
    expect(t.resets()).toBe(1);
    expect(t.w.status).toBe(StageStatus.DOWN);
    expect(t.w.reason).toBe('cannot read lag from the broker: connect ECONNREFUSED');
  });

  it('while a rebuild runs, the watch keeps the status the supervisor gave it', async () => {
    const t = watchSetup();
    t.w.rebuilding('fenced', StageStatus.DOWN);
    t.m.rebuilding = true;
    t.setLag([lagOf(0, 0, 1n)]);
    await t.at(100);
    expect(t.w.status).toBe(StageStatus.DOWN);
    expect(t.w.reason).toBe('rebuilding: fenced');
  });
});
