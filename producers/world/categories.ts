/**
 * The simulator's merchant categories: typical legitimate spend per category. Name and risk come from the
 * detectors' reference table (detectors/reference/merchant-categories.ts), so simulated merchants carry the same
 * risk the features read.
 */
import { merchantCategory } from '../../detectors/reference/merchant-categories.ts';

export interface Category {
  mcc: string;
  name: string;
  /** Word used in generated merchant names. */
  word: string;
  /** Median legitimate amount in major units; amounts are log-normal around it. */
  median: number;
  sigma: number;
  /** 0..1, static category risk (quasi-cash, gambling and jewellery high; groceries low). */
  risk: number;
  /** Share of merchants in this category that sell online only. */
  online: number;
  atm?: boolean;
  /** Popularity in legitimate spend. */
  weight: number;
  /** Boosted by the drift switch (holiday season shopping). */
  seasonal?: boolean;
  travel?: boolean;
}

function k(mcc: string, word: string, median: number, sigma: number, online: number, weight: number, extra: Partial<Category> = {}): Category {
  const ref = merchantCategory(mcc);
  if (ref === undefined) throw new Error(`MCC ${mcc} is missing from the reference table`);
  return { mcc, name: ref.name, word, median, sigma, risk: ref.risk, online, weight, ...extra };
}

export const CATEGORIES: readonly Category[] = [
  k('5411', 'Market', 32, 0.7, 0.08, 22),
  k('5812', 'Bistro', 30, 0.6, 0.05, 12),
  k('5814', 'Burger', 10, 0.45, 0.15, 10),
  k('5541', 'Fuel', 55, 0.35, 0, 7),
  k('5912', 'Pharmacy', 17, 0.7, 0.2, 5),
  k('5311', 'Galleries', 60, 0.85, 0.3, 5, { seasonal: true }),
  k('5651', 'Apparel', 55, 0.75, 0.45, 6, { seasonal: true }),
  k('5732', 'Electronics', 160, 0.95, 0.5, 3, { seasonal: true }),
  k('5944', 'Jewellers', 280, 1.0, 0.3, 0.6, { seasonal: true }),
  k('5942', 'Books', 20, 0.5, 0.5, 1.5, { seasonal: true }),
  k('5816', 'Games', 9, 0.8, 1, 3),
  k('5815', 'Stream', 11, 0.25, 1, 4),
  k('4121', 'Rides', 17, 0.5, 0.8, 5),
  k('4111', 'Transit', 3, 0.5, 0.2, 6),
  k('4814', 'Mobile', 30, 0.3, 0.7, 2),
  k('7832', 'Cinema', 14, 0.3, 0.4, 1.5),
  k('8011', 'Clinic', 70, 0.6, 0, 1),
  k('5999', 'Shop', 25, 0.9, 0.6, 4),
  k('7011', 'Hotel', 140, 0.6, 0.6, 1, { travel: true }),
  k('4511', 'Air', 230, 0.7, 1, 0.8, { travel: true }),
  k('6011', 'ATM', 100, 0.7, 0, 4, { atm: true }),
  k('7995', 'Bet', 45, 1.0, 1, 0.5),
  k('6051', 'Crypto', 180, 1.0, 1, 0.3),
];

const byMcc = new Map(CATEGORIES.map((cat, i) => [cat.mcc, i]));

export function categoryIndex(mcc: string): number {
  const i = byMcc.get(mcc);
  if (i === undefined) throw new Error(`unknown MCC ${mcc}`);
  return i;
}
