/**
 * Issue 18 (chaos redis-kill9): an open case reaches the review queue only once its Kafka transaction committed.
 * Escalate used to write the case into Redis while deciding, before the commit: a batch aborted after that write
 * (a kill, a Redis loss) left a case the record never had, and the retried batch recorded the case again with
 * another `createdAt` than the one the queue showed (after a Redis loss the restored queue then showed the other).
 * Here the escalate logic runs twice for the same escalation (the first attempt aborted, the second committed): the
 * queue holds exactly the committed record. The case view writer applies committed case-state records, never
 * aborted ones, and a replay of the topic from its start never reopens a decided case.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka, Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Case, Escalation } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { MemoryFeatureStore } from '../../detectors/features.ts';
import { startCaseViewWriter, type CaseViewWriter } from '../../router/case-view.ts';
import { escalateLogic } from '../../router/escalate-stage.ts';
import type { PolicySource } from '../../router/policy-source.ts';
import type { OutMessage } from '../../router/runner/batch.ts';
import { defaultPolicy } from '../../state/policy.ts';
import { applyCaseRecords, RedisReviewQueue, reviewKeysOf } from '../../state/review.ts';
import { testConfig, testRedis } from '../helpers/services.ts';
import { testTransactions } from '../helpers/transactions.ts';

const policy = defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } });
const source: PolicySource = { current: () => policy, refresh: async () => policy, onChange: () => undefined, close: async () => undefined };

function escalation(txId: string): Escalation {
  const [tx] = testTransactions(1, { prefix: txId });
  const t = { ...tx!, txId };
  return { txId, cardId: t.cardId, tx: t, features: {}, scores: { xgboost: 0.6, isolationForest: 0.6 }, rulesFired: [], topFeatures: [], versions: { model: 'none', policy: policy.version }, timings: { detect: 1 }, escalatedAt: t.ts };
}

const caseRecords = (config: Config, out: OutMessage[][]) => out.flat().filter((m) => m.topic === config.topics.caseState);
const openCase = (id: string, createdAt: number): Case => ({
  caseId: id, txId: id.slice(5), cardId: 'card-1', tx: { ...testTransactions(1)[0]!, txId: id.slice(5) }, features: {}, scores: { xgboost: 0.6 }, rulesFired: [], topFeatures: [],
  versions: { model: 'none', policy: 1 }, risk: 0.6, expectedLoss: 100, status: 'open', createdAt,
});

describe('cases reach the review queue only from the committed record', () => {
  let config: Config;
  let redis: Redis;
  let queue: RedisReviewQueue;

  beforeAll(async () => {
    config = await testConfig('case-view');
    redis = testRedis(config);
    queue = new RedisReviewQueue(redis, config.redis.keyPrefix);
  });

  afterAll(() => {
    redis?.disconnect();
  });

  it('an escalation decided twice (the first batch aborted) leaves one case, the committed one, with its createdAt', async () => {
    const logic = escalateLogic({ config, redis, policy: source, queue, features: new MemoryFeatureStore(), models: () => undefined });
    const e = escalation(`esc-${randomUUID().slice(0, 8)}`);
    const first = await logic.handle([{ value: e, receivedAt: Date.now() }]);
    const [firstRecord] = caseRecords(config, first);
    expect(firstRecord, 'the policy routes this escalation to REVIEW').toBeDefined();
    // The first attempt's transaction aborts: nothing of it may be in the view.
    expect(await queue.openCount()).toBe(0);
    expect(await queue.get(`case-${e.txId}`)).toBeUndefined();

    await new Promise((r) => setTimeout(r, 5));
    const retry = await logic.handle([{ value: e, receivedAt: Date.now() }]);
    const [committed] = caseRecords(config, retry);
    expect(JSON.parse(committed!.value).createdAt).toBeGreaterThan(JSON.parse(firstRecord!.value).createdAt);
    await logic.afterCommit!(retry);
    expect(await queue.openCount()).toBe(1);
    // Byte for byte what the record holds, so a restore after a Redis loss writes back the same case.
    expect(await redis.get(reviewKeysOf(redis, config.redis.keyPrefix).case(`case-${e.txId}`))).toBe(committed!.value);
  });

  it('after commit the cases escalate built are written as built; a case-state output it did not build is read from its bytes', async () => {
    const logic = escalateLogic({ config, redis, policy: source, queue, features: new MemoryFeatureStore(), models: () => undefined });
    const keys = reviewKeysOf(redis, config.redis.keyPrefix);
    const a = escalation(`esc-${randomUUID().slice(0, 8)}`);
    const b = escalation(`esc-${randomUUID().slice(0, 8)}`);
    const outA = await logic.handle([{ value: a, receivedAt: Date.now() }]);
    const outB = await logic.handle([{ value: b, receivedAt: Date.now() }]);
    // outB's record as a copy (not the object handle returned): afterCommit has no case in hand for it.
    const copied = outB.map((msgs) => msgs.map((m) => ({ ...m })));
    const before = await queue.openCount();
    await logic.afterCommit!([...outA, ...copied]);
    expect(await queue.openCount()).toBe(before + 2);
    expect(await redis.get(keys.case(`case-${a.txId}`))).toBe(caseRecords(config, outA)[0]!.value);
    expect(await redis.get(keys.case(`case-${b.txId}`))).toBe(caseRecords(config, outB)[0]!.value);
    // The cases topic and the case record carry the same bytes.
    expect(outA.flat().find((m) => m.topic === config.topics.cases)!.value).toBe(caseRecords(config, outA)[0]!.value);
  });

  it('a replay of the records (open, then its verdict, then the open one again) ends closed', async () => {
    const id = `case-replay-${randomUUID().slice(0, 8)}`;
    const open = openCase(id, 1_000);
    const closed: Case = { ...open, status: 'approved', closedAt: Date.now(), closedBy: 'alice' };
    await applyCaseRecords(redis, config.redis.keyPrefix, [JSON.stringify(open), JSON.stringify(closed)]);
    expect((await queue.get(id))?.status).toBe('approved');
    await applyCaseRecords(redis, config.redis.keyPrefix, [JSON.stringify(open)]);
    expect((await queue.get(id))?.status).toBe('approved');
    expect((await queue.listOpen(100)).map((c) => c.caseId)).not.toContain(id);
    // A verdict older than the closed cases' TTL only leaves the queue.
    const old = openCase(`case-old-${randomUUID().slice(0, 8)}`, 1_000);
    await applyCaseRecords(redis, config.redis.keyPrefix, [JSON.stringify(old), JSON.stringify({ ...old, status: 'approved', closedAt: 1_000 })]);
    expect((await queue.listOpen(100)).map((c) => c.caseId)).not.toContain(old.caseId);
  });
});

describe('the case view writer (real broker)', () => {
  let config: Config;
  let kafka: Kafka;
  let redis: Redis;
  let queue: RedisReviewQueue;
  let writer: CaseViewWriter | undefined;
  let txProducer: Producer;

  beforeAll(async () => {
    config = await testConfig('case-view-writer');
    kafka = createKafka(config, '-test');
    redis = testRedis(config);
    queue = new RedisReviewQueue(redis, config.redis.keyPrefix);
    txProducer = kafka.producer({ transactionalId: `case-view-test-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
    await txProducer.connect();
  });

  afterAll(async () => {
    await writer?.stop();
    await txProducer?.disconnect();
    redis?.disconnect();
  });

  it('applies committed case records and never an aborted one', async () => {
    const aborted = openCase(`case-aborted-${randomUUID().slice(0, 8)}`, Date.now());
    const committed = openCase(`case-committed-${randomUUID().slice(0, 8)}`, Date.now());
    const abort = await txProducer.transaction();
    await abort.send({ topic: config.topics.caseState, messages: [{ key: aborted.caseId, value: JSON.stringify(aborted) }] });
    await abort.abort();
    const commit = await txProducer.transaction();
    await commit.send({ topic: config.topics.caseState, messages: [{ key: committed.caseId, value: JSON.stringify(committed) }] });
    await commit.commit();

    writer = await startCaseViewWriter({ config, kafka, redis });
    const deadline = Date.now() + 60_000;
    while (!(await queue.get(committed.caseId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await redis.get(reviewKeysOf(redis, config.redis.keyPrefix).case(committed.caseId))).toBe(JSON.stringify(committed));
    expect(await queue.get(aborted.caseId)).toBeUndefined();
    expect(await queue.openCount()).toBe(1);

    // A verdict recorded later closes the view's copy.
    const p = createProducer(kafka);
    await p.connect();
    await p.send({ topic: config.topics.caseState, messages: [{ key: committed.caseId, value: JSON.stringify({ ...committed, status: 'confirmed_fraud', closedAt: Date.now(), closedBy: 'bob' }) }] });
    await p.disconnect();
    while ((await queue.get(committed.caseId))?.status === 'open' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect((await queue.get(committed.caseId))?.status).toBe('confirmed_fraud');
    expect(await queue.openCount()).toBe(0);
  }, 90_000);
});
