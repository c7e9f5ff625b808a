import type { Redis } from 'ioredis';
import { isCluster } from '../../core/redis.ts';
import type { Label, Transaction } from '../../core/contracts.ts';
import { FraudstreamError, ErrorCodes } from '../../core/errors.ts';
import type { FeatureStatePeek, FeatureStore, FeatureVector, FeatureVectors } from '../types.ts';
import { LIMITS, cardStateSize, decodeCardState, decodeCardStateAt, emptyCardState, encodeCardStateInto, resetCardState, type CardState } from '../pure/card-state.ts';
import { decodeHistoryEntry, encodeHistoryEntryInto, historyEntrySize, lastBefore, runBatch, vectorWithoutApplying, type EntityAccess, type HistoryEntry } from '../pure/batch.ts';
import { defaultFeatureContext, type FeatureContext } from '../pure/features.ts';
import { CompiledSpec, countsForRisk, GLOBAL_ENTITY } from '../pure/entity-features.ts';
import { dayOf, emptyEntityState, ENTITY_LIMITS, entityStateFromHash, entityStateFromPackedAt, type EntityState } from '../pure/entity-state.ts';
import { DEFAULT_FEATURE_SPEC, type FeatureSpec } from '../pure/feature-spec.ts';
import { featureCardKey, featureEntityKey, featureLabelKey, featureNewCardsKey, NEW_CARDS_TTL_SECONDS } from '../../state/features.ts';
import { capScopes, DEFAULT_NEW_CARD_CAP, hitOf, minuteOf, type CapHit, type NewCardCapOptions } from '../pure/new-card-cap.ts';

/**
 * Reads state, version and TTL-refresh time of every card key in one call and returns them packed in one string,
 * per card [version f64][ttl set at f64][state length u32][state]: one reply buffer to slice instead of a nested
 * array of small replies.
 */
const READ_LUA = `
local out = {}
for i, k in ipairs(KEYS) do
  local r = redis.call('HMGET', k, 's', 'v', 'e')
  local s = r[1] or ''
  out[2 * i - 1] = struct.pack('<ddI4', tonumber(r[2]) or 0, tonumber(r[3]) or 0, #s)
  out[2 * i] = s
end
return table.concat(out)
`;

/**
 * Every field of every entity hash in KEYS, packed in one string: per key [field count u32] then per field
 * [name length u32][name][value length u32][value]. One reply to slice instead of a thousand small objects.
 */
const READ_ENTITIES_LUA = `
local out = {}
for i, k in ipairs(KEYS) do
  local r = redis.call('HGETALL', k)
  local parts = {struct.pack('<I4', #r / 2)}
  for j = 1, #r, 2 do
    parts[#parts + 1] = struct.pack('<I4', #r[j]) .. r[j] .. struct.pack('<I4', #r[j + 1]) .. r[j + 1]
  end
  out[i] = table.concat(parts)
end
return table.concat(out)
`;

/**
 * Lua twins of detectors/pure/entity-state.ts (applyTx folded over a whole call, applyFraudLabel): same buckets, same
 * fold and prune rules, so Redis holds what the memory store computes. Fields: d<day> = <count sum max fraud> f64,
 * m = <firstTs lastTs> f64, c = repeated <hash u32><ts f64>, p = repeated <day i32><labeledAt f64>, o = oldest day.
 */
const ENTITY_LUA = `
local DAY = 86400000
local function bumpFraud(k, day, o)
  local f = 'd' .. day
  local old = redis.call('HGET', k, f)
  local c, s, m, fr = 0, 0, 0, 0
  if old then c, s, m, fr = struct.unpack('<dddd', old) end
  redis.call('HSET', k, f, struct.pack('<dddd', c, s, m, fr + 1))
  if o == nil or day < o then redis.call('HSET', k, 'o', day) return day end
  return o
end
local function prune(k, last, retention, o)
  local horizon = math.floor(last / DAY) - retention
  if o == nil or o >= horizon then return end
  local fields = redis.call('HKEYS', k)
  local oldest = nil
  for _, f in ipairs(fields) do
    if string.sub(f, 1, 1) == 'd' then
      local d = tonumber(string.sub(f, 2))
      if d < horizon then redis.call('HDEL', k, f) elseif oldest == nil or d < oldest then oldest = d end
    end
  end
  if oldest == nil then redis.call('HDEL', k, 'o') else redis.call('HSET', k, 'o', oldest) end
end
local function applyEntity(k, b, pos, ttl)
  local o = tonumber(redis.call('HGET', k, 'o') or 'x')
  local nd
  nd, pos = struct.unpack('<H', b, pos)
  for j = 1, nd do
    local day, c, s, m
    day, c, s, m, pos = struct.unpack('<i4ddd', b, pos)
    local f = 'd' .. day
    local old = redis.call('HGET', k, f)
    local oc, os, om, ofr = 0, 0, 0, 0
    if old then oc, os, om, ofr = struct.unpack('<dddd', old) end
    if m > om then om = m end
    redis.call('HSET', k, f, struct.pack('<dddd', oc + c, os + s, om, ofr))
    if o == nil or day < o then o = day redis.call('HSET', k, 'o', day) end
  end
  local minTs, maxTs, ncp, cap, retention
  minTs, maxTs, ncp, cap, retention, pos = struct.unpack('<ddHHH', b, pos)
  local meta = redis.call('HGET', k, 'm')
  local first, last = 0, 0
  if meta then first, last = struct.unpack('<dd', meta) end
  if first == 0 then first = minTs elseif minTs < first then first = minTs end
  if maxTs > last then last = maxTs end
  redis.call('HSET', k, 'm', struct.pack('<dd', first, last))
  if ncp > 0 then
    local raw = redis.call('HGET', k, 'c') or ''
    local cps, cts = {}, {}
    local q = 1
    while q + 11 <= #raw do
      local h, t
      h, t, q = struct.unpack('<I4d', raw, q)
      cps[#cps + 1] = h
      cts[#cts + 1] = t
    end
    for j = 1, ncp do
      local h, t
      h, t, pos = struct.unpack('<I4d', b, pos)
      for x = 1, #cps do
        if cps[x] == h then
          if cts[x] > t then t = cts[x] end
          table.remove(cps, x)
          table.remove(cts, x)
          break
        end
      end
      local at = #cps + 1
      while at > 1 and (cts[at - 1] > t or (cts[at - 1] == t and cps[at - 1] > h)) do at = at - 1 end
      table.insert(cps, at, h)
      table.insert(cts, at, t)
      if #cps > cap then
        table.remove(cps, 1)
        table.remove(cts, 1)
      end
    end
    local parts = {}
    for x = 1, #cps do parts[x] = struct.pack('<I4d', cps[x], cts[x]) end
    redis.call('HSET', k, 'c', table.concat(parts))
  end
  local horizon = math.floor(last / DAY) - retention
  local pend = redis.call('HGET', k, 'p')
  if pend and #pend > 0 then
    local keep = {}
    local q = 1
    while q + 11 <= #pend do
      local d, at
      d, at, q = struct.unpack('<i4d', pend, q)
      if d < horizon then
      elseif at <= last then o = bumpFraud(k, d, o)
      else keep[#keep + 1] = struct.pack('<i4d', d, at) end
    end
    redis.call('HSET', k, 'p', table.concat(keep))
  end
  prune(k, last, retention, o)
  if ttl > 0 then redis.call('EXPIRE', k, ttl) end
  return pos
end
`;

/**
 * Counts fraud labels: per label, the claim key (first fraud label of a transaction) then its entity keys.
 * ARGV[1] = ttl, ARGV[2] = pending cap, ARGV[3] = one buffer, per label: [entity count u8][day i32][labeledAt f64]
 * then per entity [retention u16]. Returns how many labels counted.
 */
const LABEL_ENTITY_FN = `
local function labelEntity(k, day, at, retention, ttl, cap)
  local o = tonumber(redis.call('HGET', k, 'o') or 'x')
  local meta = redis.call('HGET', k, 'm')
  local first, last = 0, 0
  if meta then first, last = struct.unpack('<dd', meta) end
  if last > 0 and day < math.floor(last / DAY) - retention then
  elseif at <= last then bumpFraud(k, day, o)
  else
    local pend = redis.call('HGET', k, 'p') or ''
    pend = pend .. struct.pack('<i4d', day, at)
    if #pend > cap * 12 then
      local best, bestAt, q = nil, nil, 1
      local items = {}
      while q + 11 <= #pend do
        local d, a
        d, a, q = struct.unpack('<i4d', pend, q)
        items[#items + 1] = {d, a}
        if bestAt == nil or a < bestAt then best, bestAt = #items, a end
      end
      bumpFraud(k, items[best][1], o)
      table.remove(items, best)
      local parts = {}
      for x = 1, #items do parts[x] = struct.pack('<i4d', items[x][1], items[x][2]) end
      pend = table.concat(parts)
    end
    redis.call('HSET', k, 'p', pend)
  end
  if ttl > 0 then redis.call('EXPIRE', k, ttl) end
end
`;

const LABEL_LUA = `
local ttl = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local b = ARGV[3]
` + ENTITY_LUA + LABEL_ENTITY_FN + `
local pos = 1
local ki = 1
local counted = 0
while pos <= #b do
  local n, day, at
  n, day, at, pos = struct.unpack('<Bi4d', b, pos)
  local claim = KEYS[ki]
  ki = ki + 1
  local fresh = redis.call('SET', claim, '1', 'NX', 'EX', math.max(ttl, 86400))
  if fresh then counted = counted + 1 end
  for j = 1, n do
    local retention
    retention, pos = struct.unpack('<H', b, pos)
    local k = KEYS[ki]
    ki = ki + 1
    if fresh then labelEntity(k, day, at, retention, ttl, cap) end
  end
end
return counted
`;

/**
 * Redis Cluster: one entity's share of a fraud label whose claim was won (the claim is its own key, in another slot).
 * KEYS[1] = the entity hash; ARGV = ttl, pending cap, day, labeledAt, retention.
 */
const LABEL_ENTITY_LUA = ENTITY_LUA + LABEL_ENTITY_FN + `
labelEntity(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[1]), tonumber(ARGV[2]))
return 1
`;

/** Redis Cluster: one entity's summed deltas of a call (KEYS[1]; ARGV = ttl, the entity's deltas as encodeEntityDeltas writes them). */
const ENTITY_APPLY_LUA = ENTITY_LUA + `
applyEntity(KEYS[1], ARGV[2], 1, tonumber(ARGV[1]))
return 1
`;

/**
 * Writes each card's new state and history ring slots if nobody wrote any of the call's cards since we read them
 * (optimistic concurrency on a version counter), then adds the call's entity deltas (KEYS after the cards);
 * returns 1 (written) or 0 (conflict: nothing written) per card.
 * ARGV[4] = the entity deltas (see encodeEntityDeltas), ARGV[5] = the number of card keys.
 * ARGV[1] = ttl, ARGV[2] = now (s), ARGV[3] = one buffer, per card key: [expected version f64][state length u32]
 * [slot count u8][refresh ttl u8][state] then per slot [slot u8][entry length u32][entry]. One argument instead of
 * thousands: the client encodes one buffer and Redis parses one bulk string. The TTL is refreshed (and its time
 * kept in field e) only when the client asks, about every ttl/64, not on every write.
 */
const WRITE_LUA = `
local ttl = tonumber(ARGV[1])
local now = ARGV[2]
local buf = ARGV[3]
local ebuf = ARGV[4]
local ncards = tonumber(ARGV[5])
local H = {}
for j = 0, 31 do H[j] = 'h' .. j end
local out = {}
-- all or nothing: entity deltas sum this call's cards, so one conflicted card leaves the whole call unwritten
local pos = 1
local ok = true
for i = 1, ncards do
  local expected, slen, n, refresh
  expected, slen, n, refresh, pos = struct.unpack('<dI4BB', buf, pos)
  pos = pos + slen
  for j = 1, n do
    local slot, elen
    slot, elen, pos = struct.unpack('<BI4', buf, pos)
    pos = pos + elen
  end
  local v = tonumber(redis.call('HGET', KEYS[i], 'v') or '0')
  if v ~= expected then ok = false end
end
if not ok then
  for i = 1, ncards do out[i] = 0 end
  return out
end
pos = 1
for i = 1, ncards do
  local k = KEYS[i]
  local expected, slen, n, refresh
  expected, slen, n, refresh, pos = struct.unpack('<dI4BB', buf, pos)
  local state = string.sub(buf, pos, pos + slen - 1)
  pos = pos + slen
  local args = {'v', expected + 1, 's', state}
  if refresh == 1 then
    args[#args + 1] = 'e'
    args[#args + 1] = now
  end
  for j = 1, n do
    local slot, elen
    slot, elen, pos = struct.unpack('<BI4', buf, pos)
    args[#args + 1] = H[slot]
    args[#args + 1] = string.sub(buf, pos, pos + elen - 1)
    pos = pos + elen
  end
  redis.call('HSET', k, unpack(args))
  if refresh == 1 then redis.call('EXPIRE', k, ttl) end
  out[i] = 1
end
` + ENTITY_LUA + `
local epos = 1
for i = ncards + 1, #KEYS do epos = applyEntity(KEYS[i], ebuf, epos, ttl) end
return out
`;

/**
 * The Lua twin of NewCardCap.check (detectors/pure/new-card-cap.ts), for a batch's transactions of cards with no
 * stored state, in order. KEYS: per item its scope keys (hash per scope-minute: the cards it admitted). ARGV[1] = cap,
 * ARGV[2] = the hashes' TTL, then per item [scope count, card id]. A card admitted earlier in the call is not asked
 * again (the batch applies its transaction, so it has state). Answers per item 0 (admitted) or the 1-based index of
 * the first scope over the cap.
 */
const NEW_CARD_LUA = `
local cap = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local admitted = {}
local out = {}
local ki = 1
local a = 3
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local card = ARGV[a + 1]
  a = a + 2
  local hit = 0
  if admitted[card] then
    ki = ki + n
  else
    for j = 1, n do
      local k = KEYS[ki]
      ki = ki + 1
      if redis.call('HEXISTS', k, card) == 0 then
        local len = redis.call('HLEN', k)
        if len >= cap then
          if hit == 0 then hit = j end
        else
          redis.call('HSET', k, card, '1')
          if len == 0 then redis.call('EXPIRE', k, ttl) end
        end
      end
    end
    if hit == 0 then admitted[card] = true end
  end
  out[#out + 1] = hit
end
return out
`;

const NEW_CARD = 'fraudstreamFeatureNewCardV1';
const READ = 'fraudstreamFeatureReadV2';
const LABEL = 'fraudstreamFeatureLabelV1';
const READ_ENTITIES = 'fraudstreamFeatureReadEntitiesV1';
const READ_ENTITIES_BUFFER = `${READ_ENTITIES}Buffer` as const;
/** Bounds the reused card states kept between passes (a few batches' worth). */
const MAX_SPARE_STATES = 8_192;
const WRITE = 'fraudstreamFeatureWriteV3';
const LABEL_ENTITY = 'fraudstreamFeatureLabelEntityV1';
const ENTITY_APPLY = 'fraudstreamFeatureEntityApplyV1';

/** ioredis adds a `<name>Buffer` twin to every defined command: replies stay binary. */
const READ_BUFFER = `${READ}Buffer` as const;

/** The defined scripts as pipeline methods (they queue; exec() sends them all). */
interface Scripts {
  [READ_BUFFER](keyCount: number, ...keys: string[]): void;
  [WRITE](keyCount: number, ...args: Array<string | number | Buffer>): void;
  [LABEL](keyCount: number, ...args: Array<string | number | Buffer>): void;
  [READ_ENTITIES_BUFFER](keyCount: number, ...keys: string[]): void;
  [LABEL_ENTITY](keyCount: number, ...args: Array<string | number>): void;
  [ENTITY_APPLY](keyCount: number, ...args: Array<string | number | Buffer>): void;
  set(...args: Array<string | number>): void;
}

type Pipe = Scripts & { exec(): Promise<Array<[Error | null, unknown]> | null> };

export interface RedisFeatureStoreOptions {
  /** config.redis.keyPrefix */
  keyPrefix: string;
  ctx?: FeatureContext;
  /** The feature spec whose entity features this store computes (default: DEFAULT_FEATURE_SPEC). */
  spec?: FeatureSpec;
  /**
   * Idle card state expires this many seconds after its last write (0 keeps it forever). The TTL is refreshed at
   * most every ttl/64 (an EXPIRE per write costs more than the rest of it), so a card expires between 98.4% and 100%
   * of this after its last write.
   */
  ttlSeconds?: number;
  /** Wall clock in seconds (tests move it). */
  nowSeconds?: () => number;
  /** Optimistic-write attempts when another writer touched the same card mid-batch. */
  maxAttempts?: number;
  /** The new-card cap (default DEFAULT_NEW_CARD_CAP; perMinute 0 turns it off). Its hashes share one hash slot. */
  newCardCap?: NewCardCapOptions;
  /**
   * Cards per script call. Default: the whole batch in one call (a single Redis). On Redis Cluster (a Cluster
   * client) it is always 1, and entity deltas and label counts go in calls of their own (see `sharded`).
   */
  cardsPerScript?: number;
}

/**
 * The online store. A batch costs two round trips whatever its size (read every card's state, write every changed
 * card), plus one more only when it holds transactions applied by an earlier batch (their first vector is read
 * back from history).
 *
 * One hash per card, `<prefix>feat:{<cardId>}` (hash-tagged by card for Redis Cluster): field s = packed state,
 * v = write version, h0..h31 = a ring of packed [txKey, ts, seq, vector] history entries (slot = seq mod 32).
 */
/** What one read of the store found: per card (by `slot`) its state, version and TTL time; the entities by name. */
interface StateRead {
  slot: Map<string, number>;
  keys: string[];
  states: CardState[];
  versions: Float64Array;
  ttlSetAt: Float64Array;
  entities: Map<string, EntityState>;
  /** Set once a pass used it: its states go back to the spare pool then, so it must not serve another pass. */
  used: boolean;
}

export class RedisFeatureStore implements FeatureStore, FeatureStatePeek {
  private readonly ctx: FeatureContext;
  private readonly ttl: number;
  private readonly refreshAfter: number;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly perScript: number;
  private readonly cap: NewCardCapOptions;
  /**
   * Redis Cluster: a script touches one key's slot only. Card writes go one card per call, and the entity deltas of
   * the cards written go afterwards, one call per entity; a label's claim is won first, then each of its entities is
   * counted in a call of its own. Not one atomic step as on a single node: a crash between the two leaves the
   * entities short of that batch (never counted twice: card state and the label claim are the idempotency keys).
   */
  private readonly sharded: boolean;
  readonly compiled: CompiledSpec;
  /** Cards whose optimistic write lost to another writer and were recomputed (a metric, not an error). */
  conflicts = 0;
  /** Card state objects from finished passes, decoded into again by the next (concurrent passes take different ones). */
  private readonly spare: CardState[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisFeatureStoreOptions,
  ) {
    this.ctx = opts.ctx ?? defaultFeatureContext;
    this.compiled = new CompiledSpec(opts.spec ?? DEFAULT_FEATURE_SPEC);
    this.ttl = opts.ttlSeconds ?? 90 * 24 * 3600;
    this.refreshAfter = Math.max(1, Math.floor(this.ttl / 64));
    this.now = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.sharded = isCluster(redis);
    this.perScript = this.sharded ? 1 : Math.max(1, opts.cardsPerScript ?? Infinity);
    this.cap = opts.newCardCap ?? DEFAULT_NEW_CARD_CAP;
    if (!(NEW_CARD in redis)) redis.defineCommand(NEW_CARD, { lua: NEW_CARD_LUA });
    if (!(READ in redis)) redis.defineCommand(READ, { lua: READ_LUA });
    if (!(WRITE in redis)) redis.defineCommand(WRITE, { lua: WRITE_LUA });
    if (!(LABEL in redis)) redis.defineCommand(LABEL, { lua: LABEL_LUA });
    if (!(READ_ENTITIES in redis)) redis.defineCommand(READ_ENTITIES, { lua: READ_ENTITIES_LUA });
    if (!(LABEL_ENTITY in redis)) redis.defineCommand(LABEL_ENTITY, { lua: LABEL_ENTITY_LUA });
    if (!(ENTITY_APPLY in redis)) redis.defineCommand(ENTITY_APPLY, { lua: ENTITY_APPLY_LUA });
  }

  cardKey(cardId: string): string {
    return featureCardKey(this.opts.keyPrefix, cardId);
  }

  private entityKey(key: string): string {
    return featureEntityKey(this.opts.keyPrefix, key);
  }

  async computeAndApply(txs: Transaction[], prefetched?: unknown): Promise<FeatureVectors> {
    const out: FeatureVectors = new Array(txs.length);
    const capped = new Map<number, CapHit>();
    let pending = txs.map((_, i) => i);
    let pre = prefetched instanceof Promise ? await (prefetched as Promise<StateRead>).catch(() => undefined) : undefined;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > this.maxAttempts) {
        throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `feature store: cards kept changing under us after ${this.maxAttempts} attempts`);
      }
      pending = await this.attempt(txs, pending, out, capped, pre);
      pre = undefined;
    }
    if (capped.size) out.capped = capped;
    return out;
  }

  /** Asks the cap about the batch's transactions of cards without stored state (one round trip); hits by batch index. */
  private async checkNewCards(batch: readonly Transaction[], fresh: (cardId: string) => boolean): Promise<Map<number, CapHit>> {
    const hits = new Map<number, CapHit>();
    if (this.cap.perMinute <= 0) return hits;
    const keys: string[] = [];
    const args: Array<string | number> = [];
    const asked: number[] = [];
    const scopes: string[][] = [];
    for (let i = 0; i < batch.length; i++) {
      const tx = batch[i];
      if (!fresh(tx.cardId)) continue;
      const s = capScopes(tx, this.cap);
      const minute = minuteOf(tx.ts);
      for (const scope of s) keys.push(featureNewCardsKey(this.opts.keyPrefix, scope, minute));
      args.push(s.length, tx.cardId);
      asked.push(i);
      scopes.push(s);
    }
    if (asked.length === 0) return hits;
    const replies = (await (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<number[]>>)[NEW_CARD]!.call(this.redis, keys.length, ...keys, this.cap.perMinute, NEW_CARDS_TTL_SECONDS, ...args)) as number[];
    asked.forEach((i, j) => {
      const first = Number(replies[j]);
      if (first > 0) hits.set(i, hitOf(batch[i], this.cap, scopes[j].map((_, k) => k === first - 1)) as CapHit);
    });
    return hits;
  }

  async applyLabels(labels: readonly Label[]): Promise<number> {
    const counted = labels.filter(countsForRisk);
    if (counted.length === 0) return 0;
    if (this.sharded) return this.applyLabelsSharded(counted);
    let total = 0;
    // A few hundred labels per script call: one argument buffer each, pipelined into one round trip.
    const pipe = this.redis.pipeline() as unknown as Pipe;
    for (let from = 0; from < counted.length; from += 200) {
      const part = counted.slice(from, from + 200);
      const keys: string[] = [];
      const chunks: Buffer[] = [];
      for (const label of part) {
        const entityKeys = this.compiled.labelKeysOf(label);
        const touched: Array<[string, number]> = [];
        entityKeys.forEach((k, i) => {
          if (k !== null) touched.push([this.entityKey(k), this.compiled.retention[i]]);
        });
        touched.push([this.entityKey(GLOBAL_ENTITY), this.compiled.globalRetention]);
        const b = Buffer.allocUnsafe(13 + 2 * touched.length);
        b.writeUInt8(touched.length, 0);
        b.writeInt32LE(dayOf(label.txTs as number), 1);
        b.writeDoubleLE(label.labeledAt, 5);
        keys.push(featureLabelKey(this.opts.keyPrefix, label.txId));
        touched.forEach(([key, retention], j) => {
          b.writeUInt16LE(retention, 13 + 2 * j);
          keys.push(key);
        });
        chunks.push(b);
      }
      pipe[LABEL](keys.length, ...keys, this.ttl, ENTITY_LIMITS.pending, Buffer.concat(chunks));
    }
    for (const n of checked(await pipe.exec())) total += Number(n);
    return total;
  }

  /** applyLabels on Redis Cluster: claim every label (SET NX), then count the won ones into each entity. */
  private async applyLabelsSharded(counted: readonly Label[]): Promise<number> {
    const claims = this.redis.pipeline() as unknown as Pipe;
    for (const label of counted) claims.set(featureLabelKey(this.opts.keyPrefix, label.txId), '1', 'NX', 'EX', Math.max(this.ttl, 86_400));
    const won = checked(await claims.exec()).map((r) => r === 'OK');
    const count = this.redis.pipeline() as unknown as Pipe;
    let total = 0;
    counted.forEach((label, i) => {
      if (!won[i]) return;
      total += 1;
      const day = dayOf(label.txTs as number);
      this.compiled.labelKeysOf(label).forEach((k, j) => {
        if (k !== null) count[LABEL_ENTITY](1, this.entityKey(k), this.ttl, ENTITY_LIMITS.pending, day, label.labeledAt, this.compiled.retention[j]);
      });
      count[LABEL_ENTITY](1, this.entityKey(GLOBAL_ENTITY), this.ttl, ENTITY_LIMITS.pending, day, label.labeledAt, this.compiled.globalRetention);
    });
    if (total > 0) checked(await count.exec());
    return total;
  }

  /** One optimistic pass over `indices`; returns the indices whose cards must be retried. */
  prefetch(txs: readonly Transaction[]): Promise<StateRead> {
    return this.read(txs, txs.map((tx) => this.compiled.keysOf(tx)));
  }

  /** A prefetched read this batch may use: not used before, and holding every card and entity the batch needs. */
  private covers(pre: StateRead | undefined, batch: readonly Transaction[], txKeys: ReadonlyArray<ReadonlyArray<string | null>>): pre is StateRead {
    if (!pre || pre.used) return false;
    for (let t = 0; t < batch.length; t++) {
      if (!pre.slot.has(batch[t]!.cardId)) return false;
      for (const k of txKeys[t]!) if (k !== null && !pre.entities.has(k)) return false;
    }
    return true;
  }

  private async attempt(txs: Transaction[], indices: number[], out: FeatureVector[], capped: Map<number, CapHit>, pre?: StateRead): Promise<number[]> {
    const batch = indices.map((i) => txs[i]);
    // each transaction's entity keys, worked out once: the read, the vectors and the write deltas use them
    const txKeys = batch.map((tx) => this.compiled.keysOf(tx));
    const read = this.covers(pre, batch, txKeys) ? pre : await this.read(batch, txKeys);
    read.used = true;
    const { slot, keys, states, versions, ttlSetAt, entities } = read;
    try {
      const hits = await this.checkNewCards(batch, (cardId) => states[slot.get(cardId)!].n === 0);
      return await this.finish(txs, indices, out, capped, hits, batch, slot, keys, states, versions, ttlSetAt, entities, txKeys);
    } finally {
      // Card states never leave a pass: their arrays are reused by the next one (less garbage per batch).
      if (this.spare.length < MAX_SPARE_STATES) this.spare.push(...states);
    }
  }

  /** The stored state of the batch's cards and entities (one pipeline: a round trip). */
  private async read(batch: readonly Transaction[], txKeys: ReadonlyArray<ReadonlyArray<string | null>>): Promise<StateRead> {
    const slot = new Map<string, number>();
    const cards: string[] = [];
    const keys: string[] = [];
    const entityIndex = new Map<string, number>();
    const entityNames: string[] = [GLOBAL_ENTITY];
    entityIndex.set(GLOBAL_ENTITY, 0);
    for (let t = 0; t < batch.length; t++) {
      const tx = batch[t];
      for (const k of txKeys[t]) {
        if (k !== null && !entityIndex.has(k)) {
          entityIndex.set(k, entityNames.length);
          entityNames.push(k);
        }
      }
      if (slot.has(tx.cardId)) continue;
      slot.set(tx.cardId, cards.length);
      cards.push(tx.cardId);
      keys.push(this.cardKey(tx.cardId));
    }
    const read = this.redis.pipeline() as unknown as Pipe;
    for (let i = 0; i < keys.length; i += this.perScript) {
      const chunk = this.perScript >= keys.length ? keys : keys.slice(i, i + this.perScript);
      read[READ_BUFFER](chunk.length, ...chunk);
    }
    // Entity keys of one script call must share a slot on Redis Cluster: there, one call per entity.
    const entityKeys = entityNames.map((n) => this.entityKey(n));
    const perEntityCall = Number.isFinite(this.perScript) ? 1 : entityKeys.length;
    for (let i = 0; i < entityKeys.length; i += perEntityCall) {
      const chunk = entityKeys.slice(i, i + perEntityCall);
      read[READ_ENTITIES_BUFFER](chunk.length, ...chunk);
    }
    const replies = checked(await read.exec());
    const cardReplies = replies.length - Math.ceil(entityKeys.length / perEntityCall);
    const states: CardState[] = new Array(cards.length);
    const versions = new Float64Array(cards.length);
    const ttlSetAt = new Float64Array(cards.length);
    let c = 0;
    for (let r = 0; r < cardReplies; r++) {
      const packed = replies[r] as Buffer;
      const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
      for (let o = 0; o < packed.length; c++) {
        versions[c] = packed.readDoubleLE(o);
        ttlSetAt[c] = packed.readDoubleLE(o + 8);
        const len = packed.readUInt32LE(o + 16);
        o += 20;
        const state = this.spare.pop() ?? emptyCardState();
        states[c] = len > 0 ? decodeCardStateAt(dv, o, state) : resetCardState(state);
        o += len;
      }
    }
    const entities = new Map<string, EntityState>();
    let e = 0;
    for (let r = cardReplies; r < replies.length; r++) {
      const packed = replies[r] as Buffer;
      const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
      for (let o = 0; o < packed.length; e++) {
        const state = emptyEntityState();
        o = entityStateFromPackedAt(dv, o, state);
        entities.set(entityNames[e], state);
      }
    }
    return { slot, keys, states, versions, ttlSetAt, entities, used: false };
  }

  private async finish(
    txs: Transaction[],
    indices: number[],
    out: FeatureVector[],
    capped: Map<number, CapHit>,
    hits: ReadonlyMap<number, CapHit>,
    batch: Transaction[],
    slot: Map<string, number>,
    keys: string[],
    states: CardState[],
    versions: Float64Array,
    ttlSetAt: Float64Array,
    entities: Map<string, EntityState>,
    txKeys: ReadonlyArray<ReadonlyArray<string | null>>,
  ): Promise<number[]> {
    const global = entities.get(GLOBAL_ENTITY) as EntityState;
    const access: EntityAccess = { spec: this.compiled, global, load: (k) => entities.get(k) as EntityState, peek: (k) => entities.get(k), keys: txKeys };
    const outcome = runBatch(batch, (cardId) => states[slot.get(cardId)!], this.ctx, access, hits.size ? (_, i) => hits.get(i) : undefined);

    if (outcome.lookups.length > 0) {
      const lookupCards = [...new Set(outcome.lookups.map((l) => l.cardId))];
      const hist = this.redis.pipeline();
      for (const c of lookupCards) hist.hgetallBuffer(this.cardKey(c));
      const hashes = checked(await hist.exec()) as Array<Record<string, Buffer>>;
      const byCard = new Map(lookupCards.map((c, i) => [c, historyOf(hashes[i])]));
      for (const { index, cardId, key } of outcome.lookups) {
        const found = byCard.get(cardId)?.find((e) => e.key === key);
        outcome.vectors[index] = found ? found.vector : vectorWithoutApplying(states[slot.get(cardId)!], batch[index], this.ctx, access, (k) => entities.get(k));
      }
    }

    const changed = [...outcome.changed];
    // Which script call each card's transactions go to (their entity deltas travel with them).
    const callOf = new Map<string, number>();
    changed.forEach(([cardId], j) => callOf.set(cardId, Math.floor(j / this.perScript)));
    const deltas: EntityDeltas[] = [];
    for (const i of this.sharded ? [] : outcome.applied) {
      const tx = batch[i];
      const call = callOf.get(tx.cardId) as number;
      const d = (deltas[call] ??= new EntityDeltas());
      const ks = txKeys[i];
      for (let k = 0; k < ks.length; k++) {
        const key = ks[k];
        if (key !== null) d.add(this.entityKey(key), this.compiled.retention[k], tx, this.compiled.counterpartyOf(k, tx));
      }
      d.add(this.entityKey(GLOBAL_ENTITY), this.compiled.globalRetention, tx, 0);
    }
    const write = this.redis.pipeline() as unknown as Pipe;
    const now = this.now();
    for (let from = 0; from < changed.length; from += this.perScript) {
      const to = Math.min(changed.length, from + this.perScript);
      let size = 0;
      for (let j = from; j < to; j++) {
        const change = changed[j][1];
        size += 14 + cardStateSize(change.state);
        for (const e of change.appended) size += 5 + historyEntrySize(e);
      }
      const buf = Buffer.allocUnsafe(size);
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let o = 0;
      const delta = deltas[Math.floor(from / this.perScript)] ?? new EntityDeltas();
      const args: Array<string | number | Buffer> = [];
      for (let j = from; j < to; j++) {
        const [cardId, change] = changed[j];
        const c = slot.get(cardId)!;
        args.push(keys[c]);
        const stateStart = o + 14;
        const stateEnd = encodeCardStateInto(change.state, dv, stateStart);
        dv.setFloat64(o, versions[c], true);
        dv.setUint32(o + 8, stateEnd - stateStart, true);
        dv.setUint8(o + 12, change.appended.length);
        dv.setUint8(o + 13, this.ttl > 0 && !(now - ttlSetAt[c] < this.refreshAfter) ? 1 : 0);
        o = stateEnd;
        for (const e of change.appended) {
          dv.setUint8(o, e.seq % LIMITS.applied);
          const end = encodeHistoryEntryInto(e, dv, o + 5);
          dv.setUint32(o + 1, end - o - 5, true);
          o = end;
        }
      }
      args.push(...delta.keys());
      write[WRITE](args.length, ...args, this.ttl, now, buf, delta.encode(), to - from);
    }
    const replies = changed.length > 0 ? (checked(await write.exec()) as number[][]) : [];
    let conflicted: Set<string> | undefined;
    let j = 0;
    for (const reply of replies) {
      for (const ok of reply) {
        if (ok !== 1) (conflicted ??= new Set()).add(changed[j][0]);
        j++;
      }
    }
    if (this.sharded) await this.applyEntityDeltas(batch, outcome.applied, txKeys, conflicted);
    const retry: number[] = [];
    if (conflicted) this.conflicts += conflicted.size;
    for (let k = 0; k < indices.length; k++) {
      const txIndex = indices[k];
      if (conflicted?.has(txs[txIndex].cardId)) retry.push(txIndex);
      else {
        out[txIndex] = outcome.vectors[k]!;
        const hit = outcome.capped.get(k);
        if (hit) capped.set(txIndex, hit);
        else capped.delete(txIndex);
      }
    }
    return retry;
  }

  /** Redis Cluster: the entity deltas of the transactions whose cards were written, one script call per entity. */
  private async applyEntityDeltas(batch: Transaction[], applied: Iterable<number>, txKeys: ReadonlyArray<ReadonlyArray<string | null>>, conflicted: Set<string> | undefined): Promise<void> {
    const d = new EntityDeltas();
    for (const i of applied) {
      const tx = batch[i];
      if (conflicted?.has(tx.cardId)) continue;
      const ks = txKeys[i];
      for (let k = 0; k < ks.length; k++) {
        const key = ks[k];
        if (key !== null) d.add(this.entityKey(key), this.compiled.retention[k], tx, this.compiled.counterpartyOf(k, tx));
      }
      d.add(this.entityKey(GLOBAL_ENTITY), this.compiled.globalRetention, tx, 0);
    }
    const each = d.encodeEach();
    if (each.length === 0) return;
    const p = this.redis.pipeline() as unknown as Pipe;
    for (const [key, buf] of each) p[ENTITY_APPLY](1, key, this.ttl, buf);
    checked(await p.exec());
  }

  async peekCard(cardId: string): Promise<CardState | undefined> {
    const packed = await this.redis.hgetBuffer(this.cardKey(cardId), 's');
    return packed && packed.length > 0 ? decodeCardState(packed) : undefined;
  }

  async peekEntities(keys: readonly string[]): Promise<Map<string, EntityState>> {
    const out = new Map<string, EntityState>();
    if (keys.length === 0) return out;
    const read = this.redis.pipeline();
    for (const k of keys) read.hgetallBuffer(this.entityKey(k));
    const hashes = checked(await read.exec()) as Array<Record<string, Buffer>>;
    keys.forEach((k, i) => {
      const hash = hashes[i];
      if (hash && Object.keys(hash).length > 0) out.set(k, entityStateFromHash(hash));
    });
    return out;
  }

  async history(cardId: string, k: number, beforeTs?: number): Promise<FeatureVector[]> {
    if (k <= 0) return [];
    const hash = await this.redis.hgetallBuffer(this.cardKey(cardId));
    return lastBefore(historyOf(hash), k, beforeTs).map((e) => e.vector);
  }
}

/**
 * One script call's entity updates, summed per entity: per day bucket count, sum and max; first and last time;
 * counterparties in the order last seen. Summing first is exact (counts add, maxima max, LRU order is the order
 * of last touches), so Redis ends where applying each transaction in turn would.
 */
class EntityDeltas {
  private readonly byKey = new Map<string, { retention: number; days: Map<number, [number, number, number]>; minTs: number; maxTs: number; cps: Map<number, number> }>();

  add(key: string, retention: number, tx: Transaction, cp: number): void {
    let e = this.byKey.get(key);
    if (!e) {
      e = { retention, days: new Map(), minTs: tx.ts, maxTs: tx.ts, cps: new Map() };
      this.byKey.set(key, e);
    }
    const day = dayOf(tx.ts);
    const b = e.days.get(day);
    if (b) {
      b[0] += 1;
      b[1] += tx.amountMinor;
      if (tx.amountMinor > b[2]) b[2] = tx.amountMinor;
    } else e.days.set(day, [1, tx.amountMinor, tx.amountMinor]);
    if (tx.ts < e.minTs) e.minTs = tx.ts;
    if (tx.ts > e.maxTs) e.maxTs = tx.ts;
    if (cp !== 0) {
      const seen = Math.max(tx.ts, e.cps.get(cp) ?? -Infinity);
      e.cps.delete(cp);
      e.cps.set(cp, seen);
    }
  }

  keys(): string[] {
    return [...this.byKey.keys()];
  }

  /** Each entity's deltas apart (Redis Cluster: one script call per entity). */
  encodeEach(): Array<[string, Buffer]> {
    return [...this.byKey].map(([key, e]) => {
      const b = Buffer.allocUnsafe(EntityDeltas.sizeOf(e));
      EntityDeltas.write(e, b, 0);
      return [key, b];
    });
  }

  private static sizeOf(e: { days: Map<number, unknown>; cps: Map<number, number> }): number {
    return 2 + e.days.size * 28 + 22 + e.cps.size * 12;
  }

  private static write(e: { retention: number; days: Map<number, [number, number, number]>; minTs: number; maxTs: number; cps: Map<number, number> }, b: Buffer, at: number): number {
    let o = b.writeUInt16LE(e.days.size, at);
    for (const [day, [count, sum, max]] of e.days) {
      o = b.writeInt32LE(day, o);
      o = b.writeDoubleLE(count, o);
      o = b.writeDoubleLE(sum, o);
      o = b.writeDoubleLE(max, o);
    }
    o = b.writeDoubleLE(e.minTs, o);
    o = b.writeDoubleLE(e.maxTs, o);
    o = b.writeUInt16LE(e.cps.size, o);
    o = b.writeUInt16LE(ENTITY_LIMITS.counterparties, o);
    o = b.writeUInt16LE(e.retention, o);
    for (const [cp, ts] of e.cps) {
      o = b.writeUInt32LE(cp, o);
      o = b.writeDoubleLE(ts, o);
    }
    return o;
  }

  /** Per entity: [days u16] {[day i32][count f64][sum f64][max f64]} [minTs f64][maxTs f64][cps u16][cap u16][retention u16] {[cp u32][ts f64]}. */
  encode(): Buffer {
    let size = 0;
    for (const e of this.byKey.values()) size += EntityDeltas.sizeOf(e);
    const b = Buffer.allocUnsafe(size);
    let o = 0;
    for (const e of this.byKey.values()) o = EntityDeltas.write(e, b, o);
    return b;
  }
}

/** The history ring of a card's hash, oldest first. */
function historyOf(hash: Record<string, Buffer>): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const [field, value] of Object.entries(hash)) if (field.startsWith('h')) entries.push(decodeHistoryEntry(value));
  return entries.sort((a, b) => a.seq - b.seq);
}

function checked(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, 'redis pipeline was discarded');
  return results.map(([err, value]) => {
    if (err) throw new FraudstreamError(ErrorCodes.SERVICE_UNAVAILABLE, `feature store: ${err.message}`, { cause: err });
    return value;
  });
}
