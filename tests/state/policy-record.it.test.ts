/**
 * Issue 18, item 1 (policy versions): every version is recorded in the compacted policy topic and restored into Redis
 * when Redis lost it, before anything serves or creates "policy v1" again. Its own redis-server: FLUSHALL and a restart
 * must not wipe other test files' keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ConfigResourceTypes, type Kafka } from 'kafkajs';
import { kafkaChangelog, type Changelog } from '../../core/changelog.ts';
import type { Config } from '../../core/config.ts';
import type { Policy, PolicyInput } from '../../core/contracts.ts';
import { createKafka } from '../../core/kafka.ts';
import { startLocalRedis, type LocalRedis } from '../../infra/redis-local.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { RedisPolicyStore, defaultPolicy, policyKeys } from '../../state/policy.ts';
import { testConfig } from '../helpers/services.ts';

const thresholds = {
  detect: { blockAbove: 0.9, allowBelow: 0.2, anomalyEscalateAbove: 0.7 },
  escalate: { blockAbove: 0.8, allowBelow: 0.3 },
};

const input = (p: Policy): PolicyInput => {
  const { version: _v, updatedAt: _u, updatedBy: _b, ...rest } = p;
  return rest;
};

describe('policy versions: Kafka is the record, Redis the view', () => {
  let local: LocalRedis;
  let config: Config;
  let kafka: Kafka;
  let redis: Redis;
  const records: Changelog[] = [];
  const pipelines: Pipeline[] = [];

  /** A store as a fresh process would build it: its own connection to the record. */
  const freshStore = () => {
    const record = kafkaChangelog(kafka, config.topics.policy);
    records.push(record);
    return new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(thresholds, 'm-1'), record);
  };

  beforeAll(async () => {
    local = await startLocalRedis();
    const base = await testConfig('policy-record');
    config = { ...base, redis: { ...base.redis, url: local.url } };
    kafka = createKafka(config, '-test');
    redis = new Redis(local.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
  });

  afterAll(async () => {
    for (const p of pipelines) await p.stop();
    for (const r of records) await r.close();
    redis?.disconnect();
    await local?.stop();
  });

  it('the policy topic is created compacted, one partition, with the configured replication', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [config.topics.policy] });
      expect(meta.topics[0]!.partitions).toHaveLength(1);
      const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: config.topics.policy, configNames: ['cleanup.policy'] }] });
      expect(described.resources[0]!.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue).toBe('compact');
    } finally {
      await admin.disconnect();
    }
  });

  it('set a policy (lists and thresholds), FLUSHALL: the next read returns the same version and content', async () => {
    const store = freshStore();
    const v1 = await store.current();
    expect(v1.version).toBe(1);
    const v2 = await store.update({ ...input(v1), lists: { ...v1.lists, blockCards: ['card-9', 'card-<b>'], allowMerchants: ['m-7'] } }, 'alice');
    const v3 = await store.update({ ...input(v2), thresholds: { ...v2.thresholds, detect: { ...v2.thresholds.detect, blockAbove: 0.77 } }, rules: { ...v2.rules, blockedCountries: ['KP'] } }, 'bob');
    expect(v3.version).toBe(3);

    await redis.flushall();
    expect(await redis.exists(policyKeys(config.redis.keyPrefix).current)).toBe(0);

    const after = freshStore();
    const current = await after.current();
    expect(current).toEqual(v3);
    expect(current.thresholds.detect.blockAbove).toBe(0.77);
    expect(current.lists.blockCards).toEqual(['card-9', 'card-<b>']);
    expect((await after.history(10)).map((p) => p.version)).toEqual([3, 2, 1]);
    expect(await after.get(2)).toEqual(v2);
    // Numbering goes on from the record, never hands out a recorded number again.
    const v4 = await after.rollback(1, 'carol');
    expect(v4.version).toBe(4);
    expect(input(v4)).toEqual(input(v1));
  });

  it('a redis-server restarted without persistence: a version read by number restores the view first', async () => {
    const port = Number(new URL(local.url).port);
    await local.stop();
    local = await startLocalRedis({ port });
    const store = freshStore();
    // get() (not current()) first: a missing doc with the view gone is restored, not "never existed".
    expect((await store.get(2))?.lists.allowMerchants).toEqual(['m-7']);
    expect((await store.current()).version).toBe(4);
  });

  it('running stages serve the restored version after a FLUSHALL, not a new v1', async () => {
    const pipeline = await startPipeline({ config, stages: ['detect'] });
    pipelines.push(pipeline);
    expect(pipeline.policy.current().version).toBe(4);
    await redis.flushall();
    // The stages' policy source polls every 5 s: its next read finds the view gone and restores it.
    await expect.poll(() => redis.get(policyKeys(config.redis.keyPrefix).current), { timeout: 20_000 }).toBe('4');
    await new Promise((r) => setTimeout(r, 6_000));
    expect(pipeline.policy.current().version).toBe(4);
    expect(await redis.exists(policyKeys(config.redis.keyPrefix).doc(1))).toBe(1);
  });
});
