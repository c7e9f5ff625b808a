/**
 * The ops service against the real Kafka and Redis, with no console anywhere: it flushes the verdict outbox a console
 * left behind, and its rule statistics join decisions and labels whichever arrives first, counting a transaction once
 * per rule and letting the latest label win.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { DecisionSchema, type Decision, type RuleHit } from '../../core/contracts.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { outboxKey } from '../../state/ui.ts';
import { RuleEvidenceStore } from '../../state/rule-evidence.ts';
import { collect, createKafka, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function decision(txId: string, stage: Decision['stage'], rules: string[], amountMinor = 1_000): Decision {
  const hit = (id: string): RuleHit => ({ id, description: id, effect: 'escalate' });
  return DecisionSchema.parse({
    decisionId: `${txId}:${stage}`, txId, cardId: 'c1', action: stage === 'review' ? 'BLOCK' : 'REVIEW', stage, final: stage === 'review', reason: 'test', scores: {}, rulesFired: rules.map(hit), topFeatures: [],
    versions: { model: 'm', policy: 1 }, timings: {}, decidedAt: Date.now(),
    tx: { txId, cardId: 'c1', merchantId: 'm1', merchantName: 'Shop', mcc: '5999', amountMinor, currency: 'EUR', ts: Date.now(), channel: 'card_present', country: 'FR', lat: 0, lon: 0, deviceId: null },
  });
}

describe('ops service', () => {
  let config: Config;
  let redis: Redis;

  it('publishes what a console left in the verdict outbox, with no console running', { timeout: 120_000 }, async () => {
    config = await testConfig('ops');
    redis = testRedis(config);
    cleanups.push(async () => {
      await dropTestKeys(redis, config);
      redis.disconnect();
    });
    const left = decision('outbox-tx', 'review', ['analyst.verdict']);
    // As VerdictService.closeOne stores it when Kafka did not take it (the console then went away).
    await redis.rpush(outboxKey(config.redis.keyPrefix), JSON.stringify({ topic: config.topics.decisions, key: left.cardId, value: JSON.stringify(left) }));
    const ops: Pipeline = await startPipeline({ config, stages: ['ops'] });
    cleanups.push(() => ops.stop());
    await ops.ready;
    const seen = await collect(createKafka(config, '-test'), config.topics.decisions, (m) => m.some((x) => x.value?.toString().includes('outbox-tx')), 60_000);
    expect(seen.filter((m) => m.value?.toString().includes('outbox-tx'))).toHaveLength(1);
    await expect.poll(() => redis.llen(outboxKey(config.redis.keyPrefix)), { timeout: 20_000 }).toBe(0);
    // And, reading the decisions topic, the service counted the analyst's decision for the guard rail and the rules.
    await expect.poll(async () => (await new RuleEvidenceStore(redis, config.redis.keyPrefix).read()).rules.find((r) => r.rule === 'analyst.verdict')?.hits, { timeout: 30_000 }).toBe(1);
  });

  it('rule statistics: once per rule per transaction, labels before or after decisions, the latest label wins', async () => {
    const prefix = `${config.redis.keyPrefix}ev-unit:`;
    const store = new RuleEvidenceStore(redis, prefix);
    // t1: detect fires A, escalate fires A and B (A counts once), then labelled fraud.
    await store.onDecisions([
      { txId: 't1', rules: ['A'], amountMinor: 500, currency: 'EUR', newTransaction: false },
      { txId: 't1', rules: ['A', 'B'], amountMinor: 500, currency: 'EUR', newTransaction: true },
    ]);
    await store.onLabels([{ txId: 't1', isFraud: true }]);
    // t2: its label arrives before its decision (two consumers, no order between them).
    await store.onLabels([{ txId: 't2', isFraud: false }]);
    await store.onDecisions([{ txId: 't2', rules: ['A'], amountMinor: 700, currency: 'USD', newTransaction: true }]);
    // t3: no rule fired: counted as a transaction, nothing per rule.
    await store.onDecisions([{ txId: 't3', rules: [], amountMinor: 1, currency: 'EUR', newTransaction: true }]);
    let r = await store.read();
    const by = (id: string) => r.rules.find((x) => x.rule === id);
    expect(r).toMatchObject({ transactions: 3, labelled: 2 });
    expect(by('A')).toEqual({ rule: 'A', hits: 2, labelled: 2, fraud: 1, moneyCaught: 500, currencies: { EUR: 1 } });
    expect(by('B')).toEqual({ rule: 'B', hits: 1, labelled: 1, fraud: 1, moneyCaught: 500, currencies: { EUR: 1 } });
    // A chargeback overturns t1's verdict: its fraud and money leave both rules; the same label again changes nothing.
    await store.onLabels([{ txId: 't1', isFraud: false }, { txId: 't1', isFraud: false }]);
    r = await store.read();
    expect(by('A')).toEqual({ rule: 'A', hits: 2, labelled: 2, fraud: 0, moneyCaught: 0, currencies: {} });
    expect(r.labelled).toBe(2);
  });
});
