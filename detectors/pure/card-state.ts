/**
 * Everything the feature definition remembers about one card: small and bounded whatever the card's traffic.
 * Encoded to a compact binary blob for Redis; the in-memory store keeps the object itself. Every number that
 * feeds a feature is stored as float64 so encode/decode is lossless and both stores give identical vectors.
 */

export const LIMITS = {
  /** Recent events kept for the windows (only those within the longest window, 24 h). Counts saturate here. */
  events: 64,
  devices: 8,
  countries: 8,
  merchants: 32,
  /** Applied transaction ids (idempotency) and stored vectors (history for the heavy model). */
  applied: 32,
} as const;

export interface CardState {
  /** Transactions applied so far. */
  n: number;
  firstTs: number;
  lastTs: number;
  lastLat: number;
  lastLon: number;
  /** Country of the card's first transaction, packed (0 = none yet). */
  homeCountry: number;
  /** Welford running mean and M2 of log1p(amount in major units). */
  meanLog: number;
  m2Log: number;
  sumAmount: number;
  /** Recent events, oldest first (parallel arrays). */
  evTs: number[];
  evAmount: number[];
  evMerchant: number[];
  evCountry: number[];
  evDevice: number[];
  /** Known identities, least recently seen first (LRU order). */
  devices: number[];
  countries: number[];
  merchants: number[];
  /** txKey of the last applied transactions, oldest first. */
  applied: number[];
}

export function emptyCardState(): CardState {
  return {
    n: 0,
    firstTs: 0,
    lastTs: 0,
    lastLat: 0,
    lastLon: 0,
    homeCountry: 0,
    meanLog: 0,
    m2Log: 0,
    sumAmount: 0,
    evTs: [],
    evAmount: [],
    evMerchant: [],
    evCountry: [],
    evDevice: [],
    devices: [],
    countries: [],
    merchants: [],
    applied: [],
  };
}

const FORMAT = 1;
const SCALARS = 9;

/** Bytes encodeCardState writes for this state. */
export function cardStateSize(s: CardState): number {
  return 1 + 6 + SCALARS * 8 + s.evTs.length * 26 + s.devices.length * 4 + s.countries.length * 2 + s.merchants.length * 4 + s.applied.length * 8;
}

/** Packs a card state: [format u8][counts u8 x6][scalars f64][events][sets] little-endian. */
export function encodeCardState(s: CardState): Uint8Array {
  const buf = new Uint8Array(cardStateSize(s));
  encodeCardStateInto(s, new DataView(buf.buffer), 0);
  return buf;
}

/** encodeCardState into `dv` at byte `o` (the online store packs a whole batch into one buffer); returns the end. */
export function encodeCardStateInto(s: CardState, dv: DataView, o: number): number {
  const ne = s.evTs.length;
  dv.setUint8(o, FORMAT);
  dv.setUint8(o + 1, ne);
  dv.setUint8(o + 2, s.devices.length);
  dv.setUint8(o + 3, s.countries.length);
  dv.setUint8(o + 4, s.merchants.length);
  dv.setUint8(o + 5, s.applied.length);
  dv.setUint8(o + 6, 0);
  o += 7;
  dv.setFloat64(o, s.n, true);
  dv.setFloat64(o + 8, s.firstTs, true);
  dv.setFloat64(o + 16, s.lastTs, true);
  dv.setFloat64(o + 24, s.lastLat, true);
  dv.setFloat64(o + 32, s.lastLon, true);
  dv.setFloat64(o + 40, s.homeCountry, true);
  dv.setFloat64(o + 48, s.meanLog, true);
  dv.setFloat64(o + 56, s.m2Log, true);
  dv.setFloat64(o + 64, s.sumAmount, true);
  o += SCALARS * 8;
  for (let i = 0; i < ne; i++) {
    dv.setFloat64(o, s.evTs[i], true);
    dv.setFloat64(o + 8, s.evAmount[i], true);
    dv.setUint32(o + 16, s.evMerchant[i], true);
    dv.setUint16(o + 20, s.evCountry[i], true);
    dv.setUint32(o + 22, s.evDevice[i], true);
    o += 26;
  }
  for (let i = 0; i < s.devices.length; i++, o += 4) dv.setUint32(o, s.devices[i], true);
  for (let i = 0; i < s.countries.length; i++, o += 2) dv.setUint16(o, s.countries[i], true);
  for (let i = 0; i < s.merchants.length; i++, o += 4) dv.setUint32(o, s.merchants[i], true);
  for (let i = 0; i < s.applied.length; i++, o += 8) dv.setFloat64(o, s.applied[i], true);
  return o;
}

export function decodeCardState(buf: Uint8Array): CardState {
  return decodeCardStateInto(buf, emptyCardState());
}

/**
 * decodeCardState into an existing state object, reusing its arrays: the online store decodes hundreds of cards
 * per batch, and fresh arrays for each were most of its garbage.
 */
export function decodeCardStateInto(buf: Uint8Array, s: CardState): CardState {
  return decodeCardStateAt(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0, s);
}

/** Decodes the state packed at byte `at` of `dv` into `s` (a reply holding many cards is read without slicing it). */
export function decodeCardStateAt(dv: DataView, at: number, s: CardState): CardState {
  const format = dv.getUint8(at);
  if (format !== FORMAT) throw new Error(`card state format ${format} is not supported (expected ${FORMAT})`);
  const ne = dv.getUint8(at + 1);
  const nd = dv.getUint8(at + 2);
  const nc = dv.getUint8(at + 3);
  const nm = dv.getUint8(at + 4);
  const na = dv.getUint8(at + 5);
  let o = at + 7;
  s.n = dv.getFloat64(o, true);
  s.firstTs = dv.getFloat64(o + 8, true);
  s.lastTs = dv.getFloat64(o + 16, true);
  s.lastLat = dv.getFloat64(o + 24, true);
  s.lastLon = dv.getFloat64(o + 32, true);
  s.homeCountry = dv.getFloat64(o + 40, true);
  s.meanLog = dv.getFloat64(o + 48, true);
  s.m2Log = dv.getFloat64(o + 56, true);
  s.sumAmount = dv.getFloat64(o + 64, true);
  const { evTs, evAmount, evMerchant, evCountry, evDevice, devices, countries, merchants, applied } = s;
  // Only ever shortened here; the loops below then write in order, so a longer list grows without holes.
  truncate(evTs, ne);
  truncate(evAmount, ne);
  truncate(evMerchant, ne);
  truncate(evCountry, ne);
  truncate(evDevice, ne);
  truncate(devices, nd);
  truncate(countries, nc);
  truncate(merchants, nm);
  truncate(applied, na);
  o += SCALARS * 8;
  for (let i = 0; i < ne; i++, o += 26) {
    evTs[i] = dv.getFloat64(o, true);
    evAmount[i] = dv.getFloat64(o + 8, true);
    evMerchant[i] = dv.getUint32(o + 16, true);
    evCountry[i] = dv.getUint16(o + 20, true);
    evDevice[i] = dv.getUint32(o + 22, true);
  }
  for (let i = 0; i < nd; i++, o += 4) devices[i] = dv.getUint32(o, true);
  for (let i = 0; i < nc; i++, o += 2) countries[i] = dv.getUint16(o, true);
  for (let i = 0; i < nm; i++, o += 4) merchants[i] = dv.getUint32(o, true);
  for (let i = 0; i < na; i++, o += 8) applied[i] = dv.getFloat64(o, true);
  return s;
}

function truncate(list: number[], n: number): void {
  while (list.length > n) list.pop();
}

/** Makes `s` an empty state again, keeping its arrays (see decodeCardStateInto). */
export function resetCardState(s: CardState): CardState {
  s.n = 0;
  s.firstTs = 0;
  s.lastTs = 0;
  s.lastLat = 0;
  s.lastLon = 0;
  s.homeCountry = 0;
  s.meanLog = 0;
  s.m2Log = 0;
  s.sumAmount = 0;
  s.evTs.length = 0;
  s.evAmount.length = 0;
  s.evMerchant.length = 0;
  s.evCountry.length = 0;
  s.evDevice.length = 0;
  s.devices.length = 0;
  s.countries.length = 0;
  s.merchants.length = 0;
  s.applied.length = 0;
  return s;
}

