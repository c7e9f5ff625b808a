/** The new-card cap (issue 19), with event time as the clock: the rule itself, then the memory store keeping to it. */
import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../core/contracts.ts';
import { MemoryFeatureStore } from '../../detectors/features.ts';
import { capRuleHit, capScopes, cardPrefix, NewCardCap } from '../../detectors/pure/new-card-cap.ts';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

function tx(i: number, over: Partial<Transaction> = {}): Transaction {
  return {
    txId: `t${i}`, cardId: `c${i}`, merchantId: 'M1', merchantName: 'M', mcc: '5411', amountMinor: 1000 + i, currency: 'EUR',
    ts: T0 + i * 1000, channel: 'ecommerce', country: 'FR', lat: 48.8, lon: 2.3, deviceId: `d${i}`, ...over,
  };
}

describe('NewCardCap (fake clock: the transactions\' event time)', () => {
  it('admits the first N new cards per merchant and minute, then refuses; the next minute has room again', () => {
    const cap = new NewCardCap({ perMinute: 3, prefixLength: 6 });
    const minute0 = [1, 2, 3, 4, 5].map((i) => cap.check(tx(i)));
    expect(minute0.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(minute0[3]).toEqual({ scope: 'merchant', id: 'M1', cap: 3 });
    expect(minute0[4]).toEqual({ scope: 'merchant', id: 'M1', cap: 3 });
    // asked again (a retried batch) the answers do not change and nothing is counted twice
    expect(cap.check(tx(2))).toBeUndefined();
    expect(cap.check(tx(4))).toEqual({ scope: 'merchant', id: 'M1', cap: 3 });
    // another merchant has its own count
    expect(cap.check(tx(6, { merchantId: 'M2' }))).toBeUndefined();
    // one minute later card 4 is admitted
    expect(cap.check(tx(4, { ts: T0 + 60_000 }))).toBeUndefined();
  });

  it('counts a BIN-like prefix across merchants: only when the id starts with digits', () => {
    expect(cardPrefix('4111110000000001', 6)).toBe('411111');
    expect(cardPrefix('card-a-0000001', 6)).toBeUndefined();
    expect(capScopes({ merchantId: 'M', cardId: '4111110000000001' }, { perMinute: 1, prefixLength: 6 })).toEqual(['m:M', 'p:411111']);
    expect(capScopes({ merchantId: 'M', cardId: '4111110000000001' }, { perMinute: 1, prefixLength: 0 })).toEqual(['m:M']);
    const cap = new NewCardCap({ perMinute: 2, prefixLength: 6 });
    const hits = [0, 1, 2].map((i) => cap.check(tx(i, { cardId: `41111100000000${i}`, merchantId: `M${i}` })));
    expect(hits).toEqual([undefined, undefined, { scope: 'prefix', id: '411111', cap: 2 }]);
  });

  it('is off at 0, and forgets minutes more than 3 behind the newest', () => {
    const off = new NewCardCap({ perMinute: 0, prefixLength: 6 });
    expect(Array.from({ length: 50 }, (_, i) => off.check(tx(i))).every((h) => h === undefined)).toBe(true);
    const cap = new NewCardCap({ perMinute: 1, prefixLength: 0 });
    for (let m = 0; m < 20; m++) cap.check(tx(m, { ts: T0 + m * 60_000 }));
    expect(cap.size).toBeLessThanOrEqual(4);
  });

  it('gives a rule hit the console shows as text', () => {
    expect(capRuleHit({ scope: 'prefix', id: '411111', cap: 50 })).toEqual({
      id: 'new-card-cap', effect: 'info', value: 'prefix 411111', threshold: 50,
      description: 'new cards this minute over the cap at card prefix 411111: features from an empty card state, nothing stored',
    });
  });
});

describe('MemoryFeatureStore with the cap', () => {
  it('scores a capped card from an empty state and stores nothing of it; the card gets state once the minute has room', () => {
    const store = new MemoryFeatureStore({ newCardCap: { perMinute: 2, prefixLength: 6 } });
    const warm = store.computeAndApplySync([tx(1), tx(2)]);
    expect(warm.capped).toBeUndefined();
    const before = store.entityCount;
    const out = store.computeAndApplySync([tx(3), tx(4, { cardId: 'c3' }), tx(5)]);
    expect([...(out.capped ?? new Map()).keys()]).toEqual([0, 1, 2]);
    expect(out.capped?.get(0)).toEqual({ scope: 'merchant', id: 'M1', cap: 2 });
    expect(store.cardCount).toBe(2);
    // only the merchant and global entities existed before; no customer or device entity was created for c3/c5
    expect(store.entityCount).toBe(before);
    // the capped card's second transaction is scored as if the first had never been: from an empty card state
    const fresh = new MemoryFeatureStore({ newCardCap: { perMinute: 2, prefixLength: 6 } });
    fresh.computeAndApplySync([tx(1), tx(2)]);
    expect(Array.from(out[1]!)).toEqual(Array.from(fresh.computeAndApplySync([tx(4, { cardId: 'c3' })])[0]!));
    // next minute: admitted and stored
    const later = store.computeAndApplySync([tx(3, { txId: 't3b', ts: T0 + 61_000 })]);
    expect(later.capped).toBeUndefined();
    expect(store.cardCount).toBe(3);
  });

  it('gives the same vectors and the same capped transactions whatever the batch sizes', () => {
    const stream = Array.from({ length: 120 }, (_, i) => tx(i, { cardId: `c${i % 40}`, merchantId: `M${i % 3}`, ts: T0 + i * 700 }));
    const whole = new MemoryFeatureStore({ newCardCap: { perMinute: 5, prefixLength: 6 } });
    const a = whole.computeAndApplySync(stream);
    const split = new MemoryFeatureStore({ newCardCap: { perMinute: 5, prefixLength: 6 } });
    const b: Float64Array[] = [];
    const cappedB: number[] = [];
    for (let i = 0; i < stream.length; i += 7) {
      const part = split.computeAndApplySync(stream.slice(i, i + 7));
      for (const k of part.capped?.keys() ?? []) cappedB.push(i + k);
      b.push(...part);
    }
    expect([...(a.capped?.keys() ?? [])]).toEqual(cappedB);
    expect(cappedB.length).toBeGreaterThan(10);
    expect(b.map((v) => Array.from(v))).toEqual(a.map((v) => Array.from(v)));
  });
});
