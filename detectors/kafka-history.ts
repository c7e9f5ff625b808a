/**
 * `train --from-kafka`: reads the transactions and labels topics from the beginning to the end offsets they had
 * when the read started (a throwaway consumer group that commits nothing and is deleted afterwards), then builds
 * the dataset exactly as the file modes do (point-in-time replay through the in-memory feature store).
 */
import type { NewCardCapOptions } from './pure/new-card-cap.ts';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Config } from '../core/config.ts';
import type { Transaction } from '../core/contracts.ts';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import { createKafka } from '../core/kafka.ts';
import { withLeaderRetry } from '../core/topic-reader.ts';
import { decodeLabelLine, jsonlDecoder } from '../core/codec.ts';
import { capRanges, LabelBook, orderHistory, resolveLabels, type LabelStats, type PartitionRange } from './pure/labels.ts';

export type { PartitionRange };
import { datasetFromEvents, type Dataset, type Progress } from './trainer.ts';

export interface KafkaRead {
  txs: Array<{ tx: Transaction; partition: number; offset: number }>;
  labels: LabelBook;
  malformed: { transactions: number; labels: number; reasons: Record<string, number> };
  offsets: { transactions: PartitionRange[]; labels: PartitionRange[] };
  /** False when the read stopped on the idle timeout before every partition reached its end offset. */
  complete: boolean;
  groupId: string;
  seconds: number;
}

export interface KafkaReadOptions {
  config: Config;
  kafka?: Kafka;
  /** At most this many transaction messages: an even share from the start of each partition (deterministic). */
  maxEvents?: number;
  /** Stop when nothing arrives for this long (an open transaction can hold a partition below its end offset). */
  idleTimeoutMs?: number;
  onProgress?: Progress;
  /**
   * Read only messages the broker stamped at or after this time (epoch ms; the offsets by timestamp), not from the
   * beginning: `restore features` reads the longest feature window this way.
   */
  fromTimestamp?: number;
}

const reasonKey = (topic: string, reason: string) => `${topic}: ${reason.replace(/"[^"]*"/g, '"…"').slice(0, 100)}`;

export async function readKafkaHistory(opts: KafkaReadOptions): Promise<KafkaRead> {
  const { config } = opts;
  const started = performance.now();
  const kafka = opts.kafka ?? createKafka(config, '-train');
  const topics = { transactions: config.topics.transactions, labels: config.topics.labels };
  const admin = kafka.admin();
  await admin.connect();
  const ranges: KafkaRead['offsets'] = { transactions: [], labels: [] };
  try {
    const existing = new Set(await admin.listTopics());
    for (const t of Object.values(topics)) {
      if (!existing.has(t)) throw new FraudstreamError(ErrorCodes.MISSING_PREREQUISITE, `topic ${t} does not exist: nothing to read (create the topics and replay or simulate first)`);
    }
    for (const kind of ['transactions', 'labels'] as const) {
      // A topic created moments ago may not have its leaders known yet (NOT_LEADER_FOR_PARTITION): asked again.
      const offsets = await withLeaderRetry(() => admin.fetchTopicOffsets(topics[kind]));
      ranges[kind] = offsets
        .map((o) => ({ partition: o.partition, from: Number(o.low), to: Number(o.high), reached: Number(o.low) }))
        .sort((a, b) => a.partition - b.partition);
    }
    if (opts.fromTimestamp !== undefined) {
      for (const kind of ['transactions', 'labels'] as const) {
        const at = await withLeaderRetry(() => admin.fetchTopicOffsetsByTimestamp(topics[kind], opts.fromTimestamp));
        for (const r of ranges[kind]) {
          const o = Number(at.find((x) => x.partition === r.partition)?.offset ?? -1);
          // -1: no message that new on the partition; nothing to read there.
          r.from = o < 0 ? r.to : Math.min(r.to, Math.max(r.from, o));
          r.reached = r.from;
        }
      }
    }
    if (opts.maxEvents !== undefined) capRanges(ranges.transactions, opts.maxEvents);
  } finally {
    await admin.disconnect();
  }

  const groupId = `${config.kafka.clientId}-train-${randomUUID()}`;
  const txs: KafkaRead['txs'] = [];
  const labels = new LabelBook();
  const malformed: KafkaRead['malformed'] = { transactions: 0, labels: 0, reasons: {} };
  const bad = (kind: 'transactions' | 'labels', reason: string) => {
    malformed[kind]++;
    const key = reasonKey(topics[kind], reason);
    malformed.reasons[key] = (malformed.reasons[key] ?? 0) + 1;
  };
  const rangeOf = new Map<string, { kind: 'transactions' | 'labels'; range: PartitionRange }>();
  for (const kind of ['transactions', 'labels'] as const) for (const r of ranges[kind]) if (r.to > r.from) rangeOf.set(`${topics[kind]}:${r.partition}`, { kind, range: r });
  const totals = { transactions: 0, labels: 0 };
  for (const kind of ['transactions', 'labels'] as const) totals[kind] = ranges[kind].reduce((s, r) => s + r.to - r.from, 0);
  let labelCount = 0;
  let complete = true;

  if (rangeOf.size > 0) {
    const decoder = jsonlDecoder();
    const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxBytes: 16 * 1024 * 1024 });
    const pending = new Set(rangeOf.keys());
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topics.transactions, topics.labels], fromBeginning: true });
      const progress = () => {
        const secs = (performance.now() - started) / 1000;
        const done = txs.length + malformed.transactions + labelCount + malformed.labels;
        opts.onProgress?.(
          'kafka',
          `transactions ${txs.length}/${totals.transactions}, labels ${labelCount}/${totals.labels}, malformed ${malformed.transactions + malformed.labels}, ${Math.round(done / Math.max(secs, 1e-3))} msg/s`,
          true,
        );
      };
      await new Promise<void>((resolve, reject) => {
        let idle: NodeJS.Timeout | undefined;
        const finish = () => {
          clearTimeout(idle);
          resolve();
        };
        const armIdle = () => {
          clearTimeout(idle);
          idle = setTimeout(() => {
            complete = false;
            finish();
          }, opts.idleTimeoutMs ?? 15_000);
        };
        armIdle();
        consumer
          .run({
            autoCommit: false,
            eachBatchAutoResolve: true,
            eachBatch: async ({ batch, pause }) => {
              const key = `${batch.topic}:${batch.partition}`;
              const entry = rangeOf.get(key);
              if (!entry || !pending.has(key)) return;
              const { kind, range } = entry;
              for (const m of batch.messages) {
                const offset = Number(m.offset);
                if (offset >= range.to) break;
                if (offset < range.from) continue;
                const text = m.value?.toString('utf8') ?? '';
                if (kind === 'transactions') {
                  const d = decoder.decode(text, offset);
                  if (d.ok) txs.push({ tx: d.tx, partition: batch.partition, offset });
                  else bad(kind, d.reason);
                } else {
                  const d = decodeLabelLine(text);
                  if (d.ok) {
                    labels.add(d.label);
                    labelCount++;
                  } else bad(kind, d.reason);
                }
              }
              // lastOffset() also covers control records and aborted messages a read-committed fetch skips.
              range.reached = Math.min(range.to, Math.max(range.reached, Number(batch.lastOffset()) + 1));
              armIdle();
              progress();
              if (range.reached >= range.to) {
                pending.delete(key);
                pause();
                if (pending.size === 0) finish();
              }
            },
          })
          .catch(reject);
        // Ranges that start past the low watermark (fromTimestamp): seek there (run() has created the group by now).
        for (const [key, { range }] of rangeOf) {
          if (range.from > 0) consumer.seek({ topic: key.slice(0, key.lastIndexOf(':')), partition: range.partition, offset: String(range.from) });
        }
      });
      progress();
    } finally {
      await consumer.disconnect();
      // The group never committed anything; remove it so it does not linger in the broker's group list.
      const cleanup = kafka.admin();
      await cleanup
        .connect()
        .then(() => cleanup.deleteGroups([groupId]))
        .catch(() => undefined)
        .finally(() => cleanup.disconnect().catch(() => undefined));
    }
  }
  return { txs, labels, malformed, offsets: ranges, complete, groupId, seconds: (performance.now() - started) / 1000 };
}

export interface KafkaDatasetOptions extends KafkaReadOptions {
  /** Only transactions with ts <= untilMs (labels are read to the end whatever their time). */
  untilMs?: number;
  maturityDays: number;
  novelScenarios: ReadonlySet<string>;
  /** The new-card cap as detect runs it (config.features.newCardCap). */
  newCardCap?: NewCardCapOptions;
  historyK?: number;
}

export interface KafkaDataset {
  dataset: Dataset;
  read: KafkaRead;
  labels: LabelStats;
}

/** Reads both topics and builds the dataset; the dataset's `source` is what the model card records. */
export async function datasetFromKafka(opts: KafkaDatasetOptions): Promise<KafkaDataset> {
  const read = await readKafkaHistory(opts);
  return buildKafkaDataset(read, opts);
}

/** The part after the read (no I/O): order, dedupe, resolve labels, replay features. */
export function buildKafkaDataset(read: KafkaRead, opts: Omit<KafkaDatasetOptions, 'config' | 'kafka' | 'idleTimeoutMs'> & { config?: Pick<Config, 'topics' | 'kafka'> }): KafkaDataset {
  const ordered = orderHistory(read.txs, opts.untilMs);
  const { events, stats } = resolveLabels(ordered.txs, read.labels, opts.maturityDays);
  const rowsExpected = events.length - stats.excludedYoung;
  const source = {
    kafka: {
      ...(opts.config ? { brokers: opts.config.kafka.brokers, topics: { transactions: opts.config.topics.transactions, labels: opts.config.topics.labels } } : {}),
      offsets: read.offsets,
      complete: read.complete,
      readSeconds: Number(read.seconds.toFixed(2)),
    },
    untilMs: opts.untilMs ?? null,
    maxEvents: opts.maxEvents ?? null,
    transactions: {
      read: read.txs.length,
      malformed: read.malformed.transactions,
      duplicates: ordered.duplicates,
      afterUntil: ordered.afterUntil,
      replayed: events.length,
      trainingRows: rowsExpected,
    },
    labels: {
      received: stats.received,
      malformed: read.malformed.labels,
      usedBySource: stats.used,
      fraudRows: stats.fraud,
      chargebackAndAnalyst: stats.both,
      chargebackAndAnalystDisagree: stats.disagreements,
      forUnreadTransactions: stats.orphanLabels,
      rule: 'chargeback over analyst; the latest label of a source wins; unlabelled = legitimate once older than the maturity window, else left out',
    },
    maturity: { days: stats.maturityDays, cutoffTs: stats.maturityCutoffTs, unlabelledLeftOut: stats.excludedYoung },
    malformedReasons: read.malformed.reasons,
  };
  const dataset = datasetFromEvents(events, {
    novelScenarios: opts.novelScenarios,
    historyK: opts.historyK,
    source,
    expected: events.length,
    onProgress: opts.onProgress,
    newCardCap: opts.newCardCap,
  });
  return { dataset, read, labels: stats };
}
