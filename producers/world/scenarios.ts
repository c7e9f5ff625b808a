/** The fraud scenarios the world can play, with the ground-truth name each label carries. */
export const SCENARIO_NAMES = [
  'card_testing',
  'account_takeover',
  'impossible_travel',
  'compromised_merchant',
  'high_amount_outlier',
  'bust_out',
  'novel_night_atm_cashout',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface ScenarioInfo {
  name: ScenarioName;
  description: string;
  /** Novel scenarios exist to test unsupervised detection: supervised training must leave them out. */
  novel: boolean;
  /** Default share of all transactions that are this scenario's fraud. */
  defaultRate: number;
}

export const SCENARIOS: readonly ScenarioInfo[] = [
  {
    name: 'card_testing',
    description: 'a stolen card number tried with a burst of tiny e-commerce authorisations (seconds apart), sometimes ending in one real purchase',
    novel: false,
    defaultRate: 0.003,
  },
  {
    name: 'account_takeover',
    description: 'a new device in a new country makes a small probe, then several large online purchases in high-risk categories',
    novel: false,
    defaultRate: 0.002,
  },
  {
    name: 'impossible_travel',
    description: 'a cloned card used in person in a far city minutes after a genuine use at home',
    novel: false,
    defaultRate: 0.0015,
  },
  {
    name: 'compromised_merchant',
    description: 'a breached merchant: for 2-4 weeks stolen cards go through it, many different cards at near-usual amounts; only its chargebacks, days later, give it away',
    novel: false,
    defaultRate: 0.0015,
  },
  {
    name: 'high_amount_outlier',
    description: "one purchase many times the card's usual amount, in a category the card rarely uses, from its usual place and device",
    novel: false,
    defaultRate: 0.001,
  },
  {
    name: 'bust_out',
    description: 'the cardholder maxes the card over 1-3 days: rising amounts, many new merchants, electronics, jewellery, cash and crypto',
    novel: false,
    defaultRate: 0.001,
  },
  {
    name: 'novel_night_atm_cashout',
    description: 'NOVEL (keep out of supervised training): several cards withdraw round sums from ATMs in one foreign city between 2 and 5 a.m.',
    novel: true,
    defaultRate: 0.0005,
  },
];

export function isScenarioName(s: string): s is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(s);
}

export function scenarioInfo(name: ScenarioName): ScenarioInfo {
  return SCENARIOS.find((s) => s.name === name) as ScenarioInfo;
}
