/**
 * Merchant categories (ISO 18245 MCCs) with typical legitimate spend and a static risk level.
 * The risk comes from the category alone, never from fraud labels, so a detector may read it
 * (`mccRisk(tx.mcc)`) without touching ground truth.
 */
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

const k = (
  mcc: string,
  name: string,
  word: string,
  median: number,
  sigma: number,
  risk: number,
  online: number,
  weight: number,
  extra: Partial<Category> = {},
): Category => ({ mcc, name, word, median, sigma, risk, online, weight, ...extra });

export const CATEGORIES: readonly Category[] = [
  k('5411', 'Grocery stores', 'Market', 32, 0.7, 0.05, 0.08, 22),
  k('5812', 'Restaurants', 'Bistro', 30, 0.6, 0.08, 0.05, 12),
  k('5814', 'Fast food', 'Burger', 10, 0.45, 0.05, 0.15, 10),
  k('5541', 'Fuel stations', 'Fuel', 55, 0.35, 0.1, 0, 7),
  k('5912', 'Pharmacies', 'Pharmacy', 17, 0.7, 0.05, 0.2, 5),
  k('5311', 'Department stores', 'Galleries', 60, 0.85, 0.15, 0.3, 5, { seasonal: true }),
  k('5651', 'Clothing', 'Apparel', 55, 0.75, 0.15, 0.45, 6, { seasonal: true }),
  k('5732', 'Electronics', 'Electronics', 160, 0.95, 0.45, 0.5, 3, { seasonal: true }),
  k('5944', 'Jewellery', 'Jewellers', 280, 1.0, 0.6, 0.3, 0.6, { seasonal: true }),
  k('5942', 'Book stores', 'Books', 20, 0.5, 0.05, 0.5, 1.5, { seasonal: true }),
  k('5816', 'Digital games', 'Games', 9, 0.8, 0.5, 1, 3),
  k('5815', 'Digital media', 'Stream', 11, 0.25, 0.2, 1, 4),
  k('4121', 'Taxis and rides', 'Rides', 17, 0.5, 0.1, 0.8, 5),
  k('4111', 'Local transit', 'Transit', 3, 0.5, 0.03, 0.2, 6),
  k('4814', 'Telecom', 'Mobile', 30, 0.3, 0.1, 0.7, 2),
  k('7832', 'Cinemas', 'Cinema', 14, 0.3, 0.05, 0.4, 1.5),
  k('8011', 'Doctors', 'Clinic', 70, 0.6, 0.05, 0, 1),
  k('5999', 'Miscellaneous retail', 'Shop', 25, 0.9, 0.25, 0.6, 4),
  k('7011', 'Hotels', 'Hotel', 140, 0.6, 0.3, 0.6, 1, { travel: true }),
  k('4511', 'Airlines', 'Air', 230, 0.7, 0.35, 1, 0.8, { travel: true }),
  k('6011', 'ATM cash', 'ATM', 100, 0.7, 0.3, 0, 4, { atm: true }),
  k('7995', 'Gambling', 'Bet', 45, 1.0, 0.85, 1, 0.5),
  k('6051', 'Quasi-cash and crypto', 'Crypto', 180, 1.0, 0.9, 1, 0.3),
];

const byMcc = new Map(CATEGORIES.map((cat, i) => [cat.mcc, i]));

export function categoryIndex(mcc: string): number {
  const i = byMcc.get(mcc);
  if (i === undefined) throw new Error(`unknown MCC ${mcc}`);
  return i;
}

/** Risk used when an MCC is not in the table (a user's own CSV may carry any code). */
export const UNKNOWN_MCC_RISK = 0.3;

/** Static risk of a merchant category, 0..1. Safe for detectors: derived from the category, not from labels. */
export function mccRisk(mcc: string): number {
  const i = byMcc.get(mcc);
  return i === undefined ? UNKNOWN_MCC_RISK : (CATEGORIES[i] as Category).risk;
}

export type RiskLevel = 'low' | 'medium' | 'high';

export function riskLevel(risk: number): RiskLevel {
  return risk < 0.2 ? 'low' : risk < 0.5 ? 'medium' : 'high';
}
