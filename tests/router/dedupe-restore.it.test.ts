/**
 * Issue 18, item 2: dedupe survives Redis loss. The detect and escalate stages decide, Redis loses every key (FLUSHALL;
 * then, separately, the redis-server stopped and started again without persistence), and already-decided transactions
 * are sent again: their claims are rebuilt from the record (the decisions and escalations topics' claim headers) before
 * the stages decide anything, so none is decided twice.
 *
 * The test runs its own redis-server (a FLUSHALL must not wipe other test files' keys).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka, KafkaMessage, Producer } from 'kafkajs';
import { Redis } from 'ioredis';
import { DecisionSchema, type Transaction } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { startLocalRedis, type LocalRedis } from '../../infra/redis-local.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { metrics } from '../../router/metrics.ts';
import { CLAIM_HEADER, decodeClaimHeader, outcomeBucketSeconds, outcomeExpiryIndexKey, outcomeExpiryKey, outcomeKeyPrefix, outcomeShard, outcomeViewKey } from '../../state/outcomes.ts';
import { collect, testConfig } from '../helpers/services.ts';
import { testTransactions } from '../helpers/transactions.ts';

const ESCALATE_EVERY = 10;

/** Transactions of which every tenth is above the rules' escalation amount, so escalate decides some. */
function traffic(n: number, prefix: string): Transaction[] {
  return testTransactions(n, { prefix, cards: 40 }).map((t, i) => (i % ESCALATE_EVERY === 0 ? { ...t, amountMinor: 300_000 } : t));
}

const txIdOf = (m: KafkaMessage) => DecisionSchema.parse(JSON.parse(m.value!.toString())).txId;

async function duplicatesCounted(stage: string): Promise<number> {
  const m = await metrics.duplicates.get();
  return m.values.filter((v) => v.labels.stage === stage).reduce((s, v) => s + v.value, 0);
}

describe('dedupe claims rebuilt from the record after Redis lost them', () => {
  let local: LocalRedis;
  let port: number;
  let config: Config;
  let kafka: Kafka;
  let producer: Producer;
  let redis: Redis;
  let pipeline: Pipeline | undefined;
  const sent: Transaction[] = [];

  const send = (topic: string, messages: Array<{ key: string; value: string }>) => producer.send({ topic, messages });
  const sendTxs = (txs: Transaction[]) => send(config.topics.transactions, txs.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })));

  /** Every decision so far, once `expected` distinct transactions have one, plus a linger for late copies. */
  const decisions = async (expected: Set<string>) =>
    collect(kafka, config.topics.decisions, (seen) => {
      const ids = new Set(seen.map(txIdOf));
      return [...expected].every((id) => ids.has(id));
    }, 90_000, 2_000);

  beforeAll(async () => {
    local = await startLocalRedis();
    port = Number(new URL(local.url).port);
    const base = await testConfig('dedupe-restore');
    config = { ...base, redis: { ...base.redis, url: local.url } };
    kafka = createKafka(config, '-test');
    producer = createProducer(kafka);
    await producer.connect();
    redis = new Redis(local.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    pipeline = await startPipeline({ config, stages: ['detect', 'escalate'] });
    await pipeline.ready;
  });

  afterAll(async () => {
    await pipeline?.stop();
    await producer?.disconnect();
    redis?.disconnect();
    await local?.stop();
  });

  it('decides N transactions; every output carries the claim of its input', async () => {
    const first = traffic(600, 'a');
    sent.push(...first);
    await sendTxs(first);
    const all = await decisions(new Set(first.map((t) => t.txId)));
    const ids = all.map(txIdOf);
    expect(ids).toHaveLength(600);
    expect(new Set(ids).size).toBe(600);
    const byStage = all.map((m) => decodeClaimHeader(m.headers?.[CLAIM_HEADER] as Buffer)?.stage);
    expect(byStage.filter((s) => s === 'escalate')).toHaveLength(600 / ESCALATE_EVERY);
    expect(byStage.filter((s) => s === 'detect')).toHaveLength(600 - 600 / ESCALATE_EVERY);
  });

  it('FLUSHALL, then 200 already-decided transactions sent again (and their escalations): 0 decided twice', async () => {
    const before = { detect: await duplicatesCounted('detect'), escalate: await duplicatesCounted('escalate') };
    await redis.flushall();
    expect(await redis.exists(outcomeViewKey(config.redis.keyPrefix, 'detect'))).toBe(0);
    // 200 of the decided, 20 of them escalated ones; and escalate's own input again, byte for byte.
    const again = sent.filter((_, i) => i % 3 === 0).slice(0, 200);
    expect(again.filter((_, i) => (i * 3) % ESCALATE_EVERY === 0)).toHaveLength(20);
    const escalations = await collect(kafka, config.topics.escalations, (seen) => seen.length >= 60);
    const resentAt = Date.now();
    await sendTxs(again);
    await send(config.topics.escalations, escalations.map((m) => ({ key: m.key!.toString(), value: m.value!.toString() })));
    // Fresh ones after the resends, on the same cards: once they are decided, the resends were read.
    const fresh = traffic(100, 'b');
    await sendTxs(fresh);
    const all = await decisions(new Set([...sent, ...fresh].map((t) => t.txId)));
    const counts = new Map<string, number>();
    for (const m of all) counts.set(txIdOf(m), (counts.get(txIdOf(m)) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    expect(twice).toEqual([]);
    expect(counts.size).toBe(700);
    sent.push(...fresh);
    // The resends were recognised as copies (not dead-lettered as conflicting): the restored claims hold their hashes.
    expect((await duplicatesCounted('detect')) - before.detect).toBe(200);
    expect((await duplicatesCounted('escalate')) - before.escalate).toBe(60);
    // Restored claims keep what is left of their window, not a fresh 24 h: no TTL (never evicted), in one bucket, that of
    // their record time (before the resends), swept a window after it.
    const restoredKey = again[1]!.txId;
    expect(await redis.ttl(outcomeKeyPrefix(config.redis.keyPrefix, 'detect') + restoredKey)).toBe(-1);
    const buckets = (await redis.smembers(outcomeExpiryIndexKey(config.redis.keyPrefix, 'detect'))).map(Number);
    const holding = [];
    for (const b of buckets) if (await redis.sismember(outcomeExpiryKey(config.redis.keyPrefix, 'detect', b, outcomeShard(restoredKey)), restoredKey)) holding.push(b);
    expect(holding).toHaveLength(1);
    expect(holding[0]!).toBeLessThanOrEqual(Math.floor(resentAt / 1000 / outcomeBucketSeconds(24 * 3600)));
    expect(await redis.exists(outcomeViewKey(config.redis.keyPrefix, 'escalate'))).toBe(1);
  });

  it('redis-server stopped and started again without persistence, then 200 resent: 0 decided twice', async () => {
    const before = await duplicatesCounted('detect');
    await local.stop();
    local = await startLocalRedis({ port });
    expect(await redis.exists(outcomeViewKey(config.redis.keyPrefix, 'detect'))).toBe(0);
    const again = sent.filter((_, i) => i % 3 === 1).slice(0, 200);
    await sendTxs(again);
    const fresh = traffic(50, 'c');
    await sendTxs(fresh);
    const all = await decisions(new Set([...sent, ...fresh].map((t) => t.txId)));
    const counts = new Map<string, number>();
    for (const m of all) counts.set(txIdOf(m), (counts.get(txIdOf(m)) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1).map(([id]) => id)).toEqual([]);
    expect(counts.size).toBe(750);
    expect((await duplicatesCounted('detect')) - before).toBe(200);
  });
});
