/**
 * Static merchant-category risk, 0..1, from public card-scheme guidance on high-risk MCCs (quasi-cash, gambling,
 * money transfer, digital goods, jewellery, electronics) — never learned from labels, so it cannot leak them.
 * Unknown MCCs get DEFAULT_MCC_RISK.
 */
export const MCC_RISK: Readonly<Record<string, number>> = {
  '6051': 0.9, // quasi-cash, crypto
  '4829': 0.85, // money transfer
  '7995': 0.85, // gambling
  '6012': 0.6, // financial institutions
  '6011': 0.5, // ATM cash
  '5967': 0.8, // direct marketing, inbound telemarketing
  '5966': 0.75, // outbound telemarketing
  '5816': 0.7, // digital goods: games
  '5818': 0.7, // digital goods: large merchants
  '5815': 0.5, // digital media
  '5944': 0.65, // jewellery
  '5732': 0.6, // electronics
  '5045': 0.55, // computers
  '4722': 0.5, // travel agencies
  '3000': 0.45, // airlines
  '4511': 0.45, // airlines
  '7011': 0.35, // hotels
  '5999': 0.4, // misc retail
  '5311': 0.25, // department stores
  '5691': 0.25, // clothing
  '5651': 0.25, // clothing
  '5942': 0.2, // books
  '5912': 0.15, // pharmacies
  '5812': 0.15, // restaurants
  '5814': 0.1, // fast food
  '5541': 0.2, // fuel
  '5542': 0.3, // automated fuel dispensers (card testing favourite)
  '4111': 0.1, // commuter transport
  '4121': 0.15, // taxis
  '5411': 0.1, // grocery
  '5499': 0.15, // food stores
  '4900': 0.05, // utilities
};

export const DEFAULT_MCC_RISK = 0.3;

export function mccRisk(mcc: string): number {
  return MCC_RISK[mcc] ?? DEFAULT_MCC_RISK;
}
