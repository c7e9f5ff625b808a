/**
 * Merchant categories (ISO 18245 MCCs) with a static risk level: reference data of the features, as a deployment on
 * real payments would load it. The risk comes from the category alone, never from fraud labels, so a detector may
 * read it without touching ground truth. The simulator draws its merchants from the same table.
 */
export interface MerchantCategory {
  mcc: string;
  name: string;
  /** 0..1, static category risk (quasi-cash, gambling and jewellery high; groceries low). */
  risk: number;
}

export const MERCHANT_CATEGORIES: readonly MerchantCategory[] = [
  { mcc: '5411', name: 'Grocery stores', risk: 0.05 },
  { mcc: '5812', name: 'Restaurants', risk: 0.08 },
  { mcc: '5814', name: 'Fast food', risk: 0.05 },
  { mcc: '5541', name: 'Fuel stations', risk: 0.1 },
  { mcc: '5912', name: 'Pharmacies', risk: 0.05 },
  { mcc: '5311', name: 'Department stores', risk: 0.15 },
  { mcc: '5651', name: 'Clothing', risk: 0.15 },
  { mcc: '5732', name: 'Electronics', risk: 0.45 },
  { mcc: '5944', name: 'Jewellery', risk: 0.6 },
  { mcc: '5942', name: 'Book stores', risk: 0.05 },
  { mcc: '5816', name: 'Digital games', risk: 0.5 },
  { mcc: '5815', name: 'Digital media', risk: 0.2 },
  { mcc: '4121', name: 'Taxis and rides', risk: 0.1 },
  { mcc: '4111', name: 'Local transit', risk: 0.03 },
  { mcc: '4814', name: 'Telecom', risk: 0.1 },
  { mcc: '7832', name: 'Cinemas', risk: 0.05 },
  { mcc: '8011', name: 'Doctors', risk: 0.05 },
  { mcc: '5999', name: 'Miscellaneous retail', risk: 0.25 },
  { mcc: '7011', name: 'Hotels', risk: 0.3 },
  { mcc: '4511', name: 'Airlines', risk: 0.35 },
  { mcc: '6011', name: 'ATM cash', risk: 0.3 },
  { mcc: '7995', name: 'Gambling', risk: 0.85 },
  { mcc: '6051', name: 'Quasi-cash and crypto', risk: 0.9 },
];

const byMcc = new Map(MERCHANT_CATEGORIES.map((c) => [c.mcc, c]));

/** The category of an MCC, or undefined when the table lacks it (a user's own CSV may carry any code). */
export function merchantCategory(mcc: string): MerchantCategory | undefined {
  return byMcc.get(mcc);
}

/** Risk used when an MCC is not in the table. */
export const UNKNOWN_MCC_RISK = 0.3;

/** Static risk of a merchant category, 0..1. */
export function mccRisk(mcc: string): number {
  return byMcc.get(mcc)?.risk ?? UNKNOWN_MCC_RISK;
}
