/**
 * The entity part of a feature vector, read from entity states as they were before the transaction, and the
 * updates a transaction or a fraud label makes. Both stores call these (memory directly; Redis through the same
 * functions on its batch copy, and Lua that mirrors them on the server).
 */
import type { Label, Transaction } from '../../core/contracts.ts';
import { DAY_MS, entityFeatureNames, fieldValue, globalRetentionDays, retentionDays, type EntitySpec, type FeatureSpec } from './feature-spec.ts';
import { applyFraudLabel, applyTx, dayOf, distinctSince, type EntityState, type WindowTotals, windowTotals } from './entity-state.ts';
import { hash32 } from './hash.ts';

/** The global entity: every transaction and every fraud label, the prior of risk rates. */
export const GLOBAL_ENTITY = '*:*';

export const entityKeyOf = (e: EntitySpec, id: string): string => `${e.name}:${id}`;

/** A spec compiled once: names, retention per entity, and the keys a transaction or label touches. */
export class CompiledSpec {
  readonly names: readonly string[];
  readonly width: number;
  readonly retention: number[];
  readonly globalRetention: number;
  private readonly prior: WindowTotals = { count: 0, sum: 0, max: 0, fraud: 0 };

  /** Per entity, per window: the totals write() fills (reused: write is synchronous and runs per transaction). */
  private readonly plainTotals: WindowTotals[][];
  private readonly riskTotals: WindowTotals[][];

  constructor(readonly spec: FeatureSpec) {
    this.names = entityFeatureNames(spec);
    this.width = this.names.length;
    this.retention = spec.entities.map((e) => retentionDays(spec, e));
    this.globalRetention = globalRetentionDays(spec);
    const totals = (ws: readonly number[]) => ws.map((): WindowTotals => ({ count: 0, sum: 0, max: 0, fraud: 0 }));
    this.plainTotals = spec.entities.map((e) => totals(e.windowsDays));
    this.riskTotals = spec.entities.map((e) => totals(e.labelRisk?.windowsDays ?? []));
  }

  /** Entity keys of a transaction, per spec entity (null where the transaction has no such id). */
  keysOf(tx: Transaction): Array<string | null> {
    return this.spec.entities.map((e) => {
      const id = fieldValue(tx, e.field);
      return id === null ? null : entityKeyOf(e, id);
    });
  }

  /** Entity keys a fraud label counts against: label-risk entities whose id the label carries. */
  labelKeysOf(label: Label): Array<string | null> {
    return this.spec.entities.map((e) => {
      if (!e.labelRisk) return null;
      const id = e.field === 'cardId' ? (label.cardId ?? null) : e.field === 'merchantId' ? (label.merchantId ?? null) : null;
      return id === null ? null : entityKeyOf(e, id);
    });
  }

  /**
   * Writes the entity features of `tx` into `out` from `at`. `states[i]` is entity i's state (undefined = none),
   * `global` the global entity's.
   */
  write(tx: Transaction, states: ReadonlyArray<EntityState | undefined>, global: EntityState, out: Float64Array, at: number): void {
    const now = tx.ts;
    const today = dayOf(now);
    const delay = this.spec.labelDelayDays;
    let o = at;
    for (let k = 0; k < this.spec.entities.length; k++) {
      const e = this.spec.entities[k];
      const s = states[k];
      // one pass over the buckets per window, shared by every aggregate of that window
      const plain = this.plainTotals[k];
      if (s) for (let wi = 0; wi < e.windowsDays.length; wi++) windowTotals(s, today, e.windowsDays[wi], now, plain[wi]);
      for (const a of e.aggregates) {
        if (a === 'sinceLast') {
          out[o++] = s && s.lastTs > 0 ? Math.log1p(Math.max(0, now - s.lastTs) / 1000) : Math.log1p(30 * 86_400);
          continue;
        }
        for (let wi = 0; wi < e.windowsDays.length; wi++) {
          if (!s) {
            out[o++] = a === 'amountRatio' ? 1 : 0;
            continue;
          }
          if (a === 'distinct') {
            out[o++] = distinctSince(s, now, e.windowsDays[wi] * DAY_MS);
            continue;
          }
          const t = plain[wi];
          if (a === 'count') out[o++] = t.count;
          else if (a === 'sum') out[o++] = Math.log1p(t.sum / 100);
          else if (a === 'mean') out[o++] = t.count > 0 ? Math.log1p(t.sum / t.count / 100) : 0;
          else if (a === 'max') out[o++] = Math.log1p(t.max / 100);
          else out[o++] = t.count > 0 && t.sum > 0 ? tx.amountMinor / (t.sum / t.count) : 1;
        }
      }
      if (e.labelRisk) {
        const ws = e.labelRisk.windowsDays;
        const own = this.riskTotals[k];
        if (s) for (let wi = 0; wi < ws.length; wi++) windowTotals(s, today - delay, ws[wi], now, own[wi]);
        for (let wi = 0; wi < ws.length; wi++) out[o++] = s ? own[wi].fraud : 0;
        for (let wi = 0; wi < ws.length; wi++) {
          const p = windowTotals(global, today - delay, ws[wi], now, this.prior);
          const priorRate = p.count > 0 ? p.fraud / p.count : 0;
          if (!s) {
            out[o++] = priorRate;
            continue;
          }
          const t = own[wi];
          const m = this.spec.smoothing;
          out[o++] = t.count + m > 0 ? (t.fraud + m * priorRate) / (t.count + m) : priorRate;
        }
      }
    }
    const numeric = this.spec.numeric;
    if (numeric) for (let i = 0; i < numeric.length; i++) out[o++] = tx.numbers?.[numeric[i]] ?? 0;
  }

  /** Counterparty hash of `tx` for entity k (0 when the transaction has none). */
  counterpartyOf(k: number, tx: Transaction): number {
    const id = fieldValue(tx, this.spec.entities[k].counterparty);
    return id === null ? 0 : hash32(id);
  }

  /** Folds `tx` into its entities' states and the global one. */
  applyTx(tx: Transaction, states: ReadonlyArray<EntityState | undefined>, global: EntityState): void {
    for (let k = 0; k < states.length; k++) {
      const s = states[k];
      if (s) applyTx(s, tx.ts, tx.amountMinor, this.counterpartyOf(k, tx), this.retention[k]);
    }
    applyTx(global, tx.ts, tx.amountMinor, 0, this.globalRetention);
  }

  /** Counts a fraud label (the first for its transaction) on its entities and the global one. */
  applyFraudLabel(label: Label, states: ReadonlyArray<EntityState | undefined>, global: EntityState): void {
    const txTs = label.txTs as number;
    for (let k = 0; k < states.length; k++) {
      const s = states[k];
      if (s) applyFraudLabel(s, txTs, label.labeledAt, this.retention[k]);
    }
    applyFraudLabel(global, txTs, label.labeledAt, this.globalRetention);
  }
}

/** A label feeds risk features only when it says fraud and carries its transaction's time. */
export const countsForRisk = (label: Label): boolean => label.isFraud && label.txTs !== undefined;
