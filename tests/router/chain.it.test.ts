/** The escalation chain as real Kafka stages: one final decision per transaction, crash safety, scaling, live policy. */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { CaseSchema, DecisionSchema, POLICY_MONEY_DEFAULTS, type Decision, type Transaction } from '../../core/contracts.ts';
import { expectedLoss } from '../../router/pure/money.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { redisFeatureStore } from '../../router/serving-models.ts';
import { collect, configEnv, testConfig, testRedis } from '../helpers/services.ts';
import { testTransactions } from '../helpers/transactions.ts';

const parseDecisions = (msgs: KafkaMessage[]): Decision[] => msgs.map((m) => DecisionSchema.parse(JSON.parse(m.value!.toString())));

/** Decisions until every tx id has a final or REVIEW decision, plus a linger to catch duplicates. */
async function decisionsFor(kafka: Kafka, config: Config, txs: Transaction[], timeoutMs = 90_000): Promise<Decision[]> {
  const want = new Set(txs.map((t) => t.txId));
  const msgs = await collect(
    kafka,
    config.topics.decisions,
    (seen) => new Set(parseDecisions(seen).map((d) => d.txId)).size >= want.size,
    timeoutMs,
    2_500,
  );
  return parseDecisions(msgs);
}

async function send(kafka: Kafka, config: Config, txs: Transaction[]): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  for (let i = 0; i < txs.length; i += 500) {
    await producer.send({ topic: config.topics.transactions, messages: txs.slice(i, i + 500).map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
  }
  await producer.disconnect();
}

/** A policy that sends mid-sized amounts through escalate (and, without a heavy model, to review). */
async function escalatingPolicy(config: Config, redisUrlPrefix = config.redis.keyPrefix) {
  const redis = testRedis(config);
  const store = new RedisPolicyStore(redis, redisUrlPrefix, () => defaultPolicy(COLD_START_THRESHOLDS));
  const base = await store.current();
  const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = base;
  await store.update({ ...input, rules: { ...input.rules, escalateAmountAbove: 15_000, blockAmountAbove: 19_000 } }, 'test');
  return { redis, store };
}

function startWorker(config: Config, stage: string, instanceId: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', stage, '--model', 'none', '--metrics-port', '0', '--instance-id', instanceId], {
    env: { ...process.env, ...configEnv(config), VITEST: '', LOG_LEVEL: process.env.WORKER_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'ignore', process.env.WORKER_LOG ? openSync(process.env.WORKER_LOG, 'a') : 'ignore'],
  });
}

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('escalation chain on real Kafka and Redis', () => {
  it('N transactions in: exactly N decisions, the ambiguous through escalate, some to review, every field present', async () => {
    const config = await testConfig('chain');
    const kafka = createKafka(config, '-test');
    const { redis } = await escalatingPolicy(config);
    const pipeline = await startPipeline({ config, stages: ['detect', 'escalate'] });
    cleanups.push(() => pipeline.stop(), () => redis.disconnect());

    const txs = testTransactions(600, { prefix: 'ch' });
    await send(kafka, config, txs);
    const decisions = await decisionsFor(kafka, config, txs);

    expect(decisions).toHaveLength(txs.length);
    expect(new Set(decisions.map((d) => d.txId)).size).toBe(txs.length);
    const byStage = (s: string) => decisions.filter((d) => d.stage === s);
    expect(byStage('escalate').length).toBeGreaterThan(0);
    expect(byStage('detect').length).toBeGreaterThan(0);
    const escalatedIds = new Set(txs.filter((t) => t.amountMinor > 15_000 && t.amountMinor <= 19_000).map((t) => t.txId));
    expect(new Set(byStage('escalate').map((d) => d.txId))).toEqual(escalatedIds);
    expect(decisions.filter((d) => d.action === 'BLOCK').every((d) => d.tx.amountMinor > 19_000)).toBe(true);
    const reviews = decisions.filter((d) => d.action === 'REVIEW');
    expect(reviews.length).toBeGreaterThan(0);
    expect(reviews.every((d) => d.final === false && d.stage === 'escalate')).toBe(true);
    for (const d of byStage('escalate')) {
      // Rules-only mode: no heavy model ran, and the decision says so instead of inventing a score.
      expect(d.scores.heavy).toBeUndefined();
      expect(d.rulesFired.map((r) => r.id)).toEqual(expect.arrayContaining(['rule.amount_escalate', 'escalate.no_heavy_model']));
      expect(d.timings.detect).toBeGreaterThanOrEqual(0);
      expect(d.timings.escalate).toBeGreaterThanOrEqual(0);
      expect(d.versions.policy).toBe(2);
    }
    const cases = (await collect(kafka, config.topics.cases, (seen) => seen.length >= reviews.length)).map((m) => CaseSchema.parse(JSON.parse(m.value!.toString())));
    expect(new Set(cases.map((c) => c.txId))).toEqual(new Set(reviews.map((d) => d.txId)));
    // Each case carries its expected loss (the queue's order): p x (amount + fee) against the friction of a block.
    for (const c of cases) expect(c.expectedLoss).toBeCloseTo(expectedLoss(c.risk, c.tx.amountMinor, POLICY_MONEY_DEFAULTS.money).stake, 6);
  });

  it('a detect worker killed mid-stream (SIGKILL) and restarted: nothing lost, nothing decided twice, no feature counted twice', { timeout: 240_000 }, async () => {
    const config = await testConfig('kill');
    const kafka = createKafka(config, '-test');
    const redis = testRedis(config);
    cleanups.push(() => redis.disconnect());
    // 200 cards x 20 transactions: each card's whole history fits in the store's per-card window (32).
    const txs = testTransactions(4_000, { prefix: 'kill', cards: 200 });
    let worker = startWorker(config, 'detect', 'killme');
    cleanups.push(() => void worker.kill('SIGTERM'));
    await send(kafka, config, txs);
    // Kill once part of the stream is decided.
    await collect(kafka, config.topics.decisions, (seen) => seen.length >= 300, 90_000);
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    worker = startWorker(config, 'detect', 'killme');

    const decisions = await decisionsFor(kafka, config, txs, 120_000);
    expect(decisions).toHaveLength(txs.length);
    expect(new Set(decisions.map((d) => d.txId)).size).toBe(txs.length);
    const store = redisFeatureStore(config)(redis);
    const perCard = new Map<string, number>();
    for (const t of txs) perCard.set(t.cardId, (perCard.get(t.cardId) ?? 0) + 1);
    for (const [cardId, n] of perCard) expect(await store.history(cardId, 32)).toHaveLength(n);
  });

  it('two detect workers in one group share the partitions and give the same decisions as one', async () => {
    const txs = testTransactions(1_200, { prefix: 'two' });
    const run = async (instances: number) => {
      const config = await testConfig(`scale${instances}`);
      const kafka = createKafka(config, '-test');
      const pipeline: Pipeline = await startPipeline({ config, stages: ['detect'], instances });
      cleanups.push(() => pipeline.stop());
      await pipeline.ready;
      await send(kafka, config, txs);
      return decisionsFor(kafka, config, txs);
    };
    const one = await run(1);
    const two = await run(2);
    expect(two).toHaveLength(txs.length);
    const summary = (ds: Decision[]) => new Map(ds.map((d) => [d.txId, `${d.action}|${d.reason}`]));
    expect(summary(two)).toEqual(summary(one));
  });

  it('a policy change is applied by running stages without restart', async () => {
    const config = await testConfig('policy');
    const kafka = createKafka(config, '-test');
    const redis = testRedis(config);
    const store = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS));
    const pipeline = await startPipeline({ config, stages: ['detect'] });
    cleanups.push(() => pipeline.stop(), () => redis.disconnect());

    const before = testTransactions(20, { prefix: 'before', cards: 5 });
    await send(kafka, config, before);
    const first = await decisionsFor(kafka, config, before);
    expect(first.filter((d) => d.cardId === 'card-3').every((d) => d.action === 'ALLOW')).toBe(true);

    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = await store.current();
    const updated = await store.update({ ...input, lists: { ...input.lists, blockCards: ['card-3'] } }, 'test');
    const deadline = Date.now() + 10_000;
    while (pipeline.policy.current().version !== updated.version && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    const after = testTransactions(20, { prefix: 'after', cards: 5 });
    await send(kafka, config, after);
    const all = await decisionsFor(kafka, config, [...before, ...after]);
    const late = all.filter((d) => d.txId.startsWith('after-'));
    expect(late.filter((d) => d.cardId === 'card-3').every((d) => d.action === 'BLOCK' && d.versions.policy === updated.version)).toBe(true);
    expect(late.filter((d) => d.cardId === 'card-3')).toHaveLength(4);
    expect(late.filter((d) => d.cardId !== 'card-3').every((d) => d.action === 'ALLOW')).toBe(true);
  });
});
