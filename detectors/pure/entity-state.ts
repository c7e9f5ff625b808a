/**
 * What the feature spec remembers about one entity (a card, a merchant, a device, ... and the global "*"): day
 * buckets of transaction count, amount sum, amount max and fraud labels, the entity's first and last time, its
 * recent counterparties, and fraud labels that arrived "early" (labeledAt after anything the entity has seen).
 *
 * Long windows without keeping every event: a 30-day window is a sum over at most 31 day buckets. Updates are
 * commutative (counts add, maxima max), so many detect members may fold transactions of one merchant in any order
 * and Redis applies them with the same rules (the Lua in feature-store/redis.ts mirrors applyTx/applyFraudLabel
 * here; the parity tests hold the two to identical vectors).
 *
 * Point in time for labels: a fraud label counts for a read at time t only when labeledAt <= t. A label whose
 * labeledAt is after the entity's last transaction waits in `pending` (read with that check) and is folded into
 * its day's bucket once the entity has seen a transaction at or after labeledAt.
 */
import { DAY_MS } from './feature-spec.ts';

export const ENTITY_LIMITS = {
  /** Recent counterparties kept per entity (least recently seen dropped): distinct counts saturate here. */
  counterparties: 64,
  /** Fraud labels waiting for their arrival time; past this the oldest is folded early. */
  pending: 256,
} as const;

export interface EntityState {
  /** Day indices (floor(ts / DAY_MS)) ascending, with parallel bucket columns. */
  days: number[];
  count: number[];
  sum: number[];
  max: number[];
  fraud: number[];
  firstTs: number;
  lastTs: number;
  /** Counterparty hashes ordered by when each was last seen (then by hash), oldest first. */
  cps: number[];
  cpTs: number[];
  /** Fraud labels not yet visible to every read: the labelled transaction's day and the label's arrival time. */
  pendDay: number[];
  pendAt: number[];
}

export function emptyEntityState(): EntityState {
  return { days: [], count: [], sum: [], max: [], fraud: [], firstTs: 0, lastTs: 0, cps: [], cpTs: [], pendDay: [], pendAt: [] };
}

export const dayOf = (ts: number): number => Math.floor(ts / DAY_MS);

/** Index of `day` in the buckets, creating an empty bucket in order when missing. */
function bucketAt(s: EntityState, day: number): number {
  let i = s.days.length - 1;
  while (i >= 0 && s.days[i] > day) i--;
  if (i >= 0 && s.days[i] === day) return i;
  const at = i + 1;
  s.days.splice(at, 0, day);
  s.count.splice(at, 0, 0);
  s.sum.splice(at, 0, 0);
  s.max.splice(at, 0, 0);
  s.fraud.splice(at, 0, 0);
  return at;
}

/** Drops buckets older than `retention` days before the entity's last day (and pending labels of those days). */
function prune(s: EntityState, retention: number): void {
  const horizon = dayOf(s.lastTs) - retention;
  let k = 0;
  while (k < s.days.length && s.days[k] < horizon) k++;
  if (k > 0) {
    s.days.splice(0, k);
    s.count.splice(0, k);
    s.sum.splice(0, k);
    s.max.splice(0, k);
    s.fraud.splice(0, k);
  }
  for (let i = s.pendDay.length - 1; i >= 0; i--) {
    if (s.pendDay[i] < horizon) {
      s.pendDay.splice(i, 1);
      s.pendAt.splice(i, 1);
    }
  }
}

/** Folds pending labels that every later read would count (labeledAt <= the entity's last time). */
function foldPending(s: EntityState): void {
  for (let i = 0; i < s.pendAt.length; ) {
    if (s.pendAt[i] <= s.lastTs) {
      s.fraud[bucketAt(s, s.pendDay[i])] += 1;
      s.pendDay.splice(i, 1);
      s.pendAt.splice(i, 1);
    } else i++;
  }
}

/** Folds one transaction in. `cp` is the counterparty's hash (0 = none). */
export function applyTx(s: EntityState, ts: number, amountMinor: number, cp: number, retention: number): void {
  const b = bucketAt(s, dayOf(ts));
  s.count[b] += 1;
  s.sum[b] += amountMinor;
  if (amountMinor > s.max[b]) s.max[b] = amountMinor;
  s.firstTs = s.firstTs === 0 ? ts : Math.min(s.firstTs, ts);
  if (ts > s.lastTs) s.lastTs = ts;
  if (cp !== 0) touchCounterparty(s, cp, ts);
  foldPending(s);
  prune(s, retention);
}

/**
 * Keeps counterparties ordered by (last seen, hash) and drops the oldest past the cap: a canonical order, so
 * applying the same transactions in any order (many writers, one Lua call per card) leaves the same list.
 */
function touchCounterparty(s: EntityState, cp: number, ts: number): void {
  const at = s.cps.indexOf(cp);
  let seen = ts;
  if (at >= 0) {
    seen = Math.max(seen, s.cpTs[at]);
    s.cps.splice(at, 1);
    s.cpTs.splice(at, 1);
  }
  let i = s.cps.length;
  while (i > 0 && (s.cpTs[i - 1] > seen || (s.cpTs[i - 1] === seen && s.cps[i - 1] > cp))) i--;
  s.cps.splice(i, 0, cp);
  s.cpTs.splice(i, 0, seen);
  if (s.cps.length > ENTITY_LIMITS.counterparties) {
    s.cps.shift();
    s.cpTs.shift();
  }
}

/** Counts one fraud label (already known to be the first for its transaction) against the transaction's day. */
export function applyFraudLabel(s: EntityState, txTs: number, labeledAt: number, retention: number): void {
  const day = dayOf(txTs);
  if (s.lastTs > 0 && day < dayOf(s.lastTs) - retention) return;
  if (labeledAt <= s.lastTs) {
    s.fraud[bucketAt(s, day)] += 1;
    return;
  }
  s.pendDay.push(day);
  s.pendAt.push(labeledAt);
  if (s.pendAt.length > ENTITY_LIMITS.pending) {
    let oldest = 0;
    for (let i = 1; i < s.pendAt.length; i++) if (s.pendAt[i] < s.pendAt[oldest]) oldest = i;
    s.fraud[bucketAt(s, s.pendDay[oldest])] += 1;
    s.pendDay.splice(oldest, 1);
    s.pendAt.splice(oldest, 1);
  }
}

export interface WindowTotals {
  count: number;
  sum: number;
  max: number;
  fraud: number;
}

/**
 * Totals over the day buckets in (lastDay - days, lastDay], fraud counting only labels visible at `now`.
 * With lastDay = today this is "today so far and the days before"; with lastDay = today - delay, the delayed window.
 */
export function windowTotals(s: EntityState, lastDay: number, days: number, now: number, out: WindowTotals): WindowTotals {
  out.count = 0;
  out.sum = 0;
  out.max = 0;
  out.fraud = 0;
  const first = lastDay - days;
  for (let i = s.days.length - 1; i >= 0; i--) {
    const d = s.days[i];
    if (d <= first) break;
    if (d > lastDay) continue;
    out.count += s.count[i];
    out.sum += s.sum[i];
    if (s.max[i] > out.max) out.max = s.max[i];
    out.fraud += s.fraud[i];
  }
  for (let i = 0; i < s.pendAt.length; i++) {
    if (s.pendAt[i] <= now && s.pendDay[i] > first && s.pendDay[i] <= lastDay) out.fraud += 1;
  }
  return out;
}

/** Counterparties last seen within `ms` before `now`. */
export function distinctSince(s: EntityState, now: number, ms: number): number {
  let n = 0;
  for (let i = 0; i < s.cpTs.length; i++) if (now - s.cpTs[i] < ms) n++;
  return n;
}

// ------------------------------------------------------------------ Redis hash form
// Fields: d<day> = <count f64><sum f64><max f64><fraud f64>; m = <firstTs f64><lastTs f64>;
// c = repeated <hash u32><ts f64>; p = repeated <day i32><labeledAt f64>. All little-endian (Lua struct '<').

/** Rebuilds a state from the hash fields Redis holds (HGETALL as buffers). */
export function entityStateFromHash(hash: Record<string, Uint8Array>, s: EntityState = emptyEntityState()): EntityState {
  return entityStateFromFields(Object.entries(hash), s);
}

/** The same from (field, value) pairs, as a packed read of many hashes yields them. */
export function entityStateFromFields(fields: Iterable<readonly [string, Uint8Array]>, s: EntityState = emptyEntityState()): EntityState {
  const hash: Record<string, Uint8Array> = {};
  const dayFields: Array<[number, Uint8Array]> = [];
  for (const [field, value] of fields) {
    if (field.charCodeAt(0) === 100 /* d */) dayFields.push([Number(field.slice(1)), value]);
    else hash[field] = value;
  }
  dayFields.sort((a, b) => a[0] - b[0]);
  for (const [day, v] of dayFields) pushDay(s, day, view(v), 0);
  if (hash.m) readTimes(s, view(hash.m), 0);
  if (hash.c) pushCounterparties(s, view(hash.c), 0, hash.c.byteLength);
  if (hash.p) pushPending(s, view(hash.p), 0, hash.p.byteLength);
  return s;
}

// The fields' layouts (above), read at an offset of a view: shared by the pairs reader and the in-place one.
function pushDay(s: EntityState, day: number, dv: DataView, at: number): void {
  s.days.push(day);
  s.count.push(dv.getFloat64(at, true));
  s.sum.push(dv.getFloat64(at + 8, true));
  s.max.push(dv.getFloat64(at + 16, true));
  s.fraud.push(dv.getFloat64(at + 24, true));
}

function readTimes(s: EntityState, dv: DataView, at: number): void {
  s.firstTs = dv.getFloat64(at, true);
  s.lastTs = dv.getFloat64(at + 8, true);
}

function pushCounterparties(s: EntityState, dv: DataView, at: number, len: number): void {
  for (let k = 0; k + 12 <= len; k += 12) {
    s.cps.push(dv.getUint32(at + k, true));
    s.cpTs.push(dv.getFloat64(at + k + 4, true));
  }
}

function pushPending(s: EntityState, dv: DataView, at: number, len: number): void {
  for (let k = 0; k + 12 <= len; k += 12) {
    s.pendDay.push(dv.getInt32(at + k, true));
    s.pendAt.push(dv.getFloat64(at + k + 4, true));
  }
}

// Scratch columns of entityStateFromPackedAt (synchronous, so one set serves every call).
const scratchDays: number[] = [];
const scratchAt: number[] = [];

/**
 * The same as entityStateFromFields, read in place from a packed read of entity hashes (feature-store/redis.ts
 * READ_ENTITIES_BUFFER: a u32 field count, then per field a u32 name length, the name, a u32 value length, the value;
 * little endian): no name strings, no sub-buffers, no pairs. Fills `s` and returns the offset after the entity.
 */
export function entityStateFromPackedAt(dv: DataView, at: number, s: EntityState): number {
  const n = dv.getUint32(at, true);
  let o = at + 4;
  scratchDays.length = 0;
  scratchAt.length = 0;
  let m = -1;
  let c = -1;
  let cLen = 0;
  let p = -1;
  let pLen = 0;
  for (let f = 0; f < n; f++) {
    const nameLen = dv.getUint32(o, true);
    const name = o + 4;
    o = name + nameLen;
    const valueLen = dv.getUint32(o, true);
    const value = o + 4;
    o = value + valueLen;
    const first = nameLen > 0 ? dv.getUint8(name) : -1;
    if (first === 100 /* d */) {
      scratchDays.push(dayFieldNumber(dv, name, nameLen));
      scratchAt.push(value);
    } else if (nameLen === 1 && first === 109 /* m */) m = value;
    else if (nameLen === 1 && first === 99 /* c */) {
      c = value;
      cLen = valueLen;
    } else if (nameLen === 1 && first === 112 /* p */) {
      p = value;
      pLen = valueLen;
    }
  }
  // Insertion sort by day, both columns together (a hash's fields come nearly in order).
  for (let i = 1; i < scratchDays.length; i++) {
    const day = scratchDays[i]!;
    const where = scratchAt[i]!;
    let j = i - 1;
    while (j >= 0 && scratchDays[j]! > day) {
      scratchDays[j + 1] = scratchDays[j]!;
      scratchAt[j + 1] = scratchAt[j]!;
      j--;
    }
    scratchDays[j + 1] = day;
    scratchAt[j + 1] = where;
  }
  for (let i = 0; i < scratchDays.length; i++) pushDay(s, scratchDays[i]!, dv, scratchAt[i]!);
  if (m >= 0) readTimes(s, dv, m);
  if (c >= 0) pushCounterparties(s, dv, c, cLen);
  if (p >= 0) pushPending(s, dv, p, pLen);
  return o;
}

/** Number(name.slice(1)) of a day field's name, from its bytes (digits only; anything else goes through the string). */
function dayFieldNumber(dv: DataView, name: number, nameLen: number): number {
  let day = 0;
  for (let i = 1; i < nameLen; i++) {
    const ch = dv.getUint8(name + i);
    if (ch < 48 || ch > 57 || nameLen > 16) {
      let text = '';
      for (let k = 1; k < nameLen; k++) text += String.fromCharCode(dv.getUint8(name + k));
      return Number(text);
    }
    day = day * 10 + (ch - 48);
  }
  return day;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
