import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LabelSchema, TransactionSchema } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { generateToFile } from '../../producers/generate.ts';
import { createKafkaSink, maxRequestBytes } from '../../producers/kafka-sink.ts';
import { replayFile } from '../../producers/replay.ts';
import { createSimulator } from '../../producers/simulator.ts';
import { collect, createKafka, testConfig } from '../helpers/services.ts';

const configs: Config[] = [];
afterAll(async () => {
  // Unique topics per test: delete them so repeated runs do not pile up on the shared broker.
  if (configs.length === 0) return;
  const admin = createKafka(configs[0]!, '-cleanup').admin();
  await admin.connect();
  await admin.deleteTopics({ topics: configs.flatMap((c) => Object.values(c.topics)) }).catch(() => undefined);
  await admin.disconnect();
});

describe('replay into Kafka', () => {
  it('delivers every row exactly once, keyed by card, each card in order', async () => {
    const config = await testConfig('producers-replay');
    configs.push(config);
    const dir = await mkdtemp(join(tmpdir(), 'fs-it-'));
    const file = join(dir, 'tx.jsonl');
    const N = 4000;
    await generateToFile({ world: { seed: 77, events: N, cards: 300, merchants: 100, fraudRate: 0.03 }, out: file, format: 'jsonl', progress: false });
    const expected = (await readFile(file, 'utf8')).trim().split('\n').map((l) => TransactionSchema.parse(JSON.parse(l)));

    const sink = await createKafkaSink(config, '-it');
    let summary;
    try {
      summary = await replayFile({ file, pace: { kind: 'max' }, batchSize: 700, maxBatchBytes: maxRequestBytes(config), progress: false }, sink);
    } finally {
      await sink.close();
    }
    expect(summary).toMatchObject({ rows: N, sent: N, rejected: 0, labelsSent: N });

    const kafka = createKafka(config, '-it-reader');
    const got = await collect(kafka, config.topics.transactions, (m) => m.length >= N, 60_000);
    expect(got).toHaveLength(N);
    const txs = got.map((m) => TransactionSchema.parse(JSON.parse(m.value!.toString())));
    const ids = txs.map((t) => t.txId);
    expect(new Set(ids).size).toBe(N);
    expect(new Set(ids)).toEqual(new Set(expected.map((t) => t.txId)));
    for (const m of got) expect(m.key!.toString()).toBe(JSON.parse(m.value!.toString()).cardId);
    // A card lives on one partition, so its transactions come back in time order.
    const lastTs = new Map<string, number>();
    const outOfOrder = txs.filter((t) => {
      const prev = lastTs.get(t.cardId) ?? -Infinity;
      lastTs.set(t.cardId, t.ts);
      return t.ts < prev;
    });
    expect(outOfOrder).toEqual([]);

    const labels = await collect(kafka, config.topics.labels, (m) => m.length >= N, 60_000);
    expect(labels).toHaveLength(N);
    const parsed = labels.map((m) => LabelSchema.parse(JSON.parse(m.value!.toString())));
    expect(parsed.filter((l) => l.isFraud).length).toBeGreaterThan(40);
  });

});

describe('simulator into Kafka', () => {
  it('sends what its stats say, including injected fraud and due labels', async () => {
    const config = await testConfig('producers-sim');
    configs.push(config);
    const sim = createSimulator(config, { rate: 400, seed: 5, world: { cards: 200, merchants: 100, labelDelayScale: 0.0005 } });
    await sim.start();
    const injected = sim.inject('card_testing', 2);
    expect(injected).toBeGreaterThanOrEqual(10);
    await new Promise((r) => setTimeout(r, 1500));
    sim.setRate(800);
    await new Promise((r) => setTimeout(r, 700));
    const stats = await sim.stop();
    expect(stats.running).toBe(false);
    expect(stats.sent).toBeGreaterThan(300);
    expect(stats.byScenario.card_testing).toBeGreaterThan(0);
    expect(stats.labelsSent).toBeGreaterThan(0);

    const kafka = createKafka(config, '-it-reader');
    const got = await collect(kafka, config.topics.transactions, (m) => m.length >= stats.sent, 60_000);
    expect(got).toHaveLength(stats.sent);
    const labels = await collect(kafka, config.topics.labels, (m) => m.length >= stats.labelsSent, 60_000);
    expect(labels).toHaveLength(stats.labelsSent);
  });
});
