/**
 * Issue 18: the case-state topic no longer grows with every verdict. A closed case stays in the record as long as in
 * the view (CLOSED_CASE_TTL_SECONDS after its verdict); past that the ops service tombstones it, once per period
 * whatever the number of members, so compaction removes it. A restore after the tombstones gives the same open cases.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigResourceTypes, type Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Case } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { kafkaChangelog } from '../../core/changelog.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { startOpsTimers, type OpsTimers } from '../../router/ops/service.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { CLOSED_CASE_TTL_SECONDS, forgetCases, restoreCases, reviewKeys } from '../../state/review.ts';
import { collect, testConfig, testRedis } from '../helpers/services.ts';
import { testTransactions } from '../helpers/transactions.ts';

const DAY = 86_400_000;

function aCase(id: string, createdAt: number, closedAt?: number): Case {
  const [tx] = testTransactions(1, { prefix: id });
  return {
    caseId: id, txId: tx!.txId, cardId: tx!.cardId, tx: tx!, features: {}, scores: { xgboost: 0.6 }, rulesFired: [], topFeatures: [],
    versions: { model: 'none', policy: 1 }, risk: 0.6, expectedLoss: 100, createdAt,
    ...(closedAt === undefined ? { status: 'open' as const } : { status: 'approved' as const, closedAt, closedBy: 'alice' }),
  };
}

describe('the case record keeps open cases and the verdicts of the last CLOSED_CASE_TTL_SECONDS', () => {
  let config: Config;
  let kafka: Kafka;
  let redis: Redis;
  const members: OpsTimers[] = [];

  beforeAll(async () => {
    config = await testConfig('case-records');
    kafka = createKafka(config, '-test');
    redis = testRedis(config);
  });

  afterAll(async () => {
    for (const m of members) await m.stop().catch(() => undefined);
    redis?.disconnect();
  });

  it('the topic is compacted, rolls daily and keeps tombstones a day', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: config.topics.caseState }] });
      const entries = Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
      expect(entries).toMatchObject({ 'cleanup.policy': 'compact', 'segment.ms': String(DAY), 'delete.retention.ms': String(DAY) });
    } finally {
      await admin.disconnect();
    }
  });

  it('two ops members tombstone each outlived closed case once; the restore after it gives the same open cases', async () => {
    const now = Date.now();
    const ttl = CLOSED_CASE_TTL_SECONDS * 1000;
    const tag = randomUUID().slice(0, 6);
    const open1 = aCase(`case-open1-${tag}`, now - 40 * DAY);
    const open2 = aCase(`case-open2-${tag}`, now - 1_000);
    const recent = aCase(`case-recent-${tag}`, now - 10 * DAY);
    const old = aCase(`case-old-${tag}`, now - 50 * DAY);
    const older = aCase(`case-older-${tag}`, now - 90 * DAY);
    const producer = createProducer(kafka);
    await producer.connect();
    const rec = (c: Case) => ({ key: c.caseId, value: JSON.stringify(c) });
    await producer.send({
      topic: config.topics.caseState,
      messages: [
        rec(open1), rec(open2), rec(recent), rec(old), rec(older),
        rec({ ...recent, status: 'approved', closedAt: now - 2 * DAY, closedBy: 'alice' }),
        // Just past the view's TTL, and long past it.
        rec({ ...old, status: 'confirmed_fraud', closedAt: now - ttl - 60_000, closedBy: 'bob' }),
        rec({ ...older, status: 'approved', closedAt: now - 60 * DAY, closedBy: 'bob' }),
      ],
    });
    await producer.disconnect();

    const record = kafkaChangelog(kafka, config.topics.caseState);
    const before = config.redis.keyPrefix + 'before:';
    await restoreCases(redis, before, await record.readAll());
    const openBefore = await redis.zrange(reviewKeys(before).open, 0, -1);
    expect(openBefore.sort()).toEqual([open1.caseId, open2.caseId].sort());

    // The ops members' own view holds the outlived closed case (no TTL: a record view is never evicted) and a recent one.
    const view = reviewKeys(config.redis.keyPrefix);
    const oldClosed = { ...old, status: 'confirmed_fraud' as const, closedAt: now - ttl - 60_000, closedBy: 'bob' };
    await redis.set(view.case(old.caseId), JSON.stringify(oldClosed));
    await redis.zadd(view.closed, oldClosed.closedAt, old.caseId);
    await redis.set(view.case(recent.caseId), JSON.stringify({ ...recent, status: 'approved', closedAt: now - 2 * DAY, closedBy: 'alice' }));

    const policies = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS));
    for (const i of [1, 2]) {
      members.push(await startOpsTimers({ config, redis, kafka, policies, instanceId: `ops-test-${i}`, guardEveryMs: 3_600_000, caseSweep: { tickMs: 200, periodMs: 3_600_000 } }));
    }
    const tombstones = (ms: Awaited<ReturnType<typeof collect>>) => ms.filter((m) => m.value === null).map((m) => m.key!.toString());
    // Linger: a second sweep (the other member) would add tombstones within a few ticks.
    const seen = await collect(kafka, config.topics.caseState, (ms) => tombstones(ms).length >= 2, 60_000, 3_000);
    expect(tombstones(seen).sort()).toEqual([old.caseId, older.caseId].sort());
    // The sweep deletes the view's copy with its tombstone; the recent verdict stays.
    for (let i = 0; i < 50 && (await redis.exists(view.case(old.caseId))) === 1; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await redis.exists(view.case(old.caseId))).toBe(0);
    expect(await redis.zscore(view.closed, old.caseId)).toBeNull();
    expect(await redis.exists(view.case(recent.caseId))).toBe(1);

    const after = await record.readAll();
    expect(after.map((e) => e.key).sort()).toEqual([open1.caseId, open2.caseId, recent.caseId].sort());
    const restored = config.redis.keyPrefix + 'after:';
    await restoreCases(redis, restored, after);
    expect(await redis.zrange(reviewKeys(restored).open, 0, -1)).toEqual(await redis.zrange(reviewKeys(before).open, 0, -1));
    expect(await redis.zrange(reviewKeys(restored).closed, 0, -1)).toEqual([recent.caseId]);
    await record.close();
  });

  it('the view writer reads a tombstone as gone: a closed case leaves the view, an open one stays', async () => {
    const prefix = config.redis.keyPrefix + 'forget:';
    const k = reviewKeys(prefix);
    const closed = aCase('case-forget-closed', Date.now() - DAY, Date.now() - 1_000);
    const open = aCase('case-forget-open', Date.now());
    await restoreCases(redis, prefix, [{ value: JSON.stringify(closed) }, { value: JSON.stringify(open) }]);
    expect(await forgetCases(redis, prefix, [closed.caseId, open.caseId])).toBe(1);
    expect(await redis.exists(k.case(closed.caseId))).toBe(0);
    expect(await redis.zrange(k.closed, 0, -1)).toEqual([]);
    expect(await redis.zrange(k.open, 0, -1)).toEqual([open.caseId]);
  });
});
