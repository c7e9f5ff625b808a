/**
 * The one feature definition. `featureVector(state, tx)` reads the card's state as it was before `tx`;
 * `applyToState(state, tx)` then folds `tx` in. Both stores (memory, Redis) call exactly these two functions,
 * in transaction order, so offline training and online serving see the same numbers.
 */
import type { Transaction } from '../../core/contracts.ts';
import { LIMITS, type CardState } from './card-state.ts';
import { haversineKm } from './geo.ts';
import { countryCode, hash32 } from './hash.ts';
import { mccRisk } from '../reference/merchant-categories.ts';
import { DEFAULT_FEATURE_SPEC, entityFeatureNames, type FeatureSpec } from './feature-spec.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const WINDOWS = [
  { name: '1m', ms: MINUTE },
  { name: '10m', ms: 10 * MINUTE },
  { name: '1h', ms: HOUR },
  { name: '24h', ms: DAY },
] as const;
const LONGEST_WINDOW = DAY;

/** Seconds-since-previous is capped here (and used for a card's first transaction). */
export const MAX_GAP_SECONDS = 30 * 24 * 3600;
/** Speed uses at least this time gap, so two transactions in the same second do not mean infinite speed. */
export const MIN_SPEED_GAP_HOURS = 1 / 60;
export const MAX_SPEED_KMH = 20_000;
/** "Small" amount for the card-testing count, in minor units. */
export const SMALL_AMOUNT_MINOR = 500;
/** Floor on the spread of log amounts, so a card with identical amounts does not give infinite z-scores. */
const MIN_STD_LOG = 0.25;

/** The card's built-in features: exact windows from minutes to 24 h over its recent events, novelty, travel. */
export const BASE_FEATURE_NAMES = [
  'amount_log',
  'amount_whole',
  ...WINDOWS.map((w) => `tx_count_${w.name}`),
  ...WINDOWS.map((w) => `amount_sum_${w.name}_log`),
  'small_tx_count_1h',
  'distinct_merchants_24h',
  'distinct_countries_24h',
  'distinct_devices_24h',
  'same_merchant_count_24h',
  'amount_zscore',
  'amount_ratio_mean',
  'amount_ratio_max_24h',
  'card_mean_amount_log',
  'secs_since_prev_log',
  'distance_prev_km',
  'speed_prev_kmh',
  'new_device',
  'device_missing',
  'new_country',
  'foreign_country',
  'new_merchant',
  'merchant_risk',
  'hour_of_day',
  'day_of_week',
  'channel_card_present',
  'channel_ecommerce',
  'channel_atm',
  'card_tx_count_log',
  'card_age_days',
] as const;
export const BASE_FEATURE_COUNT = BASE_FEATURE_NAMES.length;

/** The names of a spec's vector: the card's built-in features, then the spec's entity features. */
export const featureNamesFor = (spec: FeatureSpec): string[] => [...BASE_FEATURE_NAMES, ...entityFeatureNames(spec)];

/** The default spec's vector (detectors/pure/feature-spec.ts DEFAULT_FEATURE_SPEC). */
export const FEATURE_NAMES: readonly string[] = featureNamesFor(DEFAULT_FEATURE_SPEC);
export type FeatureName = string;
export const FEATURE_COUNT = FEATURE_NAMES.length;

/** What the definition needs from outside the card: a static merchant risk lookup (never labels). */
export interface FeatureContext {
  merchantRisk(tx: Transaction): number;
}

export const defaultFeatureContext: FeatureContext = { merchantRisk: (tx) => mccRisk(tx.mcc) };

const major = (minor: number) => minor / 100;

/** Scratch for featureVector (synchronous, so never shared by two calls at once). */
const windowCounts = new Float64Array(WINDOWS.length);
const windowSums = new Float64Array(WINDOWS.length);

/** The card's built-in part of a vector into `out[0..BASE_FEATURE_COUNT)`. `out` lets a batch fill views of one block instead of allocating a vector each. */
export function featureVector(
  s: CardState,
  tx: Transaction,
  ctx: FeatureContext = defaultFeatureContext,
  out: Float64Array = new Float64Array(BASE_FEATURE_COUNT),
): Float64Array {
  const v = out;
  const amount = tx.amountMinor;
  const amountLog = Math.log1p(major(amount));
  const merchant = hash32(tx.merchantId);
  const country = countryCode(tx.country);
  const device = tx.deviceId === null ? 0 : hash32(tx.deviceId);

  const counts = windowCounts.fill(0);
  const sums = windowSums.fill(0);
  let small1h = 0;
  let sameMerchant = 0;
  let max24h = 0;
  let nMerchants = 0;
  let nCountries = 0;
  let nDevices = 0;
  for (let i = 0; i < s.evTs.length; i++) {
    const age = tx.ts - s.evTs[i];
    if (age >= LONGEST_WINDOW) continue;
    const a = s.evAmount[i];
    for (let w = 0; w < WINDOWS.length; w++) {
      if (age < WINDOWS[w].ms) {
        counts[w]++;
        sums[w] += a;
      }
    }
    if (age < HOUR && a < SMALL_AMOUNT_MINOR) small1h++;
    if (s.evMerchant[i] === merchant) sameMerchant++;
    if (a > max24h) max24h = a;
    // Distinct counts by "first in-window occurrence" scans: at most 64 events, no Set allocations.
    if (firstInWindow(s.evMerchant, s.evTs, i, tx.ts)) nMerchants++;
    if (firstInWindow(s.evCountry, s.evTs, i, tx.ts)) nCountries++;
    if (s.evDevice[i] !== 0 && firstInWindow(s.evDevice, s.evTs, i, tx.ts)) nDevices++;
  }

  const hasPrev = s.n > 0;
  const gapMs = hasPrev ? Math.max(0, tx.ts - s.lastTs) : MAX_GAP_SECONDS * SECOND;
  const gapSeconds = Math.min(gapMs / SECOND, MAX_GAP_SECONDS);
  const distance = hasPrev ? haversineKm(s.lastLat, s.lastLon, tx.lat, tx.lon) : 0;
  const speed = Math.min(distance / Math.max(gapMs / HOUR, MIN_SPEED_GAP_HOURS), MAX_SPEED_KMH);
  const std = s.n >= 2 ? Math.max(Math.sqrt(s.m2Log / (s.n - 1)), MIN_STD_LOG) : 0;
  const meanAmount = hasPrev ? s.sumAmount / s.n : 0;

  let i = 0;
  v[i++] = amountLog;
  v[i++] = amount % 100 === 0 ? 1 : 0;
  for (let w = 0; w < WINDOWS.length; w++) v[i++] = counts[w];
  for (let w = 0; w < WINDOWS.length; w++) v[i++] = Math.log1p(major(sums[w]));
  v[i++] = small1h;
  v[i++] = nMerchants;
  v[i++] = nCountries;
  v[i++] = nDevices;
  v[i++] = sameMerchant;
  v[i++] = std > 0 ? (amountLog - s.meanLog) / std : 0;
  v[i++] = meanAmount > 0 ? amount / meanAmount : 1;
  v[i++] = max24h > 0 ? amount / max24h : 1;
  v[i++] = hasPrev ? s.meanLog : 0;
  v[i++] = Math.log1p(gapSeconds);
  v[i++] = distance;
  v[i++] = speed;
  v[i++] = device !== 0 && !s.devices.includes(device) ? 1 : 0;
  v[i++] = device === 0 ? 1 : 0;
  v[i++] = s.countries.includes(country) ? 0 : 1;
  v[i++] = hasPrev && country !== s.homeCountry ? 1 : 0;
  v[i++] = s.merchants.includes(merchant) ? 0 : 1;
  v[i++] = ctx.merchantRisk(tx);
  v[i++] = Math.floor(tx.ts / HOUR) % 24;
  v[i++] = (Math.floor(tx.ts / DAY) + 4) % 7; // 1970-01-01 was a Thursday; 0 = Sunday as Date.getUTCDay

  v[i++] = tx.channel === 'card_present' ? 1 : 0;
  v[i++] = tx.channel === 'ecommerce' ? 1 : 0;
  v[i++] = tx.channel === 'atm' ? 1 : 0;
  v[i++] = Math.log1p(s.n);
  v[i++] = hasPrev ? Math.max(0, tx.ts - s.firstTs) / DAY : 0;
  return v;
}

function firstInWindow(values: number[], ts: number[], i: number, now: number): boolean {
  const v = values[i];
  for (let j = 0; j < i; j++) if (values[j] === v && now - ts[j] < LONGEST_WINDOW) return false;
  return true;
}

/** Moves `value` to the most-recent end of an LRU list, dropping the least recent past `cap`. */
function touch(list: number[], value: number, cap: number): void {
  const at = list.indexOf(value);
  if (at >= 0) {
    // in place: splice would allocate the removed element's array on every transaction
    for (let i = at + 1; i < list.length; i++) list[i - 1] = list[i];
    list[list.length - 1] = value;
    return;
  }
  list.push(value);
  if (list.length > cap) dropFront(list, list.length - cap);
}

/** Removes the first `k` elements in place (splice(0, k) without allocating the removed ones). */
function dropFront(list: number[], k: number): void {
  const n = list.length - k;
  for (let i = 0; i < n; i++) list[i] = list[i + k];
  // pop() is inlined; setting length goes through a slow builtin, and k is almost always 1
  for (let i = 0; i < k; i++) list.pop();
}

/** Folds `tx` into the card state (after its vector was computed). `key` is txKey(tx.txId). */
export function applyToState(s: CardState, tx: Transaction, key: number): void {
  const amountLog = Math.log1p(major(tx.amountMinor));
  const country = countryCode(tx.country);
  const merchant = hash32(tx.merchantId);
  const device = tx.deviceId === null ? 0 : hash32(tx.deviceId);

  if (s.n === 0) {
    s.firstTs = tx.ts;
    s.homeCountry = country;
  }
  s.n += 1;
  const delta = amountLog - s.meanLog;
  s.meanLog += delta / s.n;
  s.m2Log += delta * (amountLog - s.meanLog);
  s.sumAmount += tx.amountMinor;
  // A late (out-of-order) transaction does not move "previous transaction" backwards.
  if (tx.ts >= s.lastTs || s.n === 1) {
    s.lastTs = tx.ts;
    s.lastLat = tx.lat;
    s.lastLon = tx.lon;
  }

  s.evTs.push(tx.ts);
  s.evAmount.push(tx.amountMinor);
  s.evMerchant.push(merchant);
  s.evCountry.push(country);
  s.evDevice.push(device);
  const horizon = s.lastTs - LONGEST_WINDOW;
  let drop = 0;
  while (drop < s.evTs.length && s.evTs[drop] <= horizon) drop++;
  drop = Math.max(drop, s.evTs.length - LIMITS.events);
  if (drop > 0) {
    dropFront(s.evTs, drop);
    dropFront(s.evAmount, drop);
    dropFront(s.evMerchant, drop);
    dropFront(s.evCountry, drop);
    dropFront(s.evDevice, drop);
  }

  if (device !== 0) touch(s.devices, device, LIMITS.devices);
  touch(s.countries, country, LIMITS.countries);
  touch(s.merchants, merchant, LIMITS.merchants);
  s.applied.push(key);
  if (s.applied.length > LIMITS.applied) dropFront(s.applied, s.applied.length - LIMITS.applied);
}
