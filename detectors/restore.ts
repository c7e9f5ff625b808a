/**
 * `fraudstream restore features`: after Redis lost the feature state (issue 18), rebuild it from the record. The
 * transactions and labels topics are read over the feature spec's longest window (globalRetentionDays: the longest
 * entity window, or a risk window plus the label delay, plus today), first by the broker's timestamps (offsets by
 * time, so a long topic is not read from its start), then by event time (transactions at most that long before the
 * newest one). The feature keys left are deleted and the events are replayed through the same RedisFeatureStore
 * detect writes with (replayIntoStore, as `warm` does), each label fed when it had arrived. Last, the marker that
 * detect reads (featureCompleteKey) is written: decisions stop being marked partialHistory.
 *
 * Detect keeps deciding meanwhile. A card that transacts during the replay gets its newest transaction before its
 * older ones (counts stay right: every update is idempotent per tx id; order-dependent card features are
 * approximate for those cards until they transact again).
 */
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.ts';
import type { Label, Transaction } from '../core/contracts.ts';
import { UserInputError } from '../core/errors.ts';
import { featureCompleteKey, featureKeysPattern, type FeatureCompleteMark } from '../state/features.ts';
import { RedisFeatureStore } from './features.ts';
import { readKafkaHistory } from './kafka-history.ts';
import { countsForRisk } from './pure/entity-features.ts';
import { DAY_MS, DEFAULT_FEATURE_SPEC, globalRetentionDays, type FeatureSpec } from './pure/feature-spec.ts';
import { orderHistory, type LabelBook } from './pure/labels.ts';
import type { Progress } from './trainer.ts';
import { replayIntoStore } from './warm.ts';
import { allKeys } from '../core/redis.ts';

export interface RestoreFeaturesOptions {
  config: Config;
  redis: Redis;
  kafka?: Kafka;
  /** Rebuild even though the marker says the state is whole (its keys are deleted first). */
  force?: boolean;
  spec?: FeatureSpec;
  /** Stop reading a partition that stays below its end offset this long (an open transaction). */
  idleTimeoutMs?: number;
  now?: () => number;
  onProgress?: Progress;
}

export interface RestoreFeaturesResult {
  windowDays: number;
  /** Broker time the read started from, and the oldest event time replayed. */
  readFrom: number;
  replayFrom: number | null;
  read: { transactions: number; labels: number; malformed: number };
  replayed: { transactions: number; duplicates: number; olderThanWindow: number };
  labelsCounted: number;
  keysDeleted: number;
  /** False when a partition stayed below its end offset past the idle timeout. */
  complete: boolean;
  seconds: number;
}

/** The label that first counted online for a transaction: its earliest-arriving fraud label (chargeback or analyst). */
function countingLabel(book: LabelBook, tx: Transaction): Label | null {
  let best: Label | null = null;
  for (const source of ['chargeback', 'analyst'] as const) {
    const l = book.of(tx.txId, source);
    if (!l?.isFraud) continue;
    const full = { ...l, merchantId: l.merchantId ?? tx.merchantId, txTs: l.txTs ?? tx.ts };
    if (countsForRisk(full) && (!best || full.labeledAt < best.labeledAt)) best = full;
  }
  return best;
}

export async function restoreFeatures(opts: RestoreFeaturesOptions): Promise<RestoreFeaturesResult> {
  const { config, redis } = opts;
  const started = performance.now();
  const prefix = config.redis.keyPrefix;
  const marker = featureCompleteKey(prefix);
  if (!opts.force && (await redis.exists(marker)) === 1) {
    const raw = await redis.get(marker);
    throw new UserInputError(`the feature state is whole (marker ${marker}: ${raw}); nothing to restore. --force deletes it and rebuilds it from the topics`);
  }
  const spec = opts.spec ?? DEFAULT_FEATURE_SPEC;
  const windowDays = globalRetentionDays(spec);
  const windowMs = windowDays * DAY_MS;
  const now = (opts.now ?? Date.now)();
  const readFrom = now - windowMs;
  const read = await readKafkaHistory({ config, kafka: opts.kafka, fromTimestamp: readFrom, idleTimeoutMs: opts.idleTimeoutMs, onProgress: opts.onProgress });
  const ordered = orderHistory(read.txs);
  const newest = ordered.txs.at(-1)?.ts;
  const since = newest === undefined ? undefined : newest - windowMs;
  const events = ordered.txs.filter((tx) => since !== undefined && tx.ts >= since).map((tx) => ({ tx, label: countingLabel(read.labels, tx) }));

  // Only now, with the record read: detect decided on the partial state until this moment.
  const keys = await allKeys(redis, featureKeysPattern(prefix));
  for (let i = 0; i < keys.length; i += 1_000) {
    const pipe = redis.pipeline();
    for (const k of keys.slice(i, i + 1_000)) pipe.unlink(k);
    await pipe.exec();
  }
  const store = new RedisFeatureStore(redis, { keyPrefix: prefix, spec, newCardCap: config.features.newCardCap });
  const total = events.length;
  const t0 = performance.now();
  const replayed = await replayIntoStore(store, events, {
    batch: 5_000,
    labelsUntil: now,
    onProgress: (n) => opts.onProgress?.('replay', `${n}/${total} transactions, ${Math.round(n / Math.max(1e-3, (performance.now() - t0) / 1000))} tx/s`, true),
  });
  const mark: FeatureCompleteMark = { at: Date.now(), by: 'restore', transactions: replayed.transactions, labels: replayed.labels, ...(since !== undefined ? { fromTs: since } : {}) };
  await redis.set(marker, JSON.stringify(mark));
  return {
    windowDays,
    readFrom,
    replayFrom: events[0]?.tx.ts ?? null,
    read: { transactions: read.txs.length, labels: read.labels.received.chargeback + read.labels.received.analyst, malformed: read.malformed.transactions + read.malformed.labels },
    replayed: { transactions: replayed.transactions, duplicates: ordered.duplicates, olderThanWindow: ordered.txs.length - events.length },
    labelsCounted: replayed.labels,
    keysDeleted: keys.length,
    complete: read.complete,
    seconds: (performance.now() - started) / 1000,
  };
}
