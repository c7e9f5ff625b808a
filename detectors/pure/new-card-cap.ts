/**
 * The new-card cap (issue 19): card ids are chosen by whoever sends transactions, so a card-testing run with random
 * numbers would otherwise create card state (a feature hash, a customer entity, a device entity) for every number it
 * tries. A card without stored state is "new"; per minute of event time, each scope (the transaction's merchant, and
 * the first `prefixLength` characters of the card id when they are digits: a BIN-like prefix) admits at most `perMinute` new cards. A new
 * card over the cap in any scope is decided without stored state: its vector is computed from an empty card state
 * and the entity states as they are, and nothing of it is written (no card state, no entity update, no history).
 * Its next transaction is checked again (it is still new), so once the minute has room it gets state as usual.
 *
 * One definition of the rule for both stores: the memory store calls `NewCardCap.check` in arrival order; the Redis
 * store runs the Lua twin of `check` (detectors/feature-store/redis.ts NEW_CARD_LUA) on hashes
 * `feat:n:{<scope>}:<minute>` (state/features.ts). Each scope-minute remembers the cards it admitted (at most
 * `perMinute`), so asking again about the same card gives the same answer (a retried or redelivered batch is not
 * counted twice), and the memory a scope-minute holds is bounded by the cap whatever the attack's rate.
 */
import type { Transaction } from '../../core/contracts.ts';

export interface NewCardCapOptions {
  /** New cards admitted per scope per minute (0: no cap). */
  perMinute: number;
  /** Characters of the card id that make the prefix scope (0: merchant scope only). */
  prefixLength: number;
}

/** Defaults: far above a merchant's or a prefix's new cards per minute in ordinary traffic. */
export const DEFAULT_NEW_CARD_CAP: NewCardCapOptions = { perMinute: 1_000, prefixLength: 6 };

/** Why a transaction was decided without stored state: the first scope that was over the cap. */
export interface CapHit {
  scope: 'merchant' | 'prefix';
  /** The merchant id or the card prefix. */
  id: string;
  cap: number;
}

export const minuteOf = (ts: number): number => Math.floor(ts / 60_000);

/** The card's BIN-like prefix: its first prefixLength characters when they are all digits (a PAN or a token that keeps the BIN), else none. */
export function cardPrefix(cardId: string, prefixLength: number): string | undefined {
  if (prefixLength <= 0 || cardId.length < prefixLength) return undefined;
  for (let i = 0; i < prefixLength; i++) {
    const c = cardId.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return cardId.slice(0, prefixLength);
}

/** Scopes of a transaction: `m:<merchantId>` then, when the card id has a BIN-like prefix, `p:<prefix>`. */
export function capScopes(tx: Pick<Transaction, 'merchantId' | 'cardId'>, o: NewCardCapOptions): string[] {
  const p = cardPrefix(tx.cardId, o.prefixLength);
  return p === undefined ? [`m:${tx.merchantId}`] : [`m:${tx.merchantId}`, `p:${p}`];
}

/** The hit for the first scope (in capScopes order) whose answer was "over". */
export function hitOf(tx: Pick<Transaction, 'merchantId' | 'cardId'>, o: NewCardCapOptions, over: readonly boolean[]): CapHit | undefined {
  const i = over.indexOf(true);
  if (i < 0) return undefined;
  return i === 0 ? { scope: 'merchant', id: tx.merchantId, cap: o.perMinute } : { scope: 'prefix', id: cardPrefix(tx.cardId, o.prefixLength) ?? '', cap: o.perMinute };
}

/** Minutes of event time a scope-minute is kept behind the newest minute seen (the Redis hashes: 180 s). */
const KEEP_MINUTES = 3;

/** The memory store's counters: per scope-minute the cards it admitted. */
export class NewCardCap {
  private readonly admitted = new Map<string, Set<string>>();
  private newest = -Infinity;

  constructor(readonly o: NewCardCapOptions) {}

  get enabled(): boolean {
    return this.o.perMinute > 0;
  }

  /** Asks about a new card's transaction; undefined: admitted (it may get state). Records the admission. */
  check(tx: Pick<Transaction, 'merchantId' | 'cardId' | 'ts'>): CapHit | undefined {
    if (!this.enabled) return undefined;
    const minute = minuteOf(tx.ts);
    if (minute > this.newest) {
      this.newest = minute;
      for (const [k, _] of this.admitted) if (Number(k.slice(k.lastIndexOf('|') + 1)) < minute - KEEP_MINUTES) this.admitted.delete(k);
    }
    const over = capScopes(tx, this.o).map((scope) => {
      const key = `${scope}|${minute}`;
      let set = this.admitted.get(key);
      if (!set) this.admitted.set(key, (set = new Set()));
      if (set.has(tx.cardId)) return false;
      if (set.size >= this.o.perMinute) return true;
      set.add(tx.cardId);
      return false;
    });
    return hitOf(tx, this.o, over);
  }

  /** Scope-minutes held now (a test reads it). */
  get size(): number {
    return this.admitted.size;
  }
}

export const NEW_CARD_CAP_RULE = 'new-card-cap';

/** The rule hit a decision carries when its features were computed without stored state. */
export function capRuleHit(hit: CapHit): { id: string; description: string; effect: 'info'; value: string; threshold: number } {
  return {
    id: NEW_CARD_CAP_RULE,
    description: `new cards this minute over the cap at ${hit.scope === 'merchant' ? 'merchant' : 'card prefix'} ${hit.id}: features from an empty card state, nothing stored`,
    effect: 'info',
    value: `${hit.scope} ${hit.id}`,
    threshold: hit.cap,
  };
}
