import type { Transaction } from '../../core/contracts.ts';
import type { CardTx } from '../../state/card-history.ts';
import { haversineKm } from '../../detectors/pure/geo.ts';

export interface CardNorm {
  /** Past transactions the norm is built from (the UI's own record of the card). */
  n: number;
  amountMean: number | null;
  amountStd: number | null;
  /** How many standard deviations this amount is from the card's mean. */
  amountZ: number | null;
  countries: Record<string, number>;
  newCountry: boolean;
  newMerchant: boolean;
  newDevice: boolean;
  usualHours: number[];
  hourUsual: boolean;
}

export interface Travel {
  fromTxId: string;
  fromCountry: string;
  distanceKm: number;
  minutes: number;
  /** null when both happened in the same minute or earlier (speed undefined). */
  speedKmh: number | null;
}

const hourOf = (ts: number) => new Date(ts).getUTCHours();

/** The card's usual behaviour, from its transactions before `tx`, and how `tx` compares. */
export function cardNorm(tx: Transaction, history: readonly CardTx[]): CardNorm {
  const past = history.filter((h) => h.txId !== tx.txId && h.ts <= tx.ts);
  const amounts = past.map((h) => h.amountMinor);
  const mean = amounts.length ? amounts.reduce((a, b) => a + b, 0) / amounts.length : null;
  const std = mean !== null && amounts.length > 1 ? Math.sqrt(amounts.reduce((a, b) => a + (b - mean) ** 2, 0) / (amounts.length - 1)) : null;
  const countries: Record<string, number> = {};
  for (const h of past) countries[h.country] = (countries[h.country] ?? 0) + 1;
  const hours = [...new Set(past.map((h) => hourOf(h.ts)))].sort((a, b) => a - b);
  return {
    n: past.length,
    amountMean: mean,
    amountStd: std,
    amountZ: mean !== null && std !== null && std > 0 ? (tx.amountMinor - mean) / std : null,
    countries,
    newCountry: past.length > 0 && !past.some((h) => h.country === tx.country),
    newMerchant: past.length > 0 && !past.some((h) => h.merchantId === tx.merchantId),
    newDevice: past.length > 0 && tx.deviceId !== null && !past.some((h) => h.deviceId === tx.deviceId),
    usualHours: hours,
    hourUsual: past.length === 0 || hours.some((h) => Math.min(Math.abs(h - hourOf(tx.ts)), 24 - Math.abs(h - hourOf(tx.ts))) <= 1),
  };
}

/** Distance and implied speed from the card's previous transaction (for "impossible travel" cases). */
export function travelFromPrevious(tx: Transaction, history: readonly CardTx[]): Travel | null {
  const prev = history.filter((h) => h.txId !== tx.txId && h.ts <= tx.ts).sort((a, b) => b.ts - a.ts)[0];
  if (!prev) return null;
  const distanceKm = haversineKm(prev.lat, prev.lon, tx.lat, tx.lon);
  const minutes = (tx.ts - prev.ts) / 60_000;
  return { fromTxId: prev.txId, fromCountry: prev.country, distanceKm, minutes, speedKmh: minutes >= 1 ? distanceKm / (minutes / 60) : null };
}
