/** The walking skeleton against the real broker and Redis: every transaction gets one decision; bad input is dead-lettered. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssignerProtocol, type Kafka, type Producer } from 'kafkajs';
import { DeadLetterSchema, DecisionSchema, PIPELINE_STAGES } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { collect, testConfig } from '../helpers/services.ts';
import { serveMetrics } from '../../router/metrics.ts';
import type { AddressInfo } from 'node:net';
import { testTransactions } from '../helpers/transactions.ts';
import { STAGES } from '../../router/stages.ts';

describe('walking skeleton: transactions -> detect -> decisions', () => {
  let config: Config;
  let kafka: Kafka;
  let producer: Producer;
  let pipeline: Pipeline;

  beforeAll(async () => {
    config = await testConfig('skeleton');
    kafka = createKafka(config, '-test');
    producer = createProducer(kafka);
    await producer.connect();
    // No stage list: the pipeline starts every stage the registry declares.
    pipeline = await startPipeline({ config });
  });

  it('starts exactly the registered stages, each in its registered group, reading its registered topic', async () => {
    await pipeline.ready;
    expect(pipeline.stages.map((s) => s.health().stage)).toEqual([...PIPELINE_STAGES]);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups(PIPELINE_STAGES.map((s) => STAGES[s].group(config)));
      for (const s of PIPELINE_STAGES) {
        const g = groups.find((x) => x.groupId === STAGES[s].group(config));
        expect(g?.members).toHaveLength(1);
        const assigned = AssignerProtocol.MemberAssignment.decode(g!.members[0]!.memberAssignment)?.assignment ?? {};
        expect(Object.keys(assigned)).toEqual([config.topics[STAGES[s].input]]);
      }
    } finally {
      await admin.disconnect();
    }
  });

  afterAll(async () => {
    await pipeline?.stop();
    await producer?.disconnect();
  });

  it('1,000 transactions in: exactly 1,000 decisions out, one per transaction id', async () => {
    const txs = testTransactions(1_000, { prefix: 'sk' });
    await producer.send({ topic: config.topics.transactions, messages: txs.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
    const msgs = await collect(kafka, config.topics.decisions, (seen) => seen.length >= 1_000);
    // Give a duplicate, if the stage produced one, time to arrive before counting.
    await new Promise((r) => setTimeout(r, 1_500));
    const all = await collect(kafka, config.topics.decisions, (seen) => seen.length >= msgs.length, 20_000);
    const decisions = all.map((m) => DecisionSchema.parse(JSON.parse(m.value!.toString())));
    const ids = decisions.map((d) => d.txId);
    expect(decisions).toHaveLength(1_000);
    expect(new Set(ids).size).toBe(1_000);
    expect(new Set(ids)).toEqual(new Set(txs.map((t) => t.txId)));
    const server = await serveMetrics(0);
    const port = (server.address() as AddressInfo).port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    server.close();
    expect(text).toMatch(/fraudstream_decisions_total\{action="ALLOW",stage="detect"\} \d+/);
    expect(text).toMatch(/fraudstream_consumer_lag\{stage="detect",topic="[^"]+",partition="\d+"\} \d+/);
    expect(text).toContain('fraudstream_stage_latency_seconds_bucket');
    for (const d of decisions) {
      expect(d.final).toBe(true);
      expect(d.versions.policy).toBeGreaterThanOrEqual(1);
      expect(d.reason.length).toBeGreaterThan(0);
      expect(d.timings.detect).toBeGreaterThanOrEqual(0);
    }
  });

  it('malformed messages go to the dead-letter topic with a reason, and the stage keeps deciding', async () => {
    const [good] = testTransactions(1, { prefix: 'after-bad' });
    const { txId: _drop, ...missingId } = testTransactions(1, { prefix: 'x' })[0]!;
    const wrongType = { ...testTransactions(1, { prefix: 'wt' })[0]!, amountMinor: 'ten euros' };
    const bad = [
      { key: 'k1', value: 'this is not json {' },
      { key: 'k2', value: JSON.stringify(missingId) },
      { key: 'k3', value: JSON.stringify(wrongType) },
    ];
    await producer.send({ topic: config.topics.transactions, messages: [...bad, { key: good!.cardId, value: JSON.stringify(good) }] });

    const letters = (await collect(kafka, config.topics.dlq, (seen) => seen.length >= 3)).map((m) => DeadLetterSchema.parse(JSON.parse(m.value!.toString())));
    const byKey = new Map(letters.map((l) => [l.key, l]));
    expect(byKey.get('k1')?.reason).toMatch(/not JSON/);
    expect(byKey.get('k2')?.reason).toMatch(/txId/);
    expect(byKey.get('k3')?.reason).toMatch(/amountMinor/);
    expect(Buffer.from(byKey.get('k1')!.rawBase64, 'base64').toString()).toBe('this is not json {');
    expect(letters.every((l) => l.stage === 'detect' && l.sourceTopic === config.topics.transactions)).toBe(true);

    const decided = await collect(kafka, config.topics.decisions, (seen) => seen.some((m) => m.value!.toString().includes('"after-bad-0"')));
    expect(decided.some((m) => JSON.parse(m.value!.toString()).txId === 'after-bad-0')).toBe(true);
  });
});
