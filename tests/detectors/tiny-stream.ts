/** A tiny deterministic transaction stream for detector unit tests (the real generator lives in producers/). */
import type { Transaction } from '../../core/contracts.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';

export interface TinyItem {
  tx: Transaction;
  label: { isFraud: boolean; scenario: string | null };
}

const CITIES = [
  { country: 'FR', lat: 48.85, lon: 2.35 },
  { country: 'DE', lat: 52.52, lon: 13.4 },
  { country: 'ES', lat: 40.42, lon: -3.7 },
];
const MCCS = ['5411', '5812', '5541', '5732', '4829'];

/**
 * Legit cards shop near home; a share of events are fraud: "burst" (many small e-commerce txs on a new device)
 * or "far" (big amount abroad, far away). Enough signal for a model to learn, small enough for seconds.
 */
export function tinyStream(n: number, seed = 1, { cards = 40, fraudRate = 0.05, start = Date.UTC(2024, 0, 1) } = {}): TinyItem[] {
  const rand = mulberry32(seed);
  const out: TinyItem[] = [];
  let ts = start;
  let id = 0;
  while (out.length < n) {
    ts += Math.floor(rand() * 120_000);
    const card = Math.floor(rand() * cards);
    const home = CITIES[card % CITIES.length];
    const base = {
      cardId: `card-${card}`,
      currency: 'EUR',
      merchantName: 'Shop',
    };
    if (rand() < fraudRate) {
      const kind = rand() < 0.5 ? 'burst' : 'far';
      const count = kind === 'burst' ? 3 : 1;
      for (let k = 0; k < count && out.length < n; k++) {
        ts += 1_000 + Math.floor(rand() * 5_000);
        out.push({
          tx: {
            ...base,
            txId: `tx-${id++}`,
            merchantId: kind === 'burst' ? 'm-online-9' : `m-far-${Math.floor(rand() * 50)}`,
            mcc: kind === 'burst' ? '5816' : '4829',
            amountMinor: kind === 'burst' ? 100 + Math.floor(rand() * 200) : 150_000 + Math.floor(rand() * 300_000),
            ts,
            channel: 'ecommerce',
            country: kind === 'burst' ? home.country : 'BR',
            lat: kind === 'burst' ? home.lat : -23.55,
            lon: kind === 'burst' ? home.lon : -46.63,
            deviceId: `dev-fraud-${Math.floor(rand() * 1000)}`,
          },
          label: { isFraud: true, scenario: kind },
        });
      }
      continue;
    }
    out.push({
      tx: {
        ...base,
        txId: `tx-${id++}`,
        merchantId: `m-${card % 7}-${Math.floor(rand() * 5)}`,
        mcc: MCCS[Math.floor(rand() * 3)],
        amountMinor: 500 + Math.floor(rand() * 8_000),
        ts,
        channel: rand() < 0.8 ? 'card_present' : 'ecommerce',
        country: home.country,
        lat: home.lat + (rand() - 0.5) * 0.1,
        lon: home.lon + (rand() - 0.5) * 0.1,
        deviceId: rand() < 0.7 ? `dev-${card}` : null,
      },
      label: { isFraud: false, scenario: null },
    });
  }
  return out;
}
