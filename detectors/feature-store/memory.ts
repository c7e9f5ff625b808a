import type { Label, Transaction } from '../../core/contracts.ts';
import type { FeatureStatePeek, FeatureStore, FeatureVector, FeatureVectors } from '../types.ts';
import { emptyCardState, type CardState } from '../pure/card-state.ts';
import { appendHistory, lastBefore, runBatch, vectorWithoutApplying, type EntityAccess, type HistoryEntry } from '../pure/batch.ts';
import { defaultFeatureContext, type FeatureContext } from '../pure/features.ts';
import { CompiledSpec, countsForRisk, GLOBAL_ENTITY } from '../pure/entity-features.ts';
import { emptyEntityState, type EntityState } from '../pure/entity-state.ts';
import { DEFAULT_FEATURE_SPEC, type FeatureSpec } from '../pure/feature-spec.ts';
import { LabelArrivals } from '../pure/arrival.ts';
import { DEFAULT_NEW_CARD_CAP, NewCardCap, type NewCardCapOptions } from '../pure/new-card-cap.ts';

interface CardEntry {
  state: CardState;
  history: HistoryEntry[];
}

export interface MemoryFeatureStoreOptions {
  ctx?: FeatureContext;
  spec?: FeatureSpec;
  /** The new-card cap (default DEFAULT_NEW_CARD_CAP, as the online store): the same rule, counted in event time. */
  newCardCap?: NewCardCapOptions;
}

/**
 * The offline store: card and entity state in Maps. The trainer replays transactions and labels through it in
 * arrival order, so it sees what detect (RedisFeatureStore) saw.
 */
export class MemoryFeatureStore implements FeatureStore, FeatureStatePeek {
  private readonly cards = new Map<string, CardEntry>();
  private readonly entityStates = new Map<string, EntityState>();
  private readonly global = emptyEntityState();
  /** Transactions whose fraud label was counted (the first fraud label of a transaction counts, later ones do not). */
  private readonly fraudCounted = new Set<string>();
  private readonly ctx: FeatureContext;
  readonly compiled: CompiledSpec;
  private readonly access: EntityAccess;
  private readonly cap: NewCardCap;

  constructor(opts: MemoryFeatureStoreOptions = {}) {
    this.ctx = opts.ctx ?? defaultFeatureContext;
    this.compiled = new CompiledSpec(opts.spec ?? DEFAULT_FEATURE_SPEC);
    this.access = { spec: this.compiled, load: (key) => this.entity(key), peek: (key) => this.entityStates.get(key), global: this.global };
    this.cap = new NewCardCap(opts.newCardCap ?? DEFAULT_NEW_CARD_CAP);
  }

  computeAndApply(txs: Transaction[]): Promise<FeatureVectors> {
    return Promise.resolve(this.computeAndApplySync(txs));
  }

  /** Synchronous form for the trainer's replay loop. */
  computeAndApplySync(txs: readonly Transaction[]): FeatureVectors {
    // A card gets an entry only once a transaction of it is applied (a capped card leaves nothing behind).
    const outcome = runBatch(txs, (cardId) => this.cards.get(cardId)?.state ?? emptyCardState(), this.ctx, this.access, this.cap.enabled ? (tx) => this.cap.check(tx) : undefined);
    for (const [cardId, change] of outcome.changed) {
      let e = this.cards.get(cardId);
      if (!e) this.cards.set(cardId, (e = { state: change.state, history: [] }));
      appendHistory(e.history, change.appended);
    }
    for (const { index, cardId, key } of outcome.lookups) {
      const found = this.entry(cardId).history.find((e) => e.key === key);
      // Applied so long ago that its vector left the history: answer from the current state without applying.
      outcome.vectors[index] = found ? found.vector : this.answerWithoutApplying(cardId, txs[index]);
    }
    const out: FeatureVectors = outcome.vectors.map((v) => Float64Array.from(v as Float64Array));
    if (outcome.capped.size) out.capped = outcome.capped;
    return out;
  }

  /**
   * Replays time-ordered events: each transaction after the labels that arrived by its time (as detect meets them
   * online), in batches of `batch`. Returns the vectors in event order.
   */
  replayEvents(
    events: Iterable<{ tx: Transaction; label: Label | null }>,
    batch = 2_000,
    onBatch?: (n: number) => void,
    /** Labels still on their way from an earlier call (a replay continued in parts). */
    arrivals: LabelArrivals = new LabelArrivals(),
  ): Float64Array[] {
    const out: Float64Array[] = [];
    let pending: Transaction[] = [];
    const flush = () => {
      out.push(...this.computeAndApplySync(pending));
      pending = [];
      onBatch?.(out.length);
    };
    for (const { tx, label } of events) {
      const due = arrivals.due(tx.ts);
      if (due.length) {
        if (pending.length) flush();
        this.applyLabelsSync(due);
      }
      pending.push(tx);
      if (label) arrivals.add(label, tx);
      if (pending.length >= batch) flush();
    }
    if (pending.length) flush();
    return out;
  }

  applyLabels(labels: readonly Label[]): Promise<number> {
    return Promise.resolve(this.applyLabelsSync(labels));
  }

  /** Counts fraud labels into the label-risk features; returns how many counted (first fraud label of a transaction). */
  applyLabelsSync(labels: readonly Label[]): number {
    let n = 0;
    for (const label of labels) {
      if (!countsForRisk(label) || this.fraudCounted.has(label.txId)) continue;
      this.fraudCounted.add(label.txId);
      const states = this.compiled.labelKeysOf(label).map((k) => (k === null ? undefined : this.entity(k)));
      this.compiled.applyFraudLabel(label, states, this.global);
      n++;
    }
    return n;
  }

  history(cardId: string, k: number, beforeTs?: number): Promise<FeatureVector[]> {
    const h = this.cards.get(cardId)?.history ?? [];
    return Promise.resolve(lastBefore(h, k, beforeTs).map((e) => Float64Array.from(e.vector)));
  }

  get cardCount(): number {
    return this.cards.size;
  }

  /** Fraud labels counted so far (one per transaction). */
  get labelsCounted(): number {
    return this.fraudCounted.size;
  }

  get entityCount(): number {
    return this.entityStates.size;
  }

  /** An entity's state by its key (`merchant:M1`, `*:*` for the global one); undefined when never seen. */
  peekEntity(key: string): EntityState | undefined {
    return key === GLOBAL_ENTITY ? this.global : this.entityStates.get(key);
  }

  peekCard(cardId: string): Promise<CardState | undefined> {
    return Promise.resolve(this.cards.get(cardId)?.state);
  }

  peekEntities(keys: readonly string[]): Promise<Map<string, EntityState>> {
    const out = new Map<string, EntityState>();
    for (const k of keys) {
      const s = this.peekEntity(k);
      if (s) out.set(k, s);
    }
    return Promise.resolve(out);
  }

  private answerWithoutApplying(cardId: string, tx: Transaction): Float64Array {
    return vectorWithoutApplying(this.entry(cardId).state, tx, this.ctx, this.access, (k) => this.entityStates.get(k));
  }

  private entity(key: string): EntityState {
    let s = this.entityStates.get(key);
    if (!s) {
      s = emptyEntityState();
      this.entityStates.set(key, s);
    }
    return s;
  }

  private entry(cardId: string): CardEntry {
    let e = this.cards.get(cardId);
    if (!e) {
      e = { state: emptyCardState(), history: [] };
      this.cards.set(cardId, e);
    }
    return e;
  }
}
