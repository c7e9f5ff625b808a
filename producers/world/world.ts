import type { Channel, Label, Transaction } from '../../core/contracts.ts';
import { CATEGORIES, categoryIndex, type Category } from './categories.ts';
import { haversineKm } from '../../detectors/pure/geo.ts';
import { CITIES, jitter, type City } from './geo.ts';
import { TimeHeap } from '../../core/heap.ts';
import { resolveWorldOptions, type ResolvedWorldOptions, type WorldOptions } from './options.ts';
import { cumulative, Rng, tagOf } from './rng.ts';
import { isScenarioName, SCENARIO_NAMES, type ScenarioName } from './scenarios.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const NCAT = CATEGORIES.length;
const NCITY = CITIES.length;

export interface WorldEvent {
  tx: Transaction;
  /** Ground truth, delivered separately; null for a legitimate transaction not chosen for a negative label. */
  label: Label | null;
}

/** A merchant as the world knows it. `risk` is the static category risk (see mccRisk), not derived from fraud. */
export interface MerchantInfo {
  merchantId: string;
  name: string;
  mcc: string;
  city: string;
  country: string;
  channel: Channel;
  risk: number;
}

interface FraudSpec {
  scenario: ScenarioName;
  merchant: number;
  amountMinor: number;
  deviceId: string | null;
  lat: number;
  lon: number;
  country: string;
}

const LEGIT = 0;
const FRAUD = 1;
const VISIT = 2;

interface Pending {
  t: number;
  seq: number;
  kind: typeof LEGIT | typeof FRAUD | typeof VISIT;
  card: number;
  /** FRAUD: the whole transaction but its id and time. VISIT: the merchant to visit. */
  fraud?: FraudSpec;
  merchant?: number;
}

const CHANNELS: readonly Channel[] = ['card_present', 'ecommerce', 'atm'];
const CP = 0;
const ECOM = 1;
const ATM = 2;

const NAME_PREFIX = [
  'Blue', 'Golden', 'Corner', 'City', 'Harbor', 'Maple', 'North', 'Sunrise', 'Royal', 'Green', 'Silver', 'Urban',
  'Old Town', 'Bright', 'Central', 'River', 'Oak', 'Star', 'Nova', 'Lucky', 'Prime', 'Velvet', 'Atlas', 'Echo',
];

const HIGH_RISK_ONLINE = ['5732', '5944', '6051', '7995', '5999'].map(categoryIndex);
const TESTING_CATS = ['5816', '5815', '5999', '4814'].map(categoryIndex);
const CLONED_CP_CATS = ['5732', '5944', '5311', '6011'].map(categoryIndex);
const OUTLIER_CATS = ['5944', '5732', '7011', '4511', '6051', '5311', '8011'].map(categoryIndex);
const BUSTOUT_CATS = ['5732', '5944', '6051', '6011', '5311', '5999', '4511'].map(categoryIndex);
const ATM_CAT = categoryIndex('6011');
const SEASONAL = CATEGORIES.map((c) => c.seasonal === true);

/**
 * Holiday season, the drift switch: how legitimate behaviour changes. Strong enough that a drift monitor with the
 * usual PSI reading (> 0.2 shifted) sees it within a few simulated days, as a peak season would show in life.
 */
export const HOLIDAY = {
  /** Transactions per card. */
  activity: 1.6,
  /** Chance of starting a trip. */
  travel: 3,
  /** Popularity of seasonal categories (department stores, clothing, electronics, jewellery, books) and of travel ones. */
  seasonalWeight: 3.5,
  travelWeight: 2.5,
  /** Added to the chance of buying online. */
  online: 0.25,
  /** Amounts at seasonal merchants and elsewhere. */
  seasonalAmount: 1.5,
  otherAmount: 1.15,
} as const;

const homeCum = cumulative(CITIES.map((c) => c.homeWeight));
const travelCum = cumulative(CITIES.map((c) => c.travelWeight));
const fraudCum = cumulative(CITIES.map((c) => c.fraudWeight));
const cpMerchantCityCum = cumulative(CITIES.map((c) => c.homeWeight + 0.4 * c.travelWeight + 0.2 * c.fraudWeight));
const onlineMerchantCityCum = cumulative(CITIES.map((c) => c.homeWeight));
const merchantCatCum = cumulative(CATEGORIES.map((c) => Math.pow(c.weight, 0.7)));
const cityDist: number[][] = CITIES.map((a) => CITIES.map((b) => haversineKm(a.lat, a.lon, b.lat, b.lon)));
const pad = (n: number, w: number) => String(n).padStart(w, '0');

/**
 * The synthetic payments world: cardholders, merchants and fraudsters, advanced event by event in time order.
 * Pure and seeded: the same options give the same events, byte for byte.
 */
export class World {
  readonly options: ResolvedWorldOptions;
  readonly tag: string;
  private readonly txTag: string;
  private readonly rng: Rng;
  private readonly labelRng: Rng;
  private readonly heap = new TimeHeap<Pending>();
  private seq = 0;
  private emittedCount = 0;
  private clock: number;
  private fraudDevices = 0;

  // merchants
  private readonly mId: string[] = [];
  private readonly mName: string[] = [];
  private readonly mCat: Int16Array;
  private readonly mCity: Int16Array;
  private readonly mLat: Float64Array;
  private readonly mLon: Float64Array;
  private readonly mChannel: Uint8Array;
  private readonly cpByCatCity = new Map<number, number[]>();
  /** Merchants breached by the injection in progress (injectEpisodes). */
  private breached: Array<{ merchantId: string; scheduled: number }> = [];
  private readonly onlineByCat: number[][] = Array.from({ length: NCAT }, () => []);
  private readonly cpCatCities: number[][] = Array.from({ length: NCAT }, () => []);
  private readonly nearestCache = new Map<number, number[]>();

  // cardholders
  private readonly cId: string[] = [];
  private readonly cHome: Int16Array;
  private readonly cHomeLat: Float64Array;
  private readonly cHomeLon: Float64Array;
  private readonly cCurrency: string[] = [];
  private readonly cAffluence: Float64Array;
  private readonly cRatePerMs: Float64Array;
  private readonly cHourF: Float32Array;
  private readonly cWeekday: Float32Array;
  private readonly cWeekend: Float32Array;
  private readonly cMaxF: Float32Array;
  private readonly cEcom: Float32Array;
  private readonly cTravel: Float32Array;
  private readonly cWallet: Uint8Array;
  private readonly cDevices: Uint8Array;
  private readonly cCatCum: Float64Array;
  private readonly cCatCumDrift = new Map<number, Float64Array>();
  private readonly cFavourites = new Map<number, number[]>();
  private readonly cTripCity: Int16Array;
  private readonly cTripUntil: Float64Array;
  private readonly cLastTs: Float64Array;
  private readonly cLastLat: Float64Array;
  private readonly cLastLon: Float64Array;
  private readonly homeCards: number[][] = Array.from({ length: NCITY }, () => []);

  // fraud pacing: each emitted transaction earns `rate` credit per scenario; an episode starts when credit covers its size
  private readonly active: ScenarioName[];
  private readonly credit: Record<ScenarioName, number>;
  private readonly nextSize: Record<ScenarioName, number>;
  private readonly fraudEmitted: Record<ScenarioName, number>;

  constructor(input: WorldOptions) {
    this.options = resolveWorldOptions(input);
    const o = this.options;
    this.tag = tagOf(o.seed, o.cards, o.merchants);
    this.txTag = tagOf(o.seed, o.cards, o.merchants, o.startTs);
    this.clock = o.startTs;
    const build = new Rng(o.seed, 1);
    this.rng = new Rng(o.seed, 2);
    this.labelRng = new Rng(o.seed, 3);

    const M = o.merchants;
    this.mCat = new Int16Array(M);
    this.mCity = new Int16Array(M);
    this.mLat = new Float64Array(M);
    this.mLon = new Float64Array(M);
    this.mChannel = new Uint8Array(M);
    for (let m = 0; m < M; m++) this.buildMerchant(build, m);

    const C = o.cards;
    this.cHome = new Int16Array(C);
    this.cHomeLat = new Float64Array(C);
    this.cHomeLon = new Float64Array(C);
    this.cAffluence = new Float64Array(C);
    this.cRatePerMs = new Float64Array(C);
    this.cHourF = new Float32Array(C * 24);
    this.cWeekday = new Float32Array(C);
    this.cWeekend = new Float32Array(C);
    this.cMaxF = new Float32Array(C);
    this.cEcom = new Float32Array(C);
    this.cTravel = new Float32Array(C);
    this.cWallet = new Uint8Array(C);
    this.cDevices = new Uint8Array(C);
    this.cCatCum = new Float64Array(C * NCAT);
    this.cTripCity = new Int16Array(C).fill(-1);
    this.cTripUntil = new Float64Array(C);
    this.cLastTs = new Float64Array(C);
    this.cLastLat = new Float64Array(C);
    this.cLastLon = new Float64Array(C);
    for (let i = 0; i < C; i++) this.buildCard(build, i);
    for (let i = 0; i < C; i++) this.scheduleLegit(i, o.startTs);

    this.active = SCENARIO_NAMES.filter((s) => o.scenarioRates[s] > 0);
    this.credit = Object.fromEntries(SCENARIO_NAMES.map((s) => [s, 0])) as Record<ScenarioName, number>;
    this.fraudEmitted = { ...this.credit };
    this.nextSize = Object.fromEntries(SCENARIO_NAMES.map((s) => [s, this.episodeSize(s)])) as Record<ScenarioName, number>;
  }

  /** Simulated time: the timestamp of the last transaction produced. */
  get now(): number {
    return this.clock;
  }

  get emitted(): number {
    return this.emittedCount;
  }

  /** Fraud transactions produced so far, per scenario. */
  fraudCounts(): Record<ScenarioName, number> {
    return { ...this.fraudEmitted };
  }

  get driftActive(): boolean {
    return this.options.drift && this.emittedCount >= this.options.driftStartsAt;
  }

  cardIds(): readonly string[] {
    return this.cId;
  }

  merchants(): MerchantInfo[] {
    return this.mId.map((merchantId, m) => {
      const city = CITIES[this.mCity[m] as number] as City;
      const cat = CATEGORIES[this.mCat[m] as number] as Category;
      return { merchantId, name: this.mName[m] as string, mcc: cat.mcc, city: city.name, country: city.country, channel: CHANNELS[this.mChannel[m] as number] as Channel, risk: cat.risk };
    });
  }

  /** The next transaction in time order, or undefined once `events` have been produced. */
  next(): WorldEvent | undefined {
    if (this.emittedCount >= this.options.events) return undefined;
    const p = this.heap.pop();
    if (!p) return undefined;
    this.clock = Math.max(this.clock, Math.round(p.t));
    const ts = this.clock;
    const txId = `tx-${this.txTag}-${pad(this.emittedCount, 9)}`;
    let tx: Transaction;
    let scenario: ScenarioName | null = null;
    if (p.kind === FRAUD) {
      const f = p.fraud as FraudSpec;
      scenario = f.scenario;
      tx = this.makeTx(txId, p.card, f.merchant, f.amountMinor, ts, f.country, f.lat, f.lon, f.deviceId);
      this.fraudEmitted[scenario]++;
    } else {
      tx = this.legitTx(txId, p.card, ts, p.kind === VISIT ? (p.merchant as number) : -1);
      if (p.kind === LEGIT) this.scheduleLegit(p.card, ts);
    }
    this.cLastTs[p.card] = ts;
    this.cLastLat[p.card] = tx.lat;
    this.cLastLon[p.card] = tx.lon;
    this.emittedCount++;
    const label = this.labelFor(tx, scenario);
    this.pace(p, tx);
    return { tx, label };
  }

  /**
   * Starts `episodes` attacks of a scenario now (on top of the configured rates); returns how many fraud
   * transactions were scheduled. Used by the live simulator's inject control.
   */
  inject(scenario: string, episodes = 1): number {
    return this.injectEpisodes(scenario, episodes).scheduled;
  }

  /** As inject, and which merchants a compromised-merchant attack breached (the Replay page follows them). */
  injectEpisodes(scenario: string, episodes = 1): { scheduled: number; breachedMerchants: string[]; breaches: Array<{ merchantId: string; scheduled: number }> } {
    if (!isScenarioName(scenario)) throw new Error(`unknown scenario "${scenario}"; one of ${SCENARIO_NAMES.join(', ')}`);
    this.breached = [];
    let n = 0;
    for (let e = 0; e < episodes; e++) {
      if (scenario === 'impossible_travel') {
        const card = this.rng.int(this.options.cards);
        const anchorAt = this.clock + this.rng.uniform(0.2, 2) * MIN;
        const home = this.cardPresentMerchant(card, categoryIndex('5411'), this.cHome[card] as number);
        if (home < 0) continue;
        this.push({ t: anchorAt, seq: this.seq++, kind: VISIT, card, merchant: home });
        n += this.impossibleTravel(card, anchorAt, this.mLat[home] as number, this.mLon[home] as number, this.episodeSize(scenario));
      } else {
        n += this.startEpisode(scenario, this.episodeSize(scenario), -1);
      }
    }
    const breaches = this.breached;
    this.breached = [];
    return { scheduled: n, breachedMerchants: breaches.map((b) => b.merchantId), breaches };
  }

  // ------------------------------------------------------------------ building the world

  private buildMerchant(r: Rng, m: number): void {
    const cat = m < NCAT ? m : r.weighted(merchantCatCum);
    const c = CATEGORIES[cat] as Category;
    const online = !c.atm && (c.online >= 1 || r.chance(c.online));
    const city = r.weighted(online ? onlineMerchantCityCum : cpMerchantCityCum);
    const ci = CITIES[city] as City;
    const [lat, lon] = jitter(ci.lat, ci.lon, 8, r.next(), r.next());
    this.mId.push(`m-${this.tag}-${pad(m, 6)}`);
    this.mName.push(c.atm ? `${ci.name} ATM ${r.between(1, 99)}` : `${r.pick(NAME_PREFIX)} ${c.word}${r.chance(0.3) ? ` ${ci.name}` : ''}`);
    this.mCat[m] = cat;
    this.mCity[m] = city;
    this.mLat[m] = lat;
    this.mLon[m] = lon;
    this.mChannel[m] = c.atm ? ATM : online ? ECOM : CP;
    if (online) (this.onlineByCat[cat] as number[]).push(m);
    else {
      const key = cat * 256 + city;
      const list = this.cpByCatCity.get(key);
      if (list) list.push(m);
      else {
        this.cpByCatCity.set(key, [m]);
        (this.cpCatCities[cat] as number[]).push(city);
      }
    }
  }

  private buildCard(r: Rng, i: number): void {
    const home = r.weighted(homeCum);
    const ci = CITIES[home] as City;
    const [lat, lon] = jitter(ci.lat, ci.lon, 10, r.next(), r.next());
    this.cId.push(`card-${this.tag}-${pad(i, 7)}`);
    this.cHome[i] = home;
    this.cHomeLat[i] = lat;
    this.cHomeLon[i] = lon;
    this.cCurrency.push(ci.currency);
    this.cAffluence[i] = r.logNormal(0, 0.35);
    const perDay = Math.min(12, Math.max(0.2, r.logNormal(Math.log(1.8), 0.5)));
    this.cRatePerMs[i] = perDay / DAY;
    // Active hours: a personal daytime peak plus an evening bump, never quite zero at night.
    const peak = 8 + r.uniform(0, 8) + r.normal();
    const width = r.uniform(2.5, 5);
    const evening = r.uniform(0.2, 0.9);
    let sum = 0;
    for (let h = 0; h < 24; h++) {
      const f = 0.02 + gauss(h + 0.5, peak, width) + evening * gauss(h + 0.5, 19.5, 1.8);
      this.cHourF[i * 24 + h] = f;
      sum += f;
    }
    let maxH = 0;
    for (let h = 0; h < 24; h++) {
      const f = ((this.cHourF[i * 24 + h] as number) * 24) / sum;
      this.cHourF[i * 24 + h] = f;
      maxH = Math.max(maxH, f);
    }
    const weekend = r.uniform(0.6, 1.5);
    this.cWeekday[i] = 7 / (5 + 2 * weekend);
    this.cWeekend[i] = (7 * weekend) / (5 + 2 * weekend);
    this.cMaxF[i] = maxH * Math.max(this.cWeekday[i] as number, this.cWeekend[i] as number);
    this.cEcom[i] = r.uniform(0.1, 0.6);
    this.cTravel[i] = Math.min(0.05, r.logNormal(Math.log(0.004), 0.8));
    this.cWallet[i] = r.chance(0.4) ? 1 : 0;
    this.cDevices[i] = r.between(1, 3);
    const weights = CATEGORIES.map((c) => {
      const rare = c.mcc === '7995' ? 0.1 : c.mcc === '6051' ? 0.05 : c.mcc === '5944' ? 0.3 : 1;
      return r.chance(rare) ? c.weight * r.logNormal(0, 0.8) : 0;
    });
    const cum = cumulative(weights);
    this.cCatCum.set(cum, i * NCAT);
    this.cLastTs[i] = -1;
    this.cLastLat[i] = lat;
    this.cLastLon[i] = lon;
    this.homeCards[home]?.push(i);
  }

  // ------------------------------------------------------------------ legitimate behaviour

  /** Next legitimate transaction time for a card: a Poisson process thinned by its hour-of-day and weekday rhythm. */
  private scheduleLegit(card: number, after: number): void {
    const rate = (this.cRatePerMs[card] as number) * (this.driftActive ? HOLIDAY.activity : 1);
    const maxF = this.cMaxF[card] as number;
    const trip = this.cTripCity[card] as number;
    const tz = (CITIES[trip >= 0 ? trip : (this.cHome[card] as number)] as City).tz;
    let t = after;
    for (let i = 0; i < 500; i++) {
      t += this.rng.exp(1 / (rate * maxF));
      const local = t + tz * HOUR;
      const hour = Math.floor(local / HOUR) % 24;
      const dow = (Math.floor(local / DAY) + 4) % 7;
      const f = (this.cHourF[card * 24 + hour] as number) * ((dow === 0 || dow === 6 ? this.cWeekend[card] : this.cWeekday[card]) as number);
      if (this.rng.next() * maxF < f) break;
    }
    this.push({ t, seq: this.seq++, kind: LEGIT, card });
  }

  private legitTx(txId: string, card: number, ts: number, forcedMerchant: number): Transaction {
    const r = this.rng;
    const drift = this.driftActive;
    if ((this.cTripCity[card] as number) >= 0 && ts > (this.cTripUntil[card] as number)) this.cTripCity[card] = -1;
    if (forcedMerchant < 0 && (this.cTripCity[card] as number) < 0 && r.chance((this.cTravel[card] as number) * (drift ? HOLIDAY.travel : 1))) {
      let dest = r.weighted(travelCum);
      if (dest === this.cHome[card]) dest = r.weighted(travelCum);
      if (dest !== this.cHome[card]) {
        this.cTripCity[card] = dest;
        this.cTripUntil[card] = ts + r.uniform(2, 10) * DAY;
      }
    }
    const trip = this.cTripCity[card] as number;
    const city = trip >= 0 ? trip : (this.cHome[card] as number);

    let merchant = forcedMerchant;
    if (merchant < 0) {
      const cat = r.weighted(this.catCum(card, drift));
      const c = CATEGORIES[cat] as Category;
      const pOnline = c.atm ? 0 : c.online >= 1 ? 1 : Math.min(0.95, c.online * (this.cEcom[card] as number) * 2 + (drift ? HOLIDAY.online : 0));
      if (r.chance(pOnline)) merchant = this.onlineMerchant(card, cat);
      if (merchant < 0) merchant = this.cardPresentMerchant(card, cat, city);
      if (merchant < 0) merchant = this.onlineMerchant(card, cat);
      if (merchant < 0) merchant = r.int(this.options.merchants);
    }
    const cat = CATEGORIES[this.mCat[merchant] as number] as Category;
    const channel = this.mChannel[merchant] as number;
    let major = cat.median * (this.cAffluence[card] as number) * r.logNormal(0, cat.sigma);
    if (drift) major *= SEASONAL[this.mCat[merchant] as number] ? HOLIDAY.seasonalAmount : HOLIDAY.otherAmount;
    const amountMinor = channel === ATM ? Math.max(20, Math.round(major / 10) * 10) * 100 : Math.max(50, Math.round(major * 100));

    let lat: number;
    let lon: number;
    let country: string;
    let device: string | null;
    if (channel === ECOM) {
      const ci = CITIES[city] as City;
      [lat, lon] = trip >= 0 ? jitter(ci.lat, ci.lon, 8, r.next(), r.next()) : jitter(this.cHomeLat[card] as number, this.cHomeLon[card] as number, 3, r.next(), r.next());
      country = ci.country;
      const u = r.next();
      if (u < 0.02) device = null;
      else if (u < 0.05 && (this.cDevices[card] as number) < 8) {
        this.cDevices[card] = (this.cDevices[card] as number) + 1;
        device = this.deviceId(card, (this.cDevices[card] as number) - 1);
      } else device = this.deviceId(card, r.chance(0.7) ? 0 : r.int(this.cDevices[card] as number));
    } else {
      lat = this.mLat[merchant] as number;
      lon = this.mLon[merchant] as number;
      country = (CITIES[this.mCity[merchant] as number] as City).country;
      device = channel === CP && this.cWallet[card] === 1 && r.chance(0.5) ? this.deviceId(card, 0) : null;
    }
    return this.makeTx(txId, card, merchant, amountMinor, ts, country, lat, lon, device);
  }

  private catCum(card: number, drift: boolean): Float64Array {
    const base = this.cCatCum.subarray(card * NCAT, card * NCAT + NCAT);
    if (!drift) return base;
    let d = this.cCatCumDrift.get(card);
    if (!d) {
      const w = CATEGORIES.map((c, k) => ((base[k] as number) - (k > 0 ? (base[k - 1] as number) : 0)) * (c.seasonal ? HOLIDAY.seasonalWeight : c.travel ? HOLIDAY.travelWeight : 1));
      d = cumulative(w);
      this.cCatCumDrift.set(card, d);
    }
    return d;
  }

  private onlineMerchant(card: number, cat: number): number {
    const all = this.onlineByCat[cat] as number[];
    if (all.length === 0) return -1;
    const key = card * 64 + cat;
    let fav = this.cFavourites.get(key);
    if (!fav) {
      fav = Array.from({ length: Math.min(3, all.length) }, () => this.rng.pick(all));
      this.cFavourites.set(key, fav);
    }
    return this.rng.chance(0.8) ? this.rng.pick(fav) : this.rng.pick(all);
  }

  /** A card-present merchant of the category in the city, or in the nearest city that has one. */
  private cardPresentMerchant(card: number, cat: number, city: number): number {
    const cities = this.nearestCities(cat, city);
    if (cities.length === 0) return -1;
    const near = this.cpByCatCity.get(cat * 256 + (cities[0] as number)) as number[];
    if (city !== this.cHome[card]) return this.rng.pick(near);
    const key = card * 64 + cat + 32;
    let fav = this.cFavourites.get(key);
    if (!fav) {
      fav = Array.from({ length: Math.min(4, near.length) }, () => this.rng.pick(near));
      this.cFavourites.set(key, fav);
    }
    return this.rng.chance(0.85) ? this.rng.pick(fav) : this.rng.pick(near);
  }

  private nearestCities(cat: number, city: number): number[] {
    const key = cat * 256 + city;
    let list = this.nearestCache.get(key);
    if (!list) {
      const row = cityDist[city] as number[];
      list = [...(this.cpCatCities[cat] as number[])].sort((a, b) => (row[a] as number) - (row[b] as number) || a - b);
      this.nearestCache.set(key, list);
    }
    return list;
  }

  private deviceId(card: number, k: number): string {
    return `dev-${this.tag}-${pad(card, 7)}-${k}`;
  }

  private makeTx(txId: string, card: number, merchant: number, amountMinor: number, ts: number, country: string, lat: number, lon: number, deviceId: string | null): Transaction {
    return {
      txId,
      cardId: this.cId[card] as string,
      merchantId: this.mId[merchant] as string,
      merchantName: this.mName[merchant] as string,
      mcc: (CATEGORIES[this.mCat[merchant] as number] as Category).mcc,
      amountMinor,
      currency: this.cCurrency[card] as string,
      ts,
      channel: CHANNELS[this.mChannel[merchant] as number] as Channel,
      country,
      lat,
      lon,
      deviceId,
    };
  }

  private labelFor(tx: Transaction, scenario: ScenarioName | null): Label | null {
    const r = this.labelRng;
    const o = this.options;
    const u = r.next();
    const v = r.normal();
    if (scenario !== null) {
      const delay = o.chargebackMedianMs * Math.min(9, Math.max(0.2, Math.exp(0.5 * v)));
      return { txId: tx.txId, cardId: tx.cardId, merchantId: tx.merchantId, txTs: tx.ts, isFraud: true, scenario, source: 'chargeback', labeledAt: tx.ts + Math.round(delay * o.labelDelayScale) };
    }
    if (u >= o.legitLabelShare) return null;
    const delay = o.legitLabelDelayMs * (1 + 0.15 * Math.abs(v));
    return { txId: tx.txId, cardId: tx.cardId, merchantId: tx.merchantId, txTs: tx.ts, isFraud: false, scenario: null, source: 'chargeback', labeledAt: tx.ts + Math.round(delay * o.labelDelayScale) };
  }

  // ------------------------------------------------------------------ fraud

  private pace(p: Pending, tx: Transaction): void {
    for (const s of this.active) {
      this.credit[s] += this.options.scenarioRates[s];
      if (this.credit[s] < this.nextSize[s]) continue;
      let n: number;
      if (s === 'impossible_travel') {
        // Needs a genuine in-person use that just happened, to be "too far, too fast" from it.
        if (p.kind === FRAUD || tx.channel === 'ecommerce') continue;
        n = this.impossibleTravel(p.card, tx.ts, tx.lat, tx.lon, this.nextSize[s]);
      } else n = this.startEpisode(s, this.nextSize[s], p.card);
      this.credit[s] -= n > 0 ? n : this.nextSize[s];
      this.nextSize[s] = this.episodeSize(s);
    }
  }

  private episodeSize(s: ScenarioName): number {
    const r = this.rng;
    switch (s) {
      case 'card_testing':
        return r.between(5, 25);
      case 'account_takeover':
        return r.between(2, 6);
      case 'impossible_travel':
        return r.between(1, 3);
      case 'compromised_merchant':
        return r.between(15, 45);
      case 'high_amount_outlier':
        return 1;
      case 'bust_out':
        return r.between(8, 30);
      case 'novel_night_atm_cashout':
        return r.between(6, 20);
    }
  }

  private startEpisode(s: ScenarioName, size: number, _trigger: number): number {
    const card = this.rng.int(this.options.cards);
    switch (s) {
      case 'card_testing':
        return this.cardTesting(card, size);
      case 'account_takeover':
        return this.accountTakeover(card, size);
      case 'compromised_merchant':
        return this.compromisedMerchant(size);
      case 'high_amount_outlier':
        return this.highAmountOutlier(card);
      case 'bust_out':
        return this.bustOut(card, size);
      case 'novel_night_atm_cashout':
        return this.nightAtmCashout(size);
      case 'impossible_travel':
        return 0;
    }
  }

  private push(p: Pending): void {
    if (p.t < this.clock) p.t = this.clock;
    this.heap.push(p);
  }

  private pushFraud(t: number, card: number, spec: FraudSpec): void {
    this.push({ t, seq: this.seq++, kind: FRAUD, card, fraud: spec });
  }

  private newFraudDevice(): string {
    return `dev-${this.tag}-x${pad(this.fraudDevices++, 6)}`;
  }

  /** A city fraudsters operate from, at least `minKm` from the given point when possible. */
  private fraudCity(lat: number, lon: number, minKm: number): number {
    let city = this.rng.weighted(fraudCum);
    for (let i = 0; i < 20 && haversineKm(lat, lon, (CITIES[city] as City).lat, (CITIES[city] as City).lon) < minKm; i++) city = this.rng.weighted(fraudCum);
    return city;
  }

  private onlineSpec(s: ScenarioName, cats: readonly number[], major: number, device: string | null, city: number): FraudSpec | undefined {
    const cat = this.rng.pick(cats);
    const list = this.onlineByCat[cat] as number[];
    const merchant = list.length > 0 ? this.rng.pick(list) : -1;
    if (merchant < 0) return undefined;
    const ci = CITIES[city] as City;
    const [lat, lon] = jitter(ci.lat, ci.lon, 15, this.rng.next(), this.rng.next());
    return { scenario: s, merchant, amountMinor: Math.max(50, Math.round(major * 100)), deviceId: device, lat, lon, country: ci.country };
  }

  /** A card-present (or ATM) fraud at a merchant of one of `cats` in `city` (or the nearest city that has one). */
  private cardPresentSpec(s: ScenarioName, cats: readonly number[], city: number, major: number): FraudSpec | undefined {
    for (let attempt = 0; attempt < 4; attempt++) {
      const cat = this.rng.pick(cats);
      const near = this.nearestCities(cat, city)[0];
      if (near === undefined) continue;
      const merchant = this.rng.pick(this.cpByCatCity.get(cat * 256 + near) as number[]);
      const atm = this.mChannel[merchant] === ATM;
      const amount = atm ? Math.max(20, Math.round(major / 20) * 20) * 100 : Math.max(50, Math.round(major * 100));
      return { scenario: s, merchant, amountMinor: amount, deviceId: null, lat: this.mLat[merchant] as number, lon: this.mLon[merchant] as number, country: (CITIES[this.mCity[merchant] as number] as City).country };
    }
    return undefined;
  }

  private typical(card: number): number {
    return 40 * (this.cAffluence[card] as number);
  }

  private cardTesting(card: number, size: number): number {
    const r = this.rng;
    const city = r.chance(0.7) ? this.fraudCity(this.cHomeLat[card] as number, this.cHomeLon[card] as number, 500) : r.weighted(homeCum);
    const device = r.chance(0.85) ? this.newFraudDevice() : null;
    // Only categories this world sells online in: a small world may lack some, and a test burst skipped
    // transaction by transaction would come out shorter than the episode it was asked for.
    const sold = TESTING_CATS.filter((c) => (this.onlineByCat[c] as number[]).length > 0);
    const merchants = Array.from({ length: r.between(1, 3) }, () => r.pick(sold.length > 0 ? sold : TESTING_CATS));
    const finale = size >= 6 && r.chance(0.2);
    let t = this.clock + r.uniform(0, 30) * MIN;
    let n = 0;
    for (let i = 0; i < size; i++) {
      const last = finale && i === size - 1;
      const major = last ? r.uniform(150, 600) : r.chance(0.3) ? 1 : r.uniform(0.5, 3);
      const spec = this.onlineSpec('card_testing', last ? [categoryIndex('5732')] : [r.pick(merchants)], major, device, city);
      if (!spec) continue;
      this.pushFraud(t, card, spec);
      n++;
      t += 3_000 + r.exp(40_000);
    }
    return n;
  }

  private accountTakeover(card: number, size: number): number {
    const r = this.rng;
    const city = this.fraudCity(this.cHomeLat[card] as number, this.cHomeLon[card] as number, 800);
    const device = this.newFraudDevice();
    let t = this.clock + r.uniform(0, 60) * MIN;
    let n = 0;
    for (let i = 0; i < size; i++) {
      const probe = i === 0 && size > 1;
      const major = probe ? r.uniform(1, 10) : this.typical(card) * r.uniform(4, 15);
      const spec = this.onlineSpec('account_takeover', probe ? TESTING_CATS : HIGH_RISK_ONLINE.concat(categoryIndex('4511')), major, device, city);
      if (!spec) continue;
      this.pushFraud(t, card, spec);
      n++;
      t += r.uniform(5, 40) * MIN;
    }
    return n;
  }

  private impossibleTravel(card: number, at: number, lat: number, lon: number, size: number): number {
    const r = this.rng;
    const candidates = CITIES.map((_, i) => i).filter((i) => haversineKm(lat, lon, (CITIES[i] as City).lat, (CITIES[i] as City).lon) >= 1500);
    if (candidates.length === 0) return 0;
    const weights = cumulative(candidates.map((i) => (CITIES[i] as City).fraudWeight + 0.5 * (CITIES[i] as City).travelWeight));
    const city = candidates[r.weighted(weights)] as number;
    let t = Math.max(at, this.clock) + r.uniform(10, 120) * MIN;
    let n = 0;
    for (let i = 0; i < size; i++) {
      const spec = this.cardPresentSpec('impossible_travel', CLONED_CP_CATS, city, this.typical(card) * r.uniform(1, 6));
      if (!spec) continue;
      this.pushFraud(t, card, spec);
      n++;
      t += r.uniform(5, 45) * MIN;
    }
    return n;
  }

  /**
   * A breached merchant (a skimmer in the shop's terminal, a card-scraping script on its web checkout, or a
   * colluding owner): for two to four weeks, stolen cards are pushed through it, many different cards, at amounts
   * near each card's usual. Nothing about one transaction gives it away; its chargebacks arriving days later do.
   * Which merchant is drawn at random each time: no table of the world says which merchants get breached.
   */
  private compromisedMerchant(size: number): number {
    const r = this.rng;
    let merchant = -1;
    for (let i = 0; i < 20 && merchant < 0; i++) {
      const m = r.int(this.options.merchants);
      if (this.mChannel[m] !== ATM) merchant = m;
    }
    if (merchant < 0) return 0;
    this.breached.push({ merchantId: this.mId[merchant] as string, scheduled: size });
    const online = this.mChannel[merchant] === ECOM;
    const days = r.uniform(14, 28);
    // a web-checkout breach is worked from a handful of fraudsters' devices
    const devices = online ? [this.newFraudDevice(), this.newFraudDevice(), this.newFraudDevice()] : [null];
    const city = this.mCity[merchant] as number;
    const ci = CITIES[city] as City;
    for (let n = 0; n < size; n++) {
      // stolen card numbers from anywhere: a breach is many different cards
      const card = r.int(this.options.cards);
      const t = this.clock + r.uniform(0, days) * DAY;
      const amountMinor = Math.max(50, Math.round(this.typical(card) * r.uniform(0.7, 2.5) * 100));
      const [lat, lon] = online ? jitter(ci.lat, ci.lon, 15, r.next(), r.next()) : [this.mLat[merchant] as number, this.mLon[merchant] as number];
      this.pushFraud(t, card, { scenario: 'compromised_merchant', merchant, amountMinor, deviceId: r.pick(devices), lat, lon, country: ci.country });
    }
    return size;
  }

  private highAmountOutlier(card: number): number {
    const r = this.rng;
    const cum = this.cCatCum.subarray(card * NCAT, card * NCAT + NCAT);
    const weightOf = (k: number) => (cum[k] as number) - (k > 0 ? (cum[k - 1] as number) : 0);
    const cat = [...OUTLIER_CATS].sort((a, b) => weightOf(a) - weightOf(b) || a - b)[r.int(2)] as number;
    const c = CATEGORIES[cat] as Category;
    const major = Math.max(c.median, this.typical(card)) * (this.cAffluence[card] as number) * r.uniform(8, 25);
    const t = this.clock + r.uniform(0, 6) * HOUR;
    const home = this.cHome[card] as number;
    let spec: FraudSpec | undefined;
    const hasOnline = (this.onlineByCat[cat] as number[]).length > 0;
    if (hasOnline && (r.chance(0.5) || (this.cpCatCities[cat] as number[]).length === 0)) {
      spec = this.onlineSpec('high_amount_outlier', [cat], major, this.deviceId(card, 0), home);
      if (spec) [spec.lat, spec.lon] = jitter(this.cHomeLat[card] as number, this.cHomeLon[card] as number, 3, r.next(), r.next());
    } else spec = this.cardPresentSpec('high_amount_outlier', [cat], home, major);
    if (!spec) return 0;
    this.pushFraud(t, card, spec);
    return 1;
  }

  private bustOut(card: number, size: number): number {
    const r = this.rng;
    const span = r.uniform(24, 72) * HOUR;
    const start = this.clock + r.uniform(0, 4) * HOUR;
    const home = this.cHome[card] as number;
    const times = Array.from({ length: size }, () => start + r.next() * span).sort((a, b) => a - b);
    let n = 0;
    times.forEach((t, i) => {
      const major = this.typical(card) * (2 + (8 * i) / size) * r.logNormal(0, 0.3);
      const spec = r.chance(0.5)
        ? this.onlineSpec('bust_out', BUSTOUT_CATS.filter((k) => k !== ATM_CAT), major, this.deviceId(card, 0), home)
        : this.cardPresentSpec('bust_out', BUSTOUT_CATS, home, major);
      if (!spec) return;
      if (spec.deviceId !== null) [spec.lat, spec.lon] = jitter(this.cHomeLat[card] as number, this.cHomeLon[card] as number, 3, r.next(), r.next());
      this.pushFraud(t, card, spec);
      n++;
    });
    return n;
  }

  private nightAtmCashout(size: number): number {
    const r = this.rng;
    const cities = this.cpCatCities[ATM_CAT] as number[];
    if (cities.length === 0) return 0;
    const quiet = cities.filter((c) => (CITIES[c] as City).homeWeight < 3);
    const city = r.pick(quiet.length > 0 ? quiet : cities);
    const ci = CITIES[city] as City;
    // The next 02:00-04:30 local time in the target city.
    const local = this.clock + ci.tz * HOUR;
    let night = Math.floor(local / DAY) * DAY + 2 * HOUR - ci.tz * HOUR;
    if (night < this.clock) night += DAY;
    const atms = this.cpByCatCity.get(ATM_CAT * 256 + city) as number[];
    let n = 0;
    while (n < size) {
      const card = r.int(this.options.cards);
      let t = night + r.uniform(0, 2.5) * HOUR;
      const k = Math.min(size - n, r.between(2, 4));
      for (let i = 0; i < k; i++) {
        const m = r.pick(atms);
        const amount = r.pick([200, 250, 300, 400, 500]) * 100;
        this.pushFraud(t, card, { scenario: 'novel_night_atm_cashout', merchant: m, amountMinor: amount, deviceId: null, lat: this.mLat[m] as number, lon: this.mLon[m] as number, country: ci.country });
        n++;
        t += r.uniform(2, 12) * MIN;
      }
    }
    return n;
  }
}

function gauss(h: number, mu: number, w: number): number {
  let d = Math.abs(h - mu) % 24;
  if (d > 12) d = 24 - d;
  return Math.exp(-(d * d) / (2 * w * w));
}

/** The world as a stream: transactions in time order, each with its ground truth (or null). */
export function* generateStream(opts: WorldOptions): Generator<WorldEvent> {
  const world = new World(opts);
  for (;;) {
    const e = world.next();
    if (!e) return;
    yield e;
  }
}
