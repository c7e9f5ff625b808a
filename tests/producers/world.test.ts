import { describe, expect, it } from 'vitest';
import { TransactionSchema, LabelSchema, type Label, type Transaction } from '../../core/contracts.ts';
import { UserInputError } from '../../core/errors.ts';
import { mccRisk } from '../../detectors/reference/merchant-categories.ts';
import { haversineKm } from '../../detectors/pure/geo.ts';
import { CITIES, generateStream, SCENARIO_NAMES, SCENARIOS, World, type ScenarioName, type WorldOptions } from '../../producers/world/index.ts';

function collect(opts: WorldOptions): Array<{ tx: Transaction; label: Label | null }> {
  return [...generateStream(opts)];
}

const serial = (events: Array<{ tx: Transaction; label: Label | null }>) => events.map((e) => JSON.stringify(e)).join('\n');

// One long-span world shared by the rate and signature tests: 400 cards make ~700 tx a day, so 30k events cover ~40 days.
const RATE = 0.01;
const big = collect({ seed: 11, events: 100_000, cards: 400, merchants: 300, rates: Object.fromEntries(SCENARIO_NAMES.map((s) => [s, RATE])) });

describe('world determinism', () => {
  it('gives byte-identical output for the same seed and flags', () => {
    const opts: WorldOptions = { seed: 42, events: 4000, cards: 300, merchants: 200, drift: true, fraudRate: 0.05 };
    expect(serial(collect(opts))).toBe(serial(collect(opts)));
  });

  it('gives a different stream for a different seed', () => {
    const a = collect({ seed: 1, events: 500, cards: 100, merchants: 100 });
    const b = collect({ seed: 2, events: 500, cards: 100, merchants: 100 });
    expect(serial(a)).not.toBe(serial(b));
  });

  it('does not change the transactions when only the negative-label share changes', () => {
    const a = collect({ seed: 5, events: 2000, cards: 200, merchants: 100, legitLabelShare: 1 });
    const b = collect({ seed: 5, events: 2000, cards: 200, merchants: 100, legitLabelShare: 0.2 });
    expect(a.map((e) => JSON.stringify(e.tx))).toEqual(b.map((e) => JSON.stringify(e.tx)));
  });
});

describe('world stream', () => {
  it('is in time order, with unique ids, and produces exactly `events` transactions', () => {
    expect(big).toHaveLength(100_000);
    for (let i = 1; i < big.length; i++) expect(big[i]!.tx.ts).toBeGreaterThanOrEqual(big[i - 1]!.tx.ts);
    expect(new Set(big.map((e) => e.tx.txId)).size).toBe(big.length);
  });

  it('never carries ground truth inside a transaction (strict schema: no extra fields)', () => {
    const strict = TransactionSchema.strict();
    const bad = big.filter(({ tx }) => !strict.safeParse(tx).success || 'isFraud' in tx || 'scenario' in tx || 'label' in tx);
    expect(bad.map((e) => e.tx)).toEqual([]);
  });

  it('labels every fraud transaction after a chargeback delay, and legit ones too by default', () => {
    const bad = big.filter(({ tx, label }) => {
      if (label === null || !LabelSchema.safeParse(label).success) return true;
      if (label.txId !== tx.txId || label.cardId !== tx.cardId || label.source !== 'chargeback' || label.labeledAt <= tx.ts) return true;
      return label.isFraud ? !(SCENARIO_NAMES as readonly (string | null)[]).includes(label.scenario) : label.scenario !== null;
    });
    expect(bad).toEqual([]);
    expect(big.some((e) => e.label?.isFraud)).toBe(true);
  });

  it('labels only the configured share of legitimate transactions', () => {
    const events = collect({ seed: 8, events: 5000, cards: 300, merchants: 150, legitLabelShare: 0.3 });
    const legit = events.filter((e) => e.label?.isFraud !== true);
    const labelled = legit.filter((e) => e.label !== null).length / legit.length;
    expect(labelled).toBeGreaterThan(0.27);
    expect(labelled).toBeLessThan(0.33);
    for (const e of events.filter((x) => x.label?.isFraud)) expect(e.label).not.toBeNull();
  });
});

describe('fraud scenarios', () => {
  const byScenario = new Map<ScenarioName, Array<{ tx: Transaction; label: Label | null }>>();
  for (const e of big) if (e.label?.isFraud) byScenario.set(e.label.scenario as ScenarioName, [...(byScenario.get(e.label.scenario as ScenarioName) ?? []), e]);

  it.each(SCENARIO_NAMES)('%s appears at its configured rate (within 20%%)', (name) => {
    const share = (byScenario.get(name)?.length ?? 0) / big.length;
    expect(share).toBeGreaterThan(RATE * 0.8);
    expect(share).toBeLessThan(RATE * 1.2);
  });

  it('runs only the included scenarios and never the excluded ones', () => {
    const only = collect({ seed: 3, events: 6000, cards: 200, merchants: 150, include: ['card_testing', 'bust_out'], exclude: ['bust_out'], fraudRate: 0.05 });
    const seen = new Set(only.filter((e) => e.label?.isFraud).map((e) => e.label!.scenario));
    expect([...seen]).toEqual(['card_testing']);
  });

  it('marks exactly the novel scenario as novel, and every scenario has a description', () => {
    expect(SCENARIOS.map((s) => s.name)).toEqual([...SCENARIO_NAMES]);
    expect(SCENARIOS.filter((s) => s.novel).map((s) => s.name)).toEqual(['novel_night_atm_cashout']);
    for (const s of SCENARIOS) expect(s.description.length).toBeGreaterThan(20);
  });

  // Each scenario must leave the trace a feature module can learn from.
  const history = new Map<string, Transaction[]>();
  const context = new Map<string, { prev: Transaction | undefined; devices: Set<string>; amounts: number[] }>();
  for (const { tx } of big) {
    const h = history.get(tx.cardId) ?? [];
    context.set(tx.txId, { prev: h[h.length - 1], devices: new Set(h.map((t) => t.deviceId).filter((d): d is string => d !== null)), amounts: h.map((t) => t.amountMinor) });
    h.push(tx);
    history.set(tx.cardId, h);
  }
  const txs = (s: ScenarioName) => (byScenario.get(s) ?? []).map((e) => e.tx);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

  it('card testing is bursts of tiny e-commerce authorisations', () => {
    const t = txs('card_testing');
    expect(t.every((x) => x.channel === 'ecommerce')).toBe(true);
    expect(t.filter((x) => x.amountMinor <= 300).length / t.length).toBeGreaterThan(0.85);
    const quick = t.filter((x) => {
      const prev = context.get(x.txId)!.prev;
      return prev !== undefined && x.ts - prev.ts < 5 * 60_000;
    });
    expect(quick.length / t.length).toBeGreaterThan(0.7);
  });

  it('account takeover uses a device the card never used, mostly abroad', () => {
    const t = txs('account_takeover');
    expect(t.every((x) => x.deviceId !== null)).toBe(true);
    const firstOfDevice = t.filter((x) => !context.get(x.txId)!.devices.has(x.deviceId!) || t.some((y) => y.deviceId === x.deviceId && y.ts < x.ts));
    expect(firstOfDevice.length).toBe(t.length);
  });

  it('impossible travel is faster than any plane from the previous use', () => {
    const t = txs('impossible_travel');
    const fast = t.filter((x) => {
      const prev = context.get(x.txId)!.prev;
      if (!prev) return false;
      const hours = Math.max(1 / 60, (x.ts - prev.ts) / 3_600_000);
      return haversineKm(prev.lat, prev.lon, x.lat, x.lon) / hours > 900;
    });
    expect(fast.length / t.length).toBeGreaterThan(0.6);
    expect(t.every((x) => x.channel !== 'ecommerce')).toBe(true);
  });

  it('high-amount outliers are many times the card’s usual amount', () => {
    const t = txs('high_amount_outlier');
    const big5 = t.filter((x) => {
      const prev = context.get(x.txId)!.amounts;
      return prev.length >= 3 && x.amountMinor > 5 * median(prev);
    });
    expect(big5.length / t.filter((x) => context.get(x.txId)!.amounts.length >= 3).length).toBeGreaterThan(0.8);
  });

  it('bust-out spends far more than the card’s usual amounts', () => {
    const t = txs('bust_out');
    const overspend = t.filter((x) => x.amountMinor > 2 * median(context.get(x.txId)!.amounts.concat(4000)));
    expect(overspend.length / t.length).toBeGreaterThan(0.6);
  });

  it('the novel scenario is night-time round ATM withdrawals', () => {
    const t = txs('novel_night_atm_cashout');
    for (const x of t) {
      expect(x.channel).toBe('atm');
      expect(x.amountMinor % 5000).toBe(0);
      const city = CITIES.find((c) => c.country === x.country && haversineKm(c.lat, c.lon, x.lat, x.lon) < 50)!;
      const hour = new Date(x.ts + city.tz * 3_600_000).getUTCHours();
      expect(hour).toBeGreaterThanOrEqual(2);
      expect(hour).toBeLessThan(5);
    }
  });

  it('compromised-merchant fraud is many different cards at one merchant over more than a week, at near-usual amounts', () => {
    const t = txs('compromised_merchant');
    const byMerchant = new Map<string, Transaction[]>();
    for (const x of t) byMerchant.set(x.merchantId, [...(byMerchant.get(x.merchantId) ?? []), x]);
    // breaches that had their whole 2-4 weeks inside the world (the world stops; a later breach is cut short)
    const end = big[big.length - 1]!.tx.ts;
    const breaches = [...byMerchant.values()].filter((xs) => xs.length >= 10 && Math.min(...xs.map((x) => x.ts)) < end - 30 * 86_400_000);
    expect(breaches.length).toBeGreaterThan(0);
    for (const xs of breaches) {
      expect(new Set(xs.map((x) => x.cardId)).size / xs.length).toBeGreaterThan(0.8);
      const ts = xs.map((x) => x.ts);
      expect(Math.max(...ts) - Math.min(...ts)).toBeGreaterThan(7 * 86_400_000);
    }
    // nothing in the single transaction shouts: amounts stay within a few times the card's usual
    const near = t.filter((x) => x.amountMinor < 4 * median(context.get(x.txId)!.amounts.concat(4000)));
    expect(near.length / t.length).toBeGreaterThan(0.8);
  });
});

describe('world options and controls', () => {
  it('drift raises legitimate spend and online share after the switch', () => {
    const events = collect({ seed: 9, events: 20_000, cards: 400, merchants: 300, drift: true, fraudRate: 0 });
    const mean = (xs: Transaction[]) => xs.reduce((s, x) => s + x.amountMinor, 0) / xs.length;
    const online = (xs: Transaction[]) => xs.filter((x) => x.channel === 'ecommerce').length / xs.length;
    const before = events.slice(0, 10_000).map((e) => e.tx);
    const after = events.slice(10_000).map((e) => e.tx);
    expect(mean(after)).toBeGreaterThan(mean(before) * 1.1);
    expect(online(after)).toBeGreaterThan(online(before) + 0.03);
  });

  it('inject schedules attacks now, on top of the rates', () => {
    const w = new World({ seed: 4, events: 5000, cards: 200, merchants: 150, fraudRate: 0 });
    for (let i = 0; i < 100; i++) w.next();
    const scheduled = w.inject('card_testing', 2);
    expect(scheduled).toBeGreaterThanOrEqual(10);
    while (w.next());
    expect(w.fraudCounts().card_testing).toBe(scheduled);
    expect(() => w.inject('nope', 1)).toThrow(/unknown scenario "nope"/);
  });

  it('a card-testing episode keeps its length in a small world that sells only some testing categories online', () => {
    // 100 merchants leave some of the testing categories without an online merchant for several seeds.
    for (let seed = 1; seed <= 40; seed++) {
      const w = new World({ seed, events: 1000, cards: 200, merchants: 100, fraudRate: 0 });
      for (let i = 0; i < 50; i++) w.next();
      for (let e = 0; e < 5; e++) expect(w.inject('card_testing', 1), `seed ${seed}`).toBeGreaterThanOrEqual(5);
    }
  });

  it('rejects bad options naming the option', () => {
    expect(() => new World({ seed: 1, events: 10, cards: 3 })).toThrow(UserInputError);
    expect(() => new World({ seed: 1, events: 10, cards: 3 })).toThrow(/cards/);
    expect(() => new World({ seed: -1, events: 10 })).toThrow(/seed/);
    expect(() => new World({ seed: 1, events: 10, rates: { card_testing: 0.4, bust_out: 0.4 } })).toThrow(/50%/);
  });

  it('merchant risk comes from the category alone', () => {
    expect(mccRisk('6051')).toBeGreaterThan(mccRisk('5411'));
    expect(mccRisk('7995')).toBeGreaterThan(0.5);
    expect(mccRisk('0000')).toBe(0.3);
    const w = new World({ seed: 1, events: 0, cards: 10, merchants: 60 });
    for (const m of w.merchants()) expect(m.risk).toBe(mccRisk(m.mcc));
  });
});
