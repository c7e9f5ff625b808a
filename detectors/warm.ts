/**
 * Warming the online feature store: a model version trained on a generated world learned on cards with pasts;
 * live traffic that continues that world must meet the same pasts in Redis, or every card looks brand new
 * (no velocity, no running amount statistics) and the drift monitor reports a shift that is only a cold start.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { allKeys } from '../core/redis.ts';
import type { Config } from '../core/config.ts';
import type { Label, Transaction } from '../core/contracts.ts';
import { LabelArrivals } from './pure/arrival.ts';
import { parseFeatureSpec, type FeatureSpec } from './pure/feature-spec.ts';
import { featureEntityPattern } from '../state/features.ts';
import { connectRedisForCommand } from './redis-client.ts';
import { historyCardIds, historyEvents, parseWorldHistory, type WorldHistory } from '../producers/world/index.ts';
import { readDrift, resetDrift } from './drift.ts';
import { RedisFeatureStore } from './features.ts';
import type { FeatureStore } from './types.ts';

export interface HistoryToWarm {
  /** Every card whose state is replaced (cards without a transaction in the history are reset to empty). */
  cardIds: readonly string[];
  /** Time-ordered, each with its label when it has one (fed to the label-risk features when it arrives). */
  events: Iterable<{ tx: Transaction; label: Label | null }>;
}

export interface WarmResult {
  cards: number;
  transactions: number;
  seconds: number;
}

const DELETE_CHUNK = 1_000;

/**
 * Replaces the listed cards' state with what the history builds: their keys are deleted first, then the history
 * is applied in batches through the same RedisFeatureStore detect uses. Run twice, it ends in the same state (a
 * second live run then starts from the same point); per-tx-id idempotency alone would not give that, since a card
 * remembers only its last 32 transaction ids. Run it before live traffic for these cards flows.
 */
export async function warmFeatureStore(
  redis: Redis,
  keyPrefix: string,
  history: HistoryToWarm,
  opts: { batch?: number; onProgress?: (transactions: number) => void; spec?: FeatureSpec } = {},
): Promise<WarmResult> {
  const started = performance.now();
  const store = new RedisFeatureStore(redis, { keyPrefix, spec: opts.spec });
  // Entity state (merchants, devices, the global rates) and label claims are the whole world's: rebuilt from scratch.
  const entityKeys = await allKeys(redis, featureEntityPattern(keyPrefix));
  const keys = [...history.cardIds.map((c) => store.cardKey(c)), ...entityKeys];
  for (let i = 0; i < keys.length; i += DELETE_CHUNK) {
    // One key per command: card keys live in different Redis Cluster slots.
    const pipe = redis.pipeline();
    for (const k of keys.slice(i, i + DELETE_CHUNK)) pipe.unlink(k);
    const failed = (await pipe.exec())?.find(([err]) => err);
    if (failed) throw failed[0] as Error;
  }
  // A card's state is read and written once per batch however many of its transactions the batch holds, so big
  // batches cost fewer state round trips (150,000 events on 2,000 cards: 4.3-4.5 s at 25,000 against 4.8-6.2 s at
  // 2,000 on the shared machine, 1.3 s of which is generating the history).
  const { transactions: n } = await replayIntoStore(store, history.events, opts);
  return { cards: history.cardIds.length, transactions: n, seconds: (performance.now() - started) / 1000 };
}

/**
 * Replays time-ordered events into a feature store through its own write path (computeAndApply, applyLabels), labels
 * fed when they have arrived, as detect and the labels stage meet them online (the async twin of
 * MemoryFeatureStore.replayEvents). Returns how many transactions and labels it applied.
 */
export async function replayIntoStore(
  store: Pick<FeatureStore, 'computeAndApply' | 'applyLabels'>,
  events: Iterable<{ tx: Transaction; label: Label | null }>,
  opts: { batch?: number; onProgress?: (transactions: number) => void; /** Also feed labels arrived by then that no later transaction met. */ labelsUntil?: number } = {},
): Promise<{ transactions: number; labels: number }> {
  const size = opts.batch ?? 25_000;
  let batch: Transaction[] = [];
  let n = 0;
  let labels = 0;
  const flush = async () => {
    await store.computeAndApply(batch);
    n += batch.length;
    batch = [];
    opts.onProgress?.(n);
  };
  const arrivals = new LabelArrivals();
  for (const { tx, label } of events) {
    const due = arrivals.due(tx.ts);
    if (due.length) {
      if (batch.length) await flush();
      labels += await store.applyLabels(due);
    }
    batch.push(tx);
    if (label) arrivals.add(label, tx);
    if (batch.length >= size) await flush();
  }
  if (batch.length) await flush();
  if (opts.labelsUntil !== undefined) {
    const due = arrivals.due(opts.labelsUntil);
    if (due.length) labels += await store.applyLabels(due);
  }
  return { transactions: n, labels };
}

/** The generated world a version was trained on (from its model card), or why there is none. */
export async function trainedWorld(versionDir: string): Promise<{ history: WorldHistory } | { reason: string }> {
  let card: { source?: unknown };
  try {
    card = JSON.parse(await readFile(path.join(versionDir, 'model-card.json'), 'utf8')) as { source?: unknown };
  } catch (err) {
    return { reason: `its model card is unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  return parseWorldHistory(card.source);
}

/** The feature spec a version's features.json holds; undefined (the default spec) for versions without one. */
export async function versionSpec(versionDir: string): Promise<FeatureSpec | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(versionDir, 'features.json'), 'utf8');
  } catch (err) {
    // A folder with only its card (as a hand-copied one may be): the default spec, as the stages assume then.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const raw = JSON.parse(text) as { spec?: unknown };
  return raw.spec === undefined ? undefined : parseFeatureSpec(raw.spec);
}

export type WarmFromModelResult =
  | ({ warmed: true; version: string; history: WorldHistory; driftRowsDeleted: number } & WarmResult)
  | { warmed: false; version: string; reason: string };

/**
 * For a version under MODEL_DIR, gets the online store ready for live traffic that continues a version's training world (the simulator's
 * `continueFrom`): warms every card of that world with the history, and starts the version's live drift counts
 * over (unless keepDrift), since the live world restarts at the end of the history. A version trained on anything
 * but a generated world is left alone: `warmed: false` says why.
 */
export async function warmFromModel(
  config: Config,
  version: string,
  opts: { keepDrift?: boolean; onProgress?: (transactions: number, total: number) => void } = {},
): Promise<WarmFromModelResult> {
  const found = await trainedWorld(path.join(config.modelDir, version));
  if ('reason' in found) return { warmed: false, version, reason: found.reason };
  const h = found.history;
  const prefix = config.redis.keyPrefix;
  const redis = await connectRedisForCommand(config);
  try {
    // The version's own spec (its label delay), as the stages serving it compute.
    const spec = await versionSpec(path.join(config.modelDir, version));
    const result = await warmFeatureStore(redis, prefix, { cardIds: historyCardIds(h), events: historyEvents(h) }, { onProgress: (n) => opts.onProgress?.(n, h.events), spec });
    let driftRowsDeleted = 0;
    if (!opts.keepDrift) {
      driftRowsDeleted = (await readDrift(redis, prefix, version)).rows;
      await resetDrift(redis, prefix, version);
    }
    return { warmed: true, version, history: h, driftRowsDeleted, ...result };
  } finally {
    redis.disconnect();
  }
}
