/**
 * `bench pipeline`: the stages end to end on the real broker and Redis. Phase 1 pushes a burst as fast as
 * possible and measures decisions per second; phase 2 sends at a fixed rate and measures per-transaction
 * latency (decision's Kafka timestamp minus the transaction's). Unique topics and keys, removed afterwards.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isolatedConfig, type Config } from '../core/config.ts';
import { DecisionSchema, type Transaction } from '../core/contracts.ts';
import { createKafka, createProducer, ensureTopics } from '../core/kafka.ts';
import { table } from '../detectors/progress.ts';
import { generateStream } from '../producers/world/index.ts';
import { startPipeline } from './pipeline.ts';
import { loadServingModels } from './serving-models.ts';

export interface PipelineBenchOptions {
  config: Config;
  events: number;
  rate: number;
  seconds: number;
  model: string;
  instances: number;
  out: string;
  log: (line: string) => void;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function benchPipeline(o: PipelineBenchOptions) {
  const config = isolatedConfig(o.config, `bench-${Date.now()}`);
  await ensureTopics(config);
  const kafka = createKafka(config, '-bench');
  const serving = await loadServingModels(config, o.model);
  const pipeline = await startPipeline({ config, stages: ['detect', 'escalate'], instances: o.instances, models: serving.models, featureStore: serving.featureStore });
  const producer = createProducer(kafka);
  const consumer = kafka.consumer({ groupId: `bench-reader-${Date.now()}` });
  const decidedAt = new Map<string, number>();
  const sentAt = new Map<string, number>();
  const actions: Record<string, number> = {};
  try {
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: config.topics.decisions, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const d = DecisionSchema.parse(JSON.parse(m.value!.toString()));
          if (!decidedAt.has(d.txId)) {
            decidedAt.set(d.txId, Number(m.timestamp));
            actions[`${d.stage}:${d.action}`] = (actions[`${d.stage}:${d.action}`] ?? 0) + 1;
          }
        }
      },
    });
    await pipeline.ready;
    const total = o.events + Math.ceil(o.rate * o.seconds);
    const txs: Transaction[] = [];
    for (const e of generateStream({ seed: 5, events: total, cards: 10_000 })) txs.push(e.tx);
    const burst = txs.slice(0, o.events);
    const paced = txs.slice(o.events);

    const waitFor = async (ids: Transaction[], timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      let last = -1;
      while (Date.now() < deadline) {
        const n = ids.reduce((s, t) => s + (decidedAt.has(t.txId) ? 1 : 0), 0);
        if (n === ids.length) return;
        if (n !== last) o.log(`  ${n.toLocaleString()} / ${ids.length.toLocaleString()} decided`);
        last = n;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      throw new Error(`not every transaction was decided within ${timeoutMs / 1000} s`);
    };

    o.log(`phase 1: burst of ${burst.length.toLocaleString()} transactions`);
    const t0 = Date.now();
    for (let i = 0; i < burst.length; i += 2_000) {
      const chunk = burst.slice(i, i + 2_000);
      await producer.send({ topic: config.topics.transactions, messages: chunk.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
    }
    const sentMs = Date.now() - t0;
    await waitFor(burst, 600_000);
    const burstMs = Math.max(...burst.map((t) => decidedAt.get(t.txId)!)) - t0;

    o.log(`phase 2: ${o.rate}/s for ${o.seconds} s`);
    const start = Date.now();
    for (let i = 0; i < paced.length; i += Math.max(1, Math.round(o.rate / 20))) {
      const chunk = paced.slice(i, i + Math.max(1, Math.round(o.rate / 20)));
      const due = start + (i / o.rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const now = Date.now();
      for (const t of chunk) sentAt.set(t.txId, now);
      await producer.send({ topic: config.topics.transactions, messages: chunk.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
    }
    await waitFor(paced, 120_000);
    const latencies = paced.map((t) => decidedAt.get(t.txId)! - sentAt.get(t.txId)!).sort((a, b) => a - b);

    const result = {
      at: new Date().toISOString(),
      model: serving.models?.version ?? 'rules-only',
      detectInstances: o.instances,
      partitions: config.kafka.partitions,
      burst: { events: burst.length, produceSeconds: sentMs / 1000, decideSeconds: burstMs / 1000, decisionsPerSecond: Math.round(burst.length / (burstMs / 1000)) },
      paced: { rate: o.rate, events: paced.length, latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN } },
      decisions: actions,
    };
    await mkdir(path.dirname(path.resolve(o.out)), { recursive: true });
    await writeFile(o.out, JSON.stringify(result, null, 2) + '\n');
    const rows: Array<[string, string | number]> = [
      ['model', result.model],
      ['burst: transactions', result.burst.events],
      ['burst: decisions/s (end to end)', result.burst.decisionsPerSecond],
      [`paced ${o.rate}/s: latency p50 ms`, result.paced.latencyMs.p50],
      ['paced: latency p95 ms', result.paced.latencyMs.p95],
      ['paced: latency p99 ms', result.paced.latencyMs.p99],
      ['paced: latency max ms', result.paced.latencyMs.max],
      ...Object.entries(actions).sort().map(([k, v]) => [`decisions ${k}`, v] as [string, number]),
    ];
    return { result, table: table(['measure', 'value'], rows) };
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await pipeline.stop();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: Object.values(config.topics) }).catch(() => undefined);
    await admin.disconnect();
  }
}
