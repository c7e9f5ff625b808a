/**
 * A card with a steady month and one transaction that breaks it (explain against normal, issue 21 item 2): the unit,
 * Redis and browser tests of the baseline all replay this one world, so they explain the same case.
 *
 * card A: 30 days (`days`), one purchase a day between 10:00 and 17:00 UTC at three shops in FR, 15 to 25 EUR, its own device.
 * merchant B (the breached one): 40 purchases by other cards over the same days, 6 of them later labelled fraud
 * (chargebacks 3 days after each); 400 ordinary purchases elsewhere; device X: used by 3 other cards in the week before.
 * The flagged transaction: day 31 at 03:00 UTC, 300 EUR, card A at merchant B, in DE, on device X. Two ordinary
 * purchases of card A follow it (the baseline must not move with them).
 */
import type { Decision, Label, Transaction } from '../../core/contracts.ts';

export const DEFAULT_START = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const HOUR = 3_600_000;

export interface BaselineWorld {
  /** Every transaction in time order (the flagged one included). */
  txs: Transaction[];
  labels: Label[];
  flagged: Transaction;
  /** The card's decisions as the search index would hold them (ALLOW for the ordinary ones). */
  cardDecisions: Decision[];
}

export function baselineWorld(opts: { run?: string; merchantName?: string; shopName?: string; start?: number; days?: number } = {}): BaselineWorld {
  const days = opts.days ?? 30;
  const run = opts.run ?? 'w';
  const WORLD_START = opts.start ?? DEFAULT_START;
  const card = `card-A-${run}`;
  const breach = `m-B-${run}`;
  const shops = [
    [`m-bakery-${run}`, opts.shopName ?? 'Boulangerie du Coin'],
    [`m-grocer-${run}`, 'Epicerie Martin'],
    [`m-cafe-${run}`, 'Cafe de la Gare'],
  ] as const;
  const base = (over: Partial<Transaction> & Pick<Transaction, 'txId' | 'cardId' | 'ts'>): Transaction => ({
    merchantId: shops[0][0],
    merchantName: shops[0][1],
    mcc: '5411',
    amountMinor: 2000,
    currency: 'EUR',
    channel: 'card_present',
    country: 'FR',
    lat: 48.85,
    lon: 2.35,
    deviceId: `dev-A-${run}`,
    ...over,
  });
  const txs: Transaction[] = [];
  const labels: Label[] = [];
  for (let d = 0; d < days; d++) {
    const [merchantId, merchantName] = shops[d % 3];
    txs.push(base({ txId: `a-${run}-${d}`, cardId: card, ts: WORLD_START + d * DAY + (10 + (d % 8)) * HOUR, merchantId, merchantName, amountMinor: 1500 + ((d * 337) % 1000) }));
  }
  for (let i = 0; i < 40; i++) {
    const ts = WORLD_START + Math.floor((i * days) / 40) * DAY + 12 * HOUR + i * 60_000;
    const t = base({ txId: `b-${run}-${i}`, cardId: `card-o-${run}-${i}`, ts, merchantId: breach, merchantName: opts.merchantName ?? 'Electro Discount', mcc: '5732', amountMinor: 4000 + i * 50, deviceId: null });
    txs.push(t);
    if (i % 7 === 3 && i < 40) labels.push({ txId: t.txId, cardId: t.cardId, isFraud: true, scenario: 'breach', source: 'chargeback', labeledAt: ts + 3 * DAY, merchantId: breach, txTs: ts });
  }
  // everyone else: 400 ordinary purchases at 20 other shops, so the global fraud rate is a world's, not one merchant's
  for (let i = 0; i < 400; i++) {
    txs.push(base({ txId: `g-${run}-${i}`, cardId: `card-g-${run}-${i % 50}`, ts: WORLD_START + Math.floor((i * days) / 400) * DAY + 9 * HOUR + i * 60_000, merchantId: `m-g-${run}-${i % 20}`, merchantName: `Shop ${i % 20}`, amountMinor: 1000 + i * 10, deviceId: null }));
  }
  const flaggedTs = WORLD_START + days * DAY + 3 * HOUR;
  for (let i = 0; i < 3; i++) txs.push(base({ txId: `x-${run}-${i}`, cardId: `card-x-${run}-${i}`, ts: flaggedTs - (i + 1) * DAY, merchantId: shops[1][0], merchantName: shops[1][1], deviceId: `dev-X-${run}` }));
  const flagged = base({ txId: `f-${run}`, cardId: card, ts: flaggedTs, merchantId: breach, merchantName: opts.merchantName ?? 'Electro Discount', mcc: '5732', amountMinor: 30_000, country: 'DE', lat: 52.52, lon: 13.4, deviceId: `dev-X-${run}`, channel: 'ecommerce' });
  txs.push(flagged);
  for (let i = 0; i < 2; i++) txs.push(base({ txId: `l-${run}-${i}`, cardId: card, ts: flaggedTs + (i + 1) * 6 * HOUR, amountMinor: 1800 }));
  txs.sort((a, b) => a.ts - b.ts || a.txId.localeCompare(b.txId));
  const cardDecisions = txs
    .filter((t) => t.cardId === card)
    .map((t): Decision => ({
      decisionId: `d-${t.txId}`,
      txId: t.txId,
      cardId: t.cardId,
      action: t === flagged ? 'REVIEW' : 'ALLOW',
      stage: t === flagged ? 'escalate' : 'detect',
      final: t !== flagged,
      reason: 'test',
      scores: {},
      rulesFired: [],
      topFeatures: [],
      versions: { model: 'v1', policy: 1 },
      timings: {},
      decidedAt: t.ts + 50,
      tx: t,
    }));
  return { txs, labels, flagged, cardDecisions };
}
