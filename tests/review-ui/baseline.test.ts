/** Explain against normal (issue 21 item 2), pure: the baseline read from the memory feature store after a replay. */
import { describe, expect, it } from 'vitest';
import { MemoryFeatureStore } from '../../detectors/feature-store/memory.ts';
import { FEATURE_NAMES } from '../../detectors/pure/features.ts';
import { DEFAULT_FEATURE_SPEC } from '../../detectors/pure/feature-spec.ts';
import type { Decision } from '../../core/contracts.ts';
import { baselineKeys, caseBaseline, medianAmount, type CaseBaseline } from '../../review-ui/server/pure/baseline.ts';
import { baselineWorld, type BaselineWorld } from '../helpers/baseline-world.ts';

async function explain(world: BaselineWorld, upTo = world.txs.length, decisions = world.cardDecisions): Promise<CaseBaseline> {
  const store = new MemoryFeatureStore();
  const labelOf = new Map(world.labels.map((l) => [l.txId, l]));
  const txs = world.txs.slice(0, upTo);
  const vectors = store.replayEvents(txs.map((tx) => ({ tx, label: labelOf.get(tx.txId) ?? null })));
  const at = world.txs.indexOf(world.flagged);
  const features = Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, vectors[at]![i]!]));
  const now = world.flagged.ts + 3_600_000;
  return caseBaseline({
    tx: world.flagged,
    features,
    spec: DEFAULT_FEATURE_SPEC,
    card: await store.peekCard(world.flagged.cardId),
    entities: await store.peekEntities(baselineKeys(DEFAULT_FEATURE_SPEC, world.flagged)),
    decisions,
    now,
  });
}

const text = (b: CaseBaseline, id: string) => b.findings.find((f) => f.id === id);

describe('a case explained against the card\'s normal', () => {
  const world = baselineWorld();

  it('compares the amount with the card\'s median amount from the search index, and gives the geometric mean and spread from the store', async () => {
    const b = await explain(world);
    // 30 earlier amounts of 15.00 to 24.99 EUR in the index: the median is theirs exactly; 300 EUR is about 15x it.
    const earlier = world.txs.filter((t) => t.cardId === world.flagged.cardId && t.ts < world.flagged.ts).map((t) => t.amountMinor).sort((x, y) => x - y);
    expect(earlier).toHaveLength(30);
    const median = (earlier[14]! + earlier[15]!) / 2;
    expect(b.amount).toMatchObject({ typical: 'median', typicalMinor: median, median: { minor: median, n: 30 }, source: 'store', n: 32, later: 2 });
    expect(b.amount!.ratio).toBeCloseTo(30_000 / median, 9);
    // the log-amount statistics still take in every other transaction the store saw, later ones included, this one out
    const logs = world.txs.filter((t) => t.cardId === world.flagged.cardId && t !== world.flagged).map((t) => Math.log1p(t.amountMinor / 100));
    const mean = logs.reduce((a, c) => a + c, 0) / logs.length;
    expect(b.amount!.geoMeanMinor).toBeCloseTo(Math.expm1(mean) * 100, 6);
    expect(b.amount!.geoMeanMinor).not.toBeCloseTo(median, 0);
    const amount = text(b, 'amount.typical')!;
    expect(amount.level).toBe('unusual');
    expect(amount.text).toBe(
      `Amount 300.00 EUR is ${Math.round(30_000 / median)}x the card's median amount (${(median / 100).toFixed(2)} EUR, the median of its 30 earlier transactions in the search index over the 30 days before); ` +
        `geometric mean ${(Math.expm1(mean)).toFixed(2)} EUR over 32 other transactions, 2 of them after this one, usually ${(b.amount!.lowMinor! / 100).toFixed(2)} EUR to ${(b.amount!.highMinor! / 100).toFixed(2)} EUR; ${b.amount!.z!.toFixed(1)} spreads above its mean (in log amount).`,
    );
    // the 30-day profile stops the day before: the two later purchases are not in it
    expect(b.entities.find((e) => e.entity === 'card')).toMatchObject({ days: 30, activeDays: 30, count: 30 });
    expect(text(b, 'amount.largest')).toMatchObject({ level: 'unusual' });
    const largest = Math.max(...world.txs.filter((t) => t.cardId === world.flagged.cardId && t.ts < world.flagged.ts).map((t) => t.amountMinor));
    expect(text(b, 'amount.largest')!.text).toBe(`Larger than any of the card's 30 transactions in the 30 days before (largest ${(largest / 100).toFixed(2)} EUR: this is 13x it).`);
  });

  it('without 5 earlier amounts in the index, names the geometric mean as what it is and says why there is no median', async () => {
    const b = await explain(world, undefined, world.cardDecisions.slice(0, 4));
    expect(b.amount).toMatchObject({ typical: 'geometric_mean', median: null, n: 32 });
    expect(b.amount!.typicalMinor).toBe(b.amount!.geoMeanMinor);
    expect(text(b, 'amount.typical')!.text).toMatch(/^Amount 300\.00 EUR is 1[3-6]x the card's geometric mean amount \(\d+\.\d\d EUR over 32 other transactions, 2 of them after this one, usually \d+\.\d\d EUR to \d+\.\d\d EUR\); \d+\.\d spreads above its mean/);
    expect(b.notes).toContain('median amount: 4 earlier transactions of this card in EUR in the search index (5 needed); the geometric mean stands in');
  });

  it('takes the median of one amount per transaction, in the transaction\'s currency, the middle two averaged', () => {
    const d = (txId: string, amountMinor: number, currency = 'EUR') => ({ txId, tx: { amountMinor, currency } }) as unknown as Decision;
    expect(medianAmount([d('a', 100), d('b', 900), d('c', 300), d('d', 200), d('e', 5000)], 'EUR')).toEqual({ minor: 300, n: 5 });
    expect(medianAmount([d('a', 100), d('b', 900), d('c', 300), d('d', 200), d('e', 5000), d('f', 400)], 'EUR')).toEqual({ minor: 350, n: 6 });
    // a row seen twice (a REVIEW then its verdict) counts once; another currency is not compared
    expect(medianAmount([d('a', 100), d('a', 100), d('b', 900), d('c', 300), d('d', 200), d('x', 1, 'USD')], 'EUR')).toBeNull();
  });

  it('says it is the first time at this merchant and gives the merchant\'s fraud rate from the labels that have arrived', async () => {
    const b = await explain(world);
    const first = text(b, 'merchant.first')!;
    expect(first.level).toBe('notable');
    expect(first.text).toBe('First time at this merchant for this card (not among its 32 most recent merchants); it usually buys at Boulangerie du Coin (10), Cafe de la Gare (10), Epicerie Martin (10).');
    // 40 purchases at the merchant in the 30 days before, 6 of them labelled fraud; the sixth chargeback arrives a
    // day after the case is read, so 5 count
    expect(world.labels).toHaveLength(6);
    expect(b.entities.find((e) => e.entity === 'merchant')).toMatchObject({ count: 40, fraudLabels: 5 });
    const rate = text(b, 'merchant.fraud_rate')!;
    expect(rate.level).toBe('unusual');
    expect(rate.text).toMatch(/^Merchant's fraud rate over the 30 days before: 12\.5% \(5 fraud labels among 40 transactions, labels arrived by now\); all merchants \d+\.\d%\.$/);
  });

  it('flags the new foreign country, the unusual hour, the shared device and the velocity against the card\'s month', async () => {
    const b = await explain(world);
    expect(text(b, 'card.country')).toMatchObject({ level: 'unusual', text: 'First transaction in DE for this card (its recent countries: FR), outside its home country FR.' });
    expect(text(b, 'card.hour')).toMatchObject({ level: 'notable' });
    expect(text(b, 'card.hour')!.text).toBe("At 03:00 UTC: none of the card's 30 earlier transactions in the last 30 days was within an hour of that (its hours: 10:00, 11:00, 12:00, 13:00, 14:00, 15:00, 16:00, 17:00 UTC).");
    expect(text(b, 'device.cards')).toMatchObject({ level: 'unusual', text: 'This device was used by 3 cards in the 7 days before (one card per device is normal).' });
    expect(text(b, 'device.new')?.level).toBe('notable');
    expect(text(b, 'card.first_seen')!.text).toBe('Card first seen 30 days before this transaction, with 30 transactions since.');
    expect(text(b, 'card.velocity')!.level).toBe('usual');
    // unusual first, then notable, then usual
    const order = b.findings.map((f) => f.level);
    expect([...order].sort((x, y) => ['unusual', 'notable', 'usual'].indexOf(x) - ['unusual', 'notable', 'usual'].indexOf(y))).toEqual(order);
  });

  it('counts only labels that have arrived when the case is read', async () => {
    const early = baselineWorld({ run: 'early' });
    // every chargeback arrives a year late: at the time of reading none has arrived
    for (const l of early.labels) l.labeledAt += 365 * 86_400_000;
    const b = await explain(early);
    expect(b.entities.find((e) => e.entity === 'merchant')).toMatchObject({ count: 40, fraudLabels: 0 });
    expect(text(b, 'merchant.fraud_rate')!.level).toBe('usual');
  });

  it('falls back to the vector at decision time when the store has no card, and says so', async () => {
    const b = await explain(world);
    const store = new MemoryFeatureStore();
    const again = caseBaseline({ tx: world.flagged, features: Object.fromEntries(FEATURE_NAMES.map((n) => [n, 0])), spec: DEFAULT_FEATURE_SPEC, card: undefined, entities: await store.peekEntities([]), decisions: [], now: world.flagged.ts });
    expect(again.amount).toBeNull();
    expect(again.notes.join(' ')).toContain('the feature store holds no state for this card now');
    expect(again.notes.join(' ')).toContain('0 earlier decisions of this card in the search index');
    expect(b.notes).toEqual([]);
  });
});
