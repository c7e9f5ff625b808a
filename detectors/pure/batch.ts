/**
 * Runs one batch of transactions through the feature definition, in order, against card states supplied by a
 * store. Shared by both stores so their behaviour (order within a batch, idempotency) cannot drift apart.
 */
import type { Transaction } from '../../core/contracts.ts';
import { emptyCardState, LIMITS, type CardState } from './card-state.ts';
import { applyToState, BASE_FEATURE_COUNT, featureVector, type FeatureContext } from './features.ts';
import type { CompiledSpec } from './entity-features.ts';
import type { EntityState } from './entity-state.ts';
import { txKey } from './hash.ts';
import type { CapHit } from './new-card-cap.ts';

export interface HistoryEntry {
  key: number;
  /** The transaction's own time, so escalate can ask for the history strictly before a transaction. */
  ts: number;
  /** The card's transaction count once this one was applied (1, 2, ...): orders history, picks its ring slot. */
  seq: number;
  vector: Float64Array;
}

export interface BatchOutcome {
  /** One per input transaction; undefined where `lookups` says the vector must come from stored history. */
  vectors: Array<Float64Array | undefined>;
  /** Transactions applied before this batch: their first vector lives in the card's stored history. */
  lookups: Array<{ index: number; cardId: string; key: number }>;
  /** Cards whose state changed, with the history entries this batch adds (oldest first). */
  changed: Map<string, { state: CardState; appended: HistoryEntry[] }>;
  /** Indices of the transactions this batch applied (not seen before), in order. */
  applied: number[];
  /** Transactions of new cards over the new-card cap (pure/new-card-cap.ts): computed without state, nothing applied. */
  capped: Map<number, CapHit>;
}

/** The entity side of a batch: the compiled spec, each entity's state by key (created empty when unknown), the global state. */
export interface EntityAccess {
  spec: CompiledSpec;
  load(key: string): EntityState;
  global: EntityState;
  /** Each transaction's entity keys when the store has worked them out already (spec.keysOf per transaction). */
  keys?: ReadonlyArray<ReadonlyArray<string | null>>;
  /** An entity's state when the store holds one (never creates it): what a capped transaction reads. */
  peek(key: string): EntityState | undefined;
}

/**
 * The new-card cap as a batch sees it: asked, in order, about each transaction whose card has no state at that point
 * (none stored, none applied earlier in the batch); a hit means "decide it without state".
 */
export type CapCheck = (tx: Transaction, index: number) => CapHit | undefined;

/**
 * `load(cardId)` returns the state object to read and mutate (a fresh empty one for an unknown card).
 * A transaction whose txId the card already applied is not applied again.
 */
export function runBatch(txs: readonly Transaction[], load: (cardId: string) => CardState, ctx: FeatureContext, entities: EntityAccess, cap?: CapCheck): BatchOutcome {
  const states = new Map<string, CardState>();
  const outcome: BatchOutcome = { vectors: new Array(txs.length), lookups: [], changed: new Map(), applied: [], capped: new Map() };
  const width = BASE_FEATURE_COUNT + entities.spec.width;
  // One block for the whole batch, one view per vector: a separate small typed array per transaction costs its
  // own backing store (several times the cost of the view).
  const block = new Float64Array(txs.length * width);
  const entityStates: Array<EntityState | undefined> = new Array(entities.spec.spec.entities.length);
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i];
    let state = states.get(tx.cardId);
    if (!state) {
      state = load(tx.cardId);
      states.set(tx.cardId, state);
    }
    const key = txKey(tx.txId);
    if (state.applied.includes(key)) {
      const inBatch = outcome.changed.get(tx.cardId)?.appended.find((e) => e.key === key);
      if (inBatch) outcome.vectors[i] = inBatch.vector;
      else outcome.lookups.push({ index: i, cardId: tx.cardId, key });
      continue;
    }
    const vector = block.subarray(i * width, (i + 1) * width);
    const keys = entities.keys?.[i] ?? entities.spec.keysOf(tx);
    const hit = state.n === 0 && cap ? cap(tx, i) : undefined;
    if (hit) {
      // Each capped transaction on its own from an empty card state (batch boundaries cannot change its vector),
      // entities as they are now, nothing applied.
      featureVector(emptyCardState(), tx, ctx, vector);
      for (let k = 0; k < keys.length; k++) entityStates[k] = keys[k] === null ? undefined : entities.peek(keys[k] as string);
      entities.spec.write(tx, entityStates, entities.global, vector, BASE_FEATURE_COUNT);
      outcome.capped.set(i, hit);
      outcome.vectors[i] = vector;
      continue;
    }
    featureVector(state, tx, ctx, vector);
    for (let k = 0; k < keys.length; k++) entityStates[k] = keys[k] === null ? undefined : entities.load(keys[k] as string);
    entities.spec.write(tx, entityStates, entities.global, vector, BASE_FEATURE_COUNT);
    applyToState(state, tx, key);
    entities.spec.applyTx(tx, entityStates, entities.global);
    outcome.applied.push(i);
    outcome.vectors[i] = vector;
    let change = outcome.changed.get(tx.cardId);
    if (!change) {
      change = { state, appended: [] };
      outcome.changed.set(tx.cardId, change);
    }
    change.appended.push({ key, ts: tx.ts, seq: state.n, vector });
    if (change.appended.length > LIMITS.applied) change.appended.shift();
  }
  return outcome;
}

/** A transaction's vector from the current states, without applying it (its first vector left the history). */
export function vectorWithoutApplying(card: CardState, tx: Transaction, ctx: FeatureContext, entities: EntityAccess, peek: (key: string) => EntityState | undefined): Float64Array {
  const v = new Float64Array(BASE_FEATURE_COUNT + entities.spec.width);
  featureVector(card, tx, ctx, v);
  const states = entities.spec.keysOf(tx).map((k) => (k === null ? undefined : peek(k)));
  entities.spec.write(tx, states, entities.global, v, BASE_FEATURE_COUNT);
  return v;
}

/** Appends entries to a card's history, keeping the newest LIMITS.applied. */
export function appendHistory(history: HistoryEntry[], appended: readonly HistoryEntry[]): void {
  history.push(...appended);
  if (history.length > LIMITS.applied) history.splice(0, history.length - LIMITS.applied);
}

/** The last k entries with ts < beforeTs (all when beforeTs is undefined), oldest first. */
export function lastBefore(history: readonly HistoryEntry[], k: number, beforeTs?: number): HistoryEntry[] {
  if (k <= 0) return [];
  const eligible = beforeTs === undefined ? history : history.filter((e) => e.ts < beforeTs);
  return eligible.slice(Math.max(0, eligible.length - k));
}

const HEADER = 3;

/** Bytes encodeHistoryEntryInto writes for this entry. */
export const historyEntrySize = (e: HistoryEntry): number => 8 * (HEADER + e.vector.length);

/** Packs a history entry as [key f64][ts f64][seq f64][vector f64...] little-endian into `dv` at byte `o`; returns the end. */
export function encodeHistoryEntryInto(e: HistoryEntry, dv: DataView, o: number): number {
  dv.setFloat64(o, e.key, true);
  dv.setFloat64(o + 8, e.ts, true);
  dv.setFloat64(o + 16, e.seq, true);
  o += 8 * HEADER;
  for (let i = 0; i < e.vector.length; i++, o += 8) dv.setFloat64(o, e.vector[i], true);
  return o;
}

export function decodeHistoryEntry(buf: Uint8Array): HistoryEntry {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = buf.byteLength / 8 - HEADER;
  const vector = new Float64Array(n);
  for (let i = 0; i < n; i++) vector[i] = dv.getFloat64(8 * (i + HEADER), true);
  return { key: dv.getFloat64(0, true), ts: dv.getFloat64(8, true), seq: dv.getFloat64(16, true), vector };
}
