import type { Transaction } from '../../core/contracts.ts';
import type { FeatureStore, FeatureVector } from '../types.ts';
import { emptyCardState, type CardState } from '../pure/card-state.ts';
import { appendHistory, lastBefore, runBatch, type HistoryEntry } from '../pure/batch.ts';
import { defaultFeatureContext, featureVector, type FeatureContext } from '../pure/features.ts';

interface CardEntry {
  state: CardState;
  history: HistoryEntry[];
}

/** The offline store: card state in a Map. The trainer replays history through it in time order. */
export class MemoryFeatureStore implements FeatureStore {
  private readonly cards = new Map<string, CardEntry>();

  constructor(private readonly ctx: FeatureContext = defaultFeatureContext) {}

  computeAndApply(txs: Transaction[]): Promise<FeatureVector[]> {
    return Promise.resolve(this.computeAndApplySync(txs));
  }

  /** Synchronous form for the trainer's replay loop. */
  computeAndApplySync(txs: readonly Transaction[]): FeatureVector[] {
    const outcome = runBatch(txs, (cardId) => this.entry(cardId).state, this.ctx);
    for (const [cardId, change] of outcome.changed) appendHistory(this.entry(cardId).history, change.appended);
    for (const { index, cardId, key } of outcome.lookups) {
      const found = this.entry(cardId).history.find((e) => e.key === key);
      // Applied so long ago that its vector left the history: answer from the current state without applying.
      outcome.vectors[index] = found ? found.vector : featureVector(this.entry(cardId).state, txs[index], this.ctx);
    }
    return outcome.vectors.map((v) => Float64Array.from(v as Float64Array));
  }

  history(cardId: string, k: number, beforeTs?: number): Promise<FeatureVector[]> {
    const h = this.cards.get(cardId)?.history ?? [];
    return Promise.resolve(lastBefore(h, k, beforeTs).map((e) => Float64Array.from(e.vector)));
  }

  get cardCount(): number {
    return this.cards.size;
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
