import type { Transaction } from '../../core/contracts.ts';

/** Small, valid transactions for tests that need traffic but not a believable world (producers/ makes that). */
export function testTransactions(n: number, opts: { cards?: number; startTs?: number; prefix?: string } = {}): Transaction[] {
  const cards = opts.cards ?? 50;
  const start = opts.startTs ?? 1_767_225_600_000;
  const prefix = opts.prefix ?? 'tx';
  return Array.from({ length: n }, (_, i) => ({
    txId: `${prefix}-${i}`,
    cardId: `card-${i % cards}`,
    merchantId: `m-${i % 37}`,
    merchantName: `Merchant ${i % 37}`,
    mcc: i % 5 === 0 ? '5999' : '5411',
    amountMinor: 500 + ((i * 7919) % 20_000),
    currency: 'EUR',
    ts: start + i * 1_000,
    channel: i % 3 === 0 ? 'ecommerce' : 'card_present',
    country: 'FR',
    lat: 48.85,
    lon: 2.35,
    deviceId: i % 3 === 0 ? `dev-${i % cards}` : null,
  }));
}
