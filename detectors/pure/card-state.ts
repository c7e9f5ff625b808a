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

/** Packs a card state: [format u8][counts u8 x6][scalars f64][events][sets] little-endian. */
export function encodeCardState(s: CardState): Uint8Array {
  const ne = s.evTs.length;
  const size = 1 + 6 + SCALARS * 8 + ne * (8 + 8 + 4 + 2 + 4) + s.devices.length * 4 + s.countries.length * 2 + s.merchants.length * 4 + s.applied.length * 8;
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  let o = 0;
  dv.setUint8(o++, FORMAT);
  for (const len of [ne, s.devices.length, s.countries.length, s.merchants.length, s.applied.length, 0]) dv.setUint8(o++, len);
  for (const v of [s.n, s.firstTs, s.lastTs, s.lastLat, s.lastLon, s.homeCountry, s.meanLog, s.m2Log, s.sumAmount]) {
    dv.setFloat64(o, v, true);
    o += 8;
  }
  for (let i = 0; i < ne; i++) {
    dv.setFloat64(o, s.evTs[i], true);
    dv.setFloat64(o + 8, s.evAmount[i], true);
    dv.setUint32(o + 16, s.evMerchant[i], true);
    dv.setUint16(o + 20, s.evCountry[i], true);
    dv.setUint32(o + 22, s.evDevice[i], true);
    o += 26;
  }
  for (const d of s.devices) {
    dv.setUint32(o, d, true);
    o += 4;
  }
  for (const c of s.countries) {
    dv.setUint16(o, c, true);
    o += 2;
  }
  for (const m of s.merchants) {
    dv.setUint32(o, m, true);
    o += 4;
  }
  for (const a of s.applied) {
    dv.setFloat64(o, a, true);
    o += 8;
  }
  return buf;
}

export function decodeCardState(buf: Uint8Array): CardState {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  const format = dv.getUint8(o++);
  if (format !== FORMAT) throw new Error(`card state format ${format} is not supported (expected ${FORMAT})`);
  const [ne, nd, nc, nm, na] = [0, 1, 2, 3, 4].map(() => dv.getUint8(o++)) as [number, number, number, number, number];
  o++;
  const sc: number[] = [];
  for (let i = 0; i < SCALARS; i++, o += 8) sc.push(dv.getFloat64(o, true));
  const s = emptyCardState();
  [s.n, s.firstTs, s.lastTs, s.lastLat, s.lastLon, s.homeCountry, s.meanLog, s.m2Log, s.sumAmount] = sc as [
    number, number, number, number, number, number, number, number, number,
  ];
  for (let i = 0; i < ne; i++, o += 26) {
    s.evTs.push(dv.getFloat64(o, true));
    s.evAmount.push(dv.getFloat64(o + 8, true));
    s.evMerchant.push(dv.getUint32(o + 16, true));
    s.evCountry.push(dv.getUint16(o + 20, true));
    s.evDevice.push(dv.getUint32(o + 22, true));
  }
  for (let i = 0; i < nd; i++, o += 4) s.devices.push(dv.getUint32(o, true));
  for (let i = 0; i < nc; i++, o += 2) s.countries.push(dv.getUint16(o, true));
  for (let i = 0; i < nm; i++, o += 4) s.merchants.push(dv.getUint32(o, true));
  for (let i = 0; i < na; i++, o += 8) s.applied.push(dv.getFloat64(o, true));
  return s;
}

export function cloneCardState(s: CardState): CardState {
  return {
    ...s,
    evTs: [...s.evTs],
    evAmount: [...s.evAmount],
    evMerchant: [...s.evMerchant],
    evCountry: [...s.evCountry],
    evDevice: [...s.evDevice],
    devices: [...s.devices],
    countries: [...s.countries],
    merchants: [...s.merchants],
    applied: [...s.applied],
  };
}
