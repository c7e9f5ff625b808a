import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Label, Transaction } from '../../core/contracts.ts';
import { createKafkaSink } from '../../producers/kafka-sink.ts';
import { generateStream, SCENARIOS } from '../../producers/world/index.ts';
import { datasetFromKafka, readKafkaHistory } from '../../detectors/kafka-history.ts';
import { DAY_MS } from '../../detectors/pure/labels.ts';
import { datasetFromEvents, trainModels } from '../../detectors/trainer.ts';
import { createKafka, testConfig } from '../helpers/services.ts';

const NOVEL = new Set(SCENARIOS.filter((s) => s.novel).map((s) => s.name));
const MATURITY_DAYS = 3;

describe('train --from-kafka', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('reads both topics to their end offsets, merges labels, replays features point-in-time and trains', async () => {
    const config = await testConfig('train-kafka');
    const events = [...generateStream({ seed: 7, events: 4_000, cards: 200, fraudRate: 0.04, legitLabelShare: 0.6 })];
    const txs = events.map((e) => e.tx);
    const newest = Math.max(...txs.map((t) => t.ts));
    const cutoff = newest - MATURITY_DAYS * DAY_MS;
    const chargebacks = new Map(events.filter((e) => e.label).map((e) => [e.tx.txId, e.label!]));

    // Analysts: overrule some chargebacked fraud (the chargeback must win), flag some young unlabelled transactions
    // (they must be trained on as fraud), approve some old unlabelled ones.
    const analyst = new Map<string, Label>();
    const verdict = (t: Transaction, isFraud: boolean): Label => ({ txId: t.txId, cardId: t.cardId, isFraud, scenario: null, source: 'analyst', labeledAt: t.ts + 3_600_000, analyst: 'alice' });
    const fraudWithCb = events.filter((e) => e.label?.isFraud).slice(0, 5);
    for (const e of fraudWithCb) analyst.set(e.tx.txId, verdict(e.tx, false));
    const youngUnlabelled = txs.filter((t) => !chargebacks.has(t.txId) && t.ts > cutoff);
    const oldUnlabelled = txs.filter((t) => !chargebacks.has(t.txId) && t.ts <= cutoff);
    expect(youngUnlabelled.length).toBeGreaterThan(20);
    for (const t of youngUnlabelled.slice(0, 10)) analyst.set(t.txId, verdict(t, true));
    for (const t of oldUnlabelled.slice(0, 10)) analyst.set(t.txId, verdict(t, false));

    const sink = await createKafkaSink(config, '-test');
    const msg = (key: string, value: string) => ({ key: Buffer.from(key), value: Buffer.from(value) });
    try {
      for (let i = 0; i < txs.length; i += 1_000) {
        await sink.send(
          txs.slice(i, i + 1_000).map((t) => msg(t.cardId, JSON.stringify(t))),
          [],
        );
      }
      const labels = [...chargebacks.values(), ...analyst.values()].map((l) => msg(l.cardId ?? l.txId, JSON.stringify(l)));
      await sink.send([msg('bad', '{not json'), msg('bad', JSON.stringify({ txId: 'x' }))], [...labels, msg('bad', '{"txId":"y","isFraud":"maybe"}')]);
      // A second copy of a transaction (an at-least-once redelivery) must be counted once.
      await sink.send([msg(txs[5].cardId, JSON.stringify(txs[5]))], []);
    } finally {
      await sink.close();
    }

    const kafka = createKafka(config, '-test');
    const got = await datasetFromKafka({ config, kafka, maturityDays: MATURITY_DAYS, novelScenarios: NOVEL, idleTimeoutMs: 20_000 });
    expect(got.read.complete).toBe(true);
    expect(got.read.malformed).toMatchObject({ transactions: 2, labels: 1 });
    const src = got.dataset.source as { transactions: Record<string, number>; labels: { usedBySource: Record<string, number> } };
    expect(src.transactions).toMatchObject({ read: txs.length + 1, duplicates: 1, malformed: 2 });

    // Expected rows and labels, stated directly from how the test built the topics.
    const expected = new Map<string, number>();
    for (const t of txs) {
      const cb = chargebacks.get(t.txId);
      const an = analyst.get(t.txId);
      if (cb) expected.set(t.txId, cb.isFraud ? 1 : 0);
      else if (an) expected.set(t.txId, an.isFraud ? 1 : 0);
      else if (t.ts <= cutoff) expected.set(t.txId, 0);
    }
    const ds = got.dataset;
    expect(ds.rows.length).toBe(expected.size);
    expect(new Set(ds.txIds)).toEqual(new Set(expected.keys()));
    ds.txIds!.forEach((id, i) => expect([id, ds.labels[i]]).toEqual([id, expected.get(id)]));
    expect(got.labels.used).toEqual({
      chargeback: chargebacks.size,
      analyst: 20,
      maturity: oldUnlabelled.length - 10,
    });
    expect(got.labels.excludedYoung).toBe(youngUnlabelled.length - 10);
    expect(got.labels.disagreements).toBe(5);
    expect(src.labels.usedBySource.analyst).toBe(20);

    // Point-in-time: every row's vector is the one a replay of the whole stream in order computes (left-out
    // transactions still update their card).
    const direct = datasetFromEvents(events.map((e) => ({ tx: e.tx, label: null })), { novelScenarios: NOVEL });
    const vectorOf = new Map(direct.txIds!.map((id, i) => [id, direct.rows[i]]));
    ds.txIds!.forEach((id, i) => expect(Array.from(ds.rows[i])).toEqual(Array.from(vectorOf.get(id)!)));
    for (let i = 1; i < ds.ts.length; i++) expect(ds.ts[i]).toBeGreaterThanOrEqual(ds.ts[i - 1]);

    const modelDir = await mkdtemp(path.join(tmpdir(), 'fs-train-kafka-'));
    dirs.push(modelDir);
    const result = await trainModels(ds, { modelDir, heavy: { enabled: false }, forest: { trees: 50 }, xgboost: { iterations: 40 } });
    const fraudRate = result.card.test.xgboost.positives / result.card.test.xgboost.rows;
    expect(result.card.test.xgboost.auprc).toBeGreaterThan(Math.max(5 * fraudRate, 0.3));
    expect(result.card.test.xgboost.rocAuc).toBeGreaterThan(0.85);
    expect(Object.keys(result.card.curves ?? {})).toEqual(['isolationForest', 'xgboost', 'ensemble']);
    expect(result.card.source).toMatchObject({ maturity: { days: MATURITY_DAYS }, kafka: { topics: { transactions: config.topics.transactions, labels: config.topics.labels } } });
  });

  it('--max-events reads a deterministic prefix of every partition', async () => {
    const config = await testConfig('train-kafka-max');
    const txs = [...generateStream({ seed: 3, events: 600, cards: 60 })].map((e) => e.tx);
    const sink = await createKafkaSink(config, '-test');
    try {
      await sink.send(txs.map((t) => ({ key: Buffer.from(t.cardId), value: Buffer.from(JSON.stringify(t)) })), []);
    } finally {
      await sink.close();
    }
    const read = await readKafkaHistory({ config, maxEvents: 90 });
    const parts = read.offsets.transactions;
    expect(read.complete).toBe(true);
    expect(read.txs.length).toBe(parts.reduce((s, r) => s + r.to - r.from, 0));
    for (const r of parts) {
      expect(r.to - r.from).toBe(30); // ceil(90 / 3 partitions), each partition holds more than that
      expect(read.txs.filter((t) => t.partition === r.partition).map((t) => t.offset)).toEqual(Array.from({ length: 30 }, (_, i) => r.from + i));
    }
  });
});
