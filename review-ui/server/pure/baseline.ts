/**
 * A case explained against normal (issue 21, item 2): what this card, its merchant, its device (and any other entity
 * the feature spec keys) usually do, and where the flagged transaction falls, in plain words with the numbers.
 *
 * Three sources, each used for what it can say truthfully:
 * - the case's own feature vector, computed by detect from the store as it was just before the transaction (point
 *   in time): novelty (merchant, country, device), velocity, days since first seen, the merchant's mean amount and
 *   the risk the model saw;
 * - the feature store as it is now (FeatureStatePeek): each entity's day buckets over the 30 days before the
 *   transaction's day (later days are left out, so later traffic does not move the baseline) with the fraud labels
 *   that have arrived by now; the card's log-amount statistics with this transaction taken back out (Welford's
 *   mean and M2 describe a multiset, so one value can be removed exactly), and its known countries;
 * - the card's earlier decisions in the search index (state/search.ts, bounded: 30 days, 50,000 rows), for what the
 *   store keeps only as hashes (merchant names, hours of day) and what it cannot give at all: a median amount. The
 *   store keeps a card's amounts as a running mean and spread of log amount, per-day sums, counts and maxima, and
 *   the last 24 hours of events; a median needs the amounts themselves, which only the index still has.
 * Pure: the route reads the stores and hands the states in.
 */
import type { Decision, Transaction } from '../../../core/contracts.ts';
import type { CardState } from '../../../detectors/pure/card-state.ts';
import { entityKeyOf, GLOBAL_ENTITY } from '../../../detectors/pure/entity-features.ts';
import { dayOf, windowTotals, type EntityState, type WindowTotals } from '../../../detectors/pure/entity-state.ts';
import { DAY_MS, fieldValue, type EntitySpec, type FeatureSpec } from '../../../detectors/pure/feature-spec.ts';

/** The longest baseline window, in whole days before the transaction's day. */
export const BASELINE_DAYS = 30;
/** The floor on the spread of log amounts detect uses (detectors/pure/features.ts), so identical amounts give finite z. */
const MIN_STD_LOG = 0.25;
/** Fewer earlier decisions than this in the index say nothing about a card's usual hours. */
const MIN_FOR_HOURS = 5;
/** Fewer earlier decisions than this in the index give no median amount (the geometric mean stands in, so named). */
export const MIN_FOR_MEDIAN = 5;

export const LEVELS = ['unusual', 'notable', 'usual'] as const;
export type Level = (typeof LEVELS)[number];

export interface Finding {
  /** Stable name of the comparison (amount.typical, merchant.first, merchant.fraud_rate, ...). */
  id: string;
  /** The spec entity it is about (card, merchant, device, ...). */
  entity: string;
  level: Level;
  /** One sentence, plain words and the numbers. Holds transaction strings (merchant names): render as text. */
  text: string;
}

export interface EntityProfile {
  entity: string;
  id: string;
  /** Whole days before the transaction's day the profile covers (the entity's longest window, at most 30). */
  days: number;
  activeDays: number;
  count: number;
  meanMinor: number | null;
  maxMinor: number | null;
  /** Fraud labels against those days that had arrived by `asOf` (labels take weeks: the newest days are short of them). */
  fraudLabels: number;
  firstSeen: number | null;
  /** Distinct counterparties (a card's merchants, a merchant's cards) before the transaction, from its vector. */
  distinct: { of: string; days: number; n: number } | null;
}

export interface AmountBaseline {
  /**
   * What "the card's typical amount" is here, and the ratio is against: the median of the card's earlier amounts in
   * the search index when it holds at least MIN_FOR_MEDIAN of them (same currency, the 30 days before), else the
   * geometric mean of the log-amount statistics below.
   */
  typical: 'median' | 'geometric_mean';
  typicalMinor: number;
  /** The median and how many earlier amounts it is of; null when the index holds fewer than MIN_FOR_MEDIAN. */
  median: { minor: number; n: number } | null;
  /** What the log-amount statistics are built from: the card's other transactions in the store, or the vector at decision time. */
  source: 'store' | 'vector';
  n: number;
  /** How many of the n came after this transaction. */
  later: number;
  /** e^mean - 1 of log1p(amount): the geometric mean of the card's amounts, near enough for amounts of a few units up. */
  geoMeanMinor: number;
  /** typical / e^sd .. typical * e^sd: about two thirds of a log-normal spend. Null with fewer than 2 amounts. */
  lowMinor: number | null;
  highMinor: number | null;
  ratio: number;
  /** Standard deviations of log amount from the card's mean (null with fewer than 2 amounts). */
  z: number | null;
}

export interface CaseBaseline {
  asOf: number;
  txTs: number;
  currency: string;
  amount: AmountBaseline | null;
  firstSeen: number | null;
  homeCountry: string | null;
  /** The card's recent countries the store keeps (at most 8), this transaction's left out when it was new. */
  countries: string[];
  /** From the card's earlier decisions in the search index. */
  usual: { decisions: number; merchants: Array<{ merchantId: string; merchantName: string; n: number }>; hours: number[] };
  entities: EntityProfile[];
  /** Every entity together over the same 30 days: the prior a merchant's fraud rate is read against. */
  global: { count: number; fraudLabels: number } | null;
  /** Unusual first, then notable, then usual. */
  findings: Finding[];
  /** What could not be compared, and why. */
  notes: string[];
}

export interface BaselineInput {
  tx: Transaction;
  /** The case's vector (name -> value), as detect computed it. */
  features: Readonly<Record<string, number>>;
  spec: FeatureSpec;
  card: CardState | undefined;
  /** Entity states by key (entityKeyOf, GLOBAL_ENTITY), as the store holds them now. */
  entities: ReadonlyMap<string, EntityState>;
  /** The card's decisions from the search index (any order; this transaction and later ones are skipped). */
  decisions: readonly Decision[];
  now: number;
}

const money = (minor: number, currency: string): string => `${(minor / 100).toFixed(2)} ${currency}`;
const times = (r: number): string => (r >= 10 ? `${Math.round(r)}x` : `${r.toFixed(1)}x`);
const pct = (r: number): string => `${(r * 100).toFixed(r < 0.001 && r > 0 ? 2 : 1)}%`;
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
const hh = (h: number): string => `${String(h).padStart(2, '0')}:00`;
function ago(ms: number): string {
  if (ms < 3_600_000) return plural(Math.max(0, Math.round(ms / 60_000)), 'minute');
  if (ms < DAY_MS) return plural(Math.round(ms / 3_600_000), 'hour');
  return plural(Math.round(ms / DAY_MS), 'day');
}
export const countryOf = (code: number): string | null => (code > 0 ? String.fromCharCode((code >> 8) & 0xff, code & 0xff) : null);

/** The entity's day buckets over the `days` whole days before `txDay`, fraud labels as arrived by `asOf`. */
function profileOf(e: EntitySpec, id: string, s: EntityState | undefined, txDay: number, asOf: number, features: BaselineInput['features']): EntityProfile {
  const days = Math.min(BASELINE_DAYS, Math.max(...e.windowsDays, e.labelRisk ? Math.max(...e.labelRisk.windowsDays) : 0));
  const t: WindowTotals = { count: 0, sum: 0, max: 0, fraud: 0 };
  let active = 0;
  if (s) {
    windowTotals(s, txDay - 1, days, asOf, t);
    for (let i = 0; i < s.days.length; i++) if (s.days[i] < txDay && s.days[i] >= txDay - days && s.count[i] > 0) active++;
  }
  const w = Math.max(...e.windowsDays);
  const cp = Object.keys(features).find((k) => k.startsWith(`${e.name}_distinct_`) && k.endsWith(`_${w}d`));
  return {
    entity: e.name,
    id,
    days,
    activeDays: active,
    count: t.count,
    meanMinor: t.count > 0 ? t.sum / t.count : null,
    maxMinor: t.count > 0 ? t.max : null,
    fraudLabels: t.fraud,
    firstSeen: s && s.firstTs > 0 ? s.firstTs : null,
    distinct: cp ? { of: cp.slice(`${e.name}_distinct_`.length, -`_${w}d`.length), days: w, n: features[cp] as number } : null,
  };
}

/** The median of the card's earlier amounts in `currency` (one per transaction), or null with fewer than MIN_FOR_MEDIAN. */
export function medianAmount(earlier: readonly Decision[], currency: string): AmountBaseline['median'] {
  const byTx = new Map<string, number>();
  for (const d of earlier) if (d.tx.currency === currency) byTx.set(d.txId, d.tx.amountMinor);
  const xs = [...byTx.values()].sort((a, b) => a - b);
  if (xs.length < MIN_FOR_MEDIAN) return null;
  const mid = xs.length >> 1;
  return { minor: xs.length % 2 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2, n: xs.length };
}

/**
 * The card's log-amount statistics without this transaction: from the store now (its other transactions, earlier
 * and later), or from the vector at decision time when the store no longer has the card.
 */
function amountBaseline(tx: Transaction, card: CardState | undefined, f: BaselineInput['features'], median: AmountBaseline['median']): AmountBaseline | null {
  const x = Math.log1p(tx.amountMinor / 100);
  const before = f.card_tx_count_log !== undefined ? Math.round(Math.expm1(f.card_tx_count_log)) : 0;
  const shape = (source: AmountBaseline['source'], n: number, later: number, mean: number, sd: number | null): AmountBaseline => {
    const geoMeanMinor = Math.expm1(mean) * 100;
    const typicalMinor = median ? median.minor : geoMeanMinor;
    return {
      typical: median ? 'median' : 'geometric_mean',
      typicalMinor,
      median,
      source,
      n,
      later,
      geoMeanMinor,
      lowMinor: sd === null ? null : Math.expm1(mean - sd) * 100,
      highMinor: sd === null ? null : Math.expm1(mean + sd) * 100,
      ratio: typicalMinor > 0 ? tx.amountMinor / typicalMinor : Infinity,
      z: sd === null ? null : (x - mean) / sd,
    };
  };
  if (card && card.n > 0) {
    // Was this transaction folded into the state? It was, unless the state began after it (expired and rebuilt).
    const included = card.firstTs <= tx.ts;
    let n = card.n;
    let mean = card.meanLog;
    let m2 = card.m2Log;
    if (included) {
      if (n === 1) return null;
      const mean0 = (n * mean - x) / (n - 1);
      m2 = Math.max(0, m2 - (x - mean0) * (x - mean));
      mean = mean0;
      n -= 1;
    }
    const sd = n >= 2 ? Math.max(Math.sqrt(m2 / (n - 1)), MIN_STD_LOG) : null;
    return shape('store', n, Math.max(0, n - before), mean, sd);
  }
  if (before === 0 || f.card_mean_amount_log === undefined) return null;
  const z = f.amount_zscore;
  // z = (x - mean) / sd, so the vector gives sd back wherever z is not 0.
  const sd = before >= 2 && z !== undefined && Math.abs(z) > 1e-9 ? (x - f.card_mean_amount_log) / z : null;
  return shape('vector', before, 0, f.card_mean_amount_log, sd);
}

export function caseBaseline(input: BaselineInput): CaseBaseline {
  const { tx, features: f, spec, card, entities, now } = input;
  const cur = tx.currency;
  const txDay = dayOf(tx.ts);
  const findings: Finding[] = [];
  const notes: string[] = [];
  const say = (id: string, entity: string, level: Level, text: string) => findings.push({ id, entity, level, text });
  const feature = (name: string): number | undefined => f[name];

  const profiles: EntityProfile[] = [];
  for (const e of spec.entities) {
    const id = fieldValue(tx, e.field);
    if (id === null) continue;
    profiles.push(profileOf(e, id, entities.get(entityKeyOf(e, id)), txDay, now, f));
  }
  const profile = (name: string) => profiles.find((p) => p.entity === name);
  const g = entities.get(GLOBAL_ENTITY);
  const globalTotals = g ? windowTotals(g, txDay - 1, BASELINE_DAYS, now, { count: 0, sum: 0, max: 0, fraud: 0 }) : null;

  // ---------------------------------------------------------------- the card
  const before = feature('card_tx_count_log') !== undefined ? Math.round(Math.expm1(feature('card_tx_count_log') as number)) : null;
  const cardProfile = profile('card');
  const ageDays = feature('card_age_days');
  let firstSeen: number | null = null;
  if (before === 0) {
    say('card.first_seen', 'card', 'notable', 'The first transaction of this card the feature store saw: it has no normal yet.');
  } else if (ageDays !== undefined && before !== null) {
    firstSeen = tx.ts - ageDays * DAY_MS;
    const level: Level = ageDays < 1 ? 'notable' : 'usual';
    say('card.first_seen', 'card', level, `Card first seen ${ago(ageDays * DAY_MS)} before this transaction, with ${plural(before, 'transaction')} since${ageDays < 1 ? ' (a new card)' : ''}.`);
  } else if (cardProfile?.firstSeen) firstSeen = cardProfile.firstSeen;

  // The card's earlier decisions in the index: its median amount here, its usual merchants and hours below.
  const earlier = input.decisions.filter((d) => d.txId !== tx.txId && d.tx.ts < tx.ts && d.tx.ts >= tx.ts - BASELINE_DAYS * DAY_MS);
  const median = medianAmount(earlier, cur);
  const amount = amountBaseline(tx, card, f, median);
  if (amount) {
    const spread = amount.lowMinor !== null && amount.highMinor !== null ? `, usually ${money(amount.lowMinor, cur)} to ${money(amount.highMinor, cur)}` : '';
    const from = `${plural(amount.n, 'other transaction')}${amount.later > 0 ? `, ${amount.later} of them after this one` : ''}${amount.source === 'vector' ? ', as detect saw it' : ''}`;
    const zText = amount.z === null ? '' : `; ${Math.abs(amount.z).toFixed(1)} spreads ${amount.z >= 0 ? 'above' : 'below'} its mean (in log amount)`;
    const absZ = Math.abs(amount.z ?? 0);
    const level: Level = amount.ratio >= 5 || absZ >= 3 ? 'unusual' : amount.ratio >= 2.5 || absZ >= 2 ? 'notable' : 'usual';
    const of = amount.typical === 'median' ? "the card's median amount" : "the card's geometric mean amount";
    const where = amount.ratio >= 1.5 ? `${times(amount.ratio)} ${of}` : amount.ratio <= 0.67 ? `${pct(amount.ratio)} of ${of}` : `close to ${of}`;
    const text = amount.median
      ? `Amount ${money(tx.amountMinor, cur)} is ${where} (${money(amount.median.minor, cur)}, the median of its ${plural(amount.median.n, 'earlier transaction')} in the search index over the ${BASELINE_DAYS} days before); geometric mean ${money(amount.geoMeanMinor, cur)} over ${from}${spread}${zText}.`
      : `Amount ${money(tx.amountMinor, cur)} is ${where} (${money(amount.geoMeanMinor, cur)} over ${from}${spread})${zText}.`;
    say('amount.typical', 'card', level, text);
    if (!amount.median) notes.push(`median amount: ${plural(new Set(earlier.filter((d) => d.tx.currency === cur).map((d) => d.txId)).size, 'earlier transaction')} of this card in ${cur} in the search index (${MIN_FOR_MEDIAN} needed); the geometric mean stands in`);
  } else if (before !== 0) notes.push('amount: the feature store holds no other transaction of this card');
  if (cardProfile && cardProfile.maxMinor !== null && tx.amountMinor > cardProfile.maxMinor) {
    const r = tx.amountMinor / Math.max(1, cardProfile.maxMinor);
    say(
      'amount.largest',
      'card',
      r >= 3 ? 'unusual' : 'notable',
      `Larger than any of the card's ${plural(cardProfile.count, 'transaction')} in the ${cardProfile.days} days before (largest ${money(cardProfile.maxMinor, cur)}: this is ${times(r)} it).`,
    );
  }

  const day = feature('tx_count_24h');
  if (day !== undefined && cardProfile) {
    const perDay = cardProfile.count / cardProfile.days;
    const n = day + 1;
    const hour = feature('tx_count_1h');
    const level: Level = n >= 5 && n >= 10 * Math.max(perDay, 0.1) ? 'unusual' : n >= 3 && n >= 3 * Math.max(perDay, 0.1) ? 'notable' : 'usual';
    say(
      'card.velocity',
      'card',
      level,
      `${plural(n, 'transaction')} in the 24 hours up to and including this one${hour !== undefined ? ` (${hour + 1} in the last hour)` : ''}; the card averages ${perDay.toFixed(1)} a day over the ${cardProfile.days} days before.`,
    );
  }

  // What the store keeps as hashes, the index names: usual merchants and hours from the card's earlier decisions.
  const byMerchant = new Map<string, { merchantId: string; merchantName: string; n: number }>();
  const hourCount = new Array<number>(24).fill(0);
  for (const d of earlier) {
    const m = byMerchant.get(d.tx.merchantId) ?? { merchantId: d.tx.merchantId, merchantName: d.tx.merchantName, n: 0 };
    m.n += 1;
    byMerchant.set(d.tx.merchantId, m);
    hourCount[new Date(d.tx.ts).getUTCHours()] += 1;
  }
  const usualMerchants = [...byMerchant.values()].sort((a, b) => b.n - a.n || a.merchantId.localeCompare(b.merchantId)).slice(0, 5);
  const usualHours = hourCount.flatMap((n, h) => (n > 0 ? [h] : []));

  const newMerchant = feature('new_merchant');
  if (newMerchant !== undefined) {
    const usual = usualMerchants.length ? `; it usually buys at ${usualMerchants.slice(0, 3).map((m) => `${m.merchantName} (${m.n})`).join(', ')}` : '';
    if (newMerchant === 1) say('merchant.first', 'card', before !== null && before >= 3 ? 'notable' : 'usual', `First time at this merchant for this card (not among its 32 most recent merchants)${usual}.`);
    else say('merchant.first', 'card', 'usual', `The card has bought at this merchant before${(feature('same_merchant_count_24h') ?? 0) > 0 ? ` (${feature('same_merchant_count_24h')} times in the 24 hours before)` : ''}.`);
  }

  const countries = card ? card.countries.map(countryOf).filter((c): c is string => c !== null && !(c === tx.country && feature('new_country') === 1)) : [];
  const homeCountry = card ? countryOf(card.homeCountry) : null;
  const newCountry = feature('new_country');
  if (newCountry === 1 && before !== 0) {
    const foreign = feature('foreign_country') === 1;
    say('card.country', 'card', foreign ? 'unusual' : 'notable', `First transaction in ${tx.country} for this card${countries.length ? ` (its recent countries: ${countries.join(', ')})` : ''}${foreign && homeCountry ? `, outside its home country ${homeCountry}` : ''}.`);
  } else if (feature('foreign_country') === 1) {
    say('card.country', 'card', 'notable', `In ${tx.country}, outside the card's home country${homeCountry ? ` ${homeCountry}` : ''}, where it has been before.`);
  } else if (newCountry === 0) say('card.country', 'card', 'usual', `In ${tx.country}, a country the card uses${homeCountry === tx.country ? ' (its home country)' : ''}.`);

  const txHour = new Date(tx.ts).getUTCHours();
  if (earlier.length >= MIN_FOR_HOURS) {
    const near = [-1, 0, 1].reduce((n, d) => n + (hourCount[(txHour + d + 24) % 24] as number), 0);
    say(
      'card.hour',
      'card',
      near === 0 ? 'notable' : 'usual',
      near === 0
        ? `At ${hh(txHour)} UTC: none of the card's ${earlier.length} earlier transactions in the last ${BASELINE_DAYS} days was within an hour of that (its hours: ${usualHours.map(hh).join(', ')} UTC).`
        : `At ${hh(txHour)} UTC, within an hour of ${plural(near, 'earlier transaction')} of the card (of ${earlier.length} in the last ${BASELINE_DAYS} days).`,
    );
  } else notes.push(`hours and merchant names: ${plural(earlier.length, 'earlier decision')} of this card in the search index (${MIN_FOR_HOURS} needed for its usual hours)`);

  // ---------------------------------------------------------------- the device
  if (tx.deviceId !== null && feature('new_device') === 1 && before !== 0) {
    say('device.new', 'device', before !== null && before >= 3 ? 'notable' : 'usual', 'A new device for this card (not among its 8 most recent devices).');
  }
  const device = profile('device');
  if (device?.distinct && device.distinct.of === 'cards' && device.distinct.n >= 2) {
    say('device.cards', 'device', device.distinct.n >= 3 ? 'unusual' : 'notable', `This device was used by ${device.distinct.n} cards in the ${device.distinct.days} days before (one card per device is normal).`);
  }

  // ---------------------------------------------------------------- the merchant
  const merchant = profile('merchant');
  if (merchant) {
    if (merchant.count === 0) {
      say('merchant.activity', 'merchant', 'notable', `The merchant had no transaction in the ${merchant.days} days before: new or dormant.`);
    } else {
      const rate = merchant.fraudLabels / merchant.count;
      const prior = globalTotals && globalTotals.count > 0 ? globalTotals.fraud / globalTotals.count : null;
      const level: Level = merchant.fraudLabels >= 2 && prior !== null && rate >= 5 * prior ? 'unusual' : merchant.fraudLabels >= 1 && (prior === null || rate > 2 * prior) ? 'notable' : 'usual';
      say(
        'merchant.fraud_rate',
        'merchant',
        level,
        `Merchant's fraud rate over the ${merchant.days} days before: ${pct(rate)} (${plural(merchant.fraudLabels, 'fraud label')} among ${plural(merchant.count, 'transaction')}, labels arrived by now)${prior !== null ? `; all merchants ${pct(prior)}` : ''}.`,
      );
      const seen = feature(`merchant_fraud_count_${BASELINE_DAYS}d_delayed`);
      const seenRate = feature(`merchant_fraud_rate_${BASELINE_DAYS}d_delayed`);
      if (seen !== undefined && seen > 0 && seenRate !== undefined) {
        say('merchant.risk_seen', 'merchant', 'notable', `At decision time the model saw ${plural(seen, 'fraud label')} at this merchant in the ${BASELINE_DAYS} days ending ${spec.labelDelayDays} days before (smoothed rate ${pct(seenRate)}).`);
      }
      const ratio = feature(`merchant_amount_ratio_${BASELINE_DAYS}d`);
      if (ratio !== undefined && ratio >= 3 && merchant.meanMinor !== null) {
        say('merchant.amount', 'merchant', ratio >= 10 ? 'unusual' : 'notable', `Amount ${times(ratio)} the merchant's mean over ${BASELINE_DAYS} days (${money(merchant.meanMinor, cur)} over ${plural(merchant.count, 'transaction')}).`);
      }
    }
    const since = feature('merchant_secs_since_last_log');
    if (since !== undefined && merchant.count > 0) {
      const gap = Math.expm1(since) * 1000;
      if (gap >= 7 * DAY_MS) say('merchant.dormant', 'merchant', 'notable', `The merchant's previous transaction was ${ago(gap)} before this one (a dormant merchant woke up).`);
    }
  }

  // ---------------------------------------------------------------- other entities of the spec (ip, email, account, ...)
  for (const p of profiles) {
    if (p.entity === 'card' || p.entity === 'merchant' || p.entity === 'device') continue;
    if (p.count === 0) say(`${p.entity}.activity`, p.entity, 'notable', `This ${p.entity} had no transaction in the ${p.days} days before.`);
    if (p.distinct && p.distinct.n >= 3) say(`${p.entity}.distinct`, p.entity, 'notable', `This ${p.entity} was used with ${p.distinct.n} ${p.distinct.of} in the ${p.distinct.days} days before.`);
  }

  if (!card) notes.push('card: the feature store holds no state for this card now (expired or never seen); numbers are from the vector at decision time');
  findings.sort((a, b) => LEVELS.indexOf(a.level) - LEVELS.indexOf(b.level));
  return {
    asOf: now,
    txTs: tx.ts,
    currency: cur,
    amount,
    firstSeen,
    homeCountry,
    countries,
    usual: { decisions: earlier.length, merchants: usualMerchants, hours: usualHours },
    entities: profiles,
    global: globalTotals ? { count: globalTotals.count, fraudLabels: globalTotals.fraud } : null,
    findings,
    notes,
  };
}

/** Entity keys to read for a transaction: each spec entity it has, and the global one. */
export function baselineKeys(spec: FeatureSpec, tx: Transaction): string[] {
  const keys = spec.entities.flatMap((e) => {
    const id = fieldValue(tx, e.field);
    return id === null ? [] : [entityKeyOf(e, id)];
  });
  return [...keys, GLOBAL_ENTITY];
}
