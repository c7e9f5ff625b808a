import type { Redis } from 'ioredis';
import { reviewKeysOf } from './review.ts';

/**
 * Who works an open case: `<prefix>review:claim:<caseId>` holds the analyst's name, expiring CLAIM_TTL_MS after the
 * last claim or renewal (the case page renews while it is open, every CLAIM_RENEW_MS). At most one key per open case,
 * so the family is bounded by the review capacity; a verdict deletes the key in the same script that closes the case
 * (state/review.ts CLOSE), which also refuses a verdict from anyone but the holder.
 *
 * A claim is a lease, not a record: it lives in Redis only. Lost with Redis, every case is unclaimed and the next
 * analyst to open it takes it; the verdict gate (ZREM of the open set) still lets exactly one verdict through.
 */
export const CLAIM_TTL_MS = 5 * 60_000;
/** The case page renews its claim this often: three chances before it lapses. */
export const CLAIM_RENEW_MS = 60_000;

/** A case's claim as the queue and the case page show it. */
export interface ClaimView {
  holder: string;
  /** Epoch ms when the claim lapses unless renewed. */
  expiresAt: number;
}

export type ClaimResult =
  | { outcome: 'claimed' | 'renewed'; holder: string; expiresAt: number }
  | { outcome: 'held'; holder: string; expiresAt: number }
  /** A renewal found no claim: it lapsed or was released (an admin's release must not be undone by the page's timer). */
  | { outcome: 'lost' }
  | { outcome: 'not_open' };

// KEYS: claim key, open set. ARGV: analyst, ttl ms, caseId, renew-only ('1'). One round trip: a case that is not
// open cannot be claimed; a free case is taken (SET ... PX) unless this is only a renewal, the holder's own claim
// renewed, anyone else's reported with its TTL.
const CLAIM = `
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) then return {-1, '', 0} end
local cur = redis.call('GET', KEYS[1])
if not cur and ARGV[4] == '1' then return {-2, '', 0} end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1], tonumber(ARGV[2])}
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {2, cur, tonumber(ARGV[2])}
end
return {0, cur, redis.call('PTTL', KEYS[1])}`;

// KEYS: claim key. ARGV: the holder to release ('' = whoever holds it, for an admin). Returns the released holder or ''.
const RELEASE = `
local cur = redis.call('GET', KEYS[1])
if not cur then return '' end
if ARGV[1] ~= '' and cur ~= ARGV[1] then return '' end
redis.call('DEL', KEYS[1])
return cur`;

export class CaseClaims {
  private readonly keys: ReturnType<typeof reviewKeysOf>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly ttlMs = CLAIM_TTL_MS,
  ) {
    this.keys = reviewKeysOf(redis, prefix);
  }

  /**
   * Claims an open case for `analyst`, or renews their claim; reports who holds it otherwise. With `renewOnly`, a case
   * whose claim lapsed or was released is not taken again ('lost').
   */
  async claim(caseId: string, analyst: string, now = Date.now(), renewOnly = false): Promise<ClaimResult> {
    const [code, holder, ttl] = (await this.redis.eval(CLAIM, 2, this.keys.claim(caseId), this.keys.open, analyst, String(this.ttlMs), caseId, renewOnly ? '1' : '0')) as [number, string, number];
    if (code === -1) return { outcome: 'not_open' };
    if (code === -2) return { outcome: 'lost' };
    const expiresAt = now + Math.max(0, ttl);
    if (code === 0) return { outcome: 'held', holder, expiresAt };
    return { outcome: code === 1 ? 'claimed' : 'renewed', holder, expiresAt };
  }

  /**
   * Claims the most urgent open case nobody holds (queue order: state/review.ts queueScore), reading the queue in pages
   * of `page`. Each attempt is the atomic claim above, so two analysts asking at once get two different cases.
   */
  async claimNext(analyst: string, page = 100, now = Date.now()): Promise<{ caseId: string; expiresAt: number } | undefined> {
    for (let offset = 0; ; offset += page) {
      const ids = await this.redis.zrange(this.keys.open, offset, offset + page - 1);
      if (ids.length === 0) return undefined;
      const holders = await this.redis.mget(ids.map((id) => this.keys.claim(id)));
      for (const [i, id] of ids.entries()) {
        if (holders[i]) continue;
        const r = await this.claim(id, analyst, now);
        if (r.outcome === 'claimed' || r.outcome === 'renewed') return { caseId: id, expiresAt: r.expiresAt };
      }
      if (ids.length < page) return undefined;
    }
  }

  /** Releases the claim: only `holder`'s own, or (holder undefined, an admin) whoever's. Returns who held it. */
  async release(caseId: string, holder?: string): Promise<string | undefined> {
    const released = (await this.redis.eval(RELEASE, 1, this.keys.claim(caseId), holder ?? '')) as string;
    return released === '' ? undefined : released;
  }

  /** The current claims of these cases (one MGET and one pipeline of PTTLs); absent ids are unclaimed. */
  async viewMany(caseIds: readonly string[], now = Date.now()): Promise<Map<string, ClaimView>> {
    const out = new Map<string, ClaimView>();
    if (caseIds.length === 0) return out;
    const keys = caseIds.map((id) => this.keys.claim(id));
    const holders = await this.redis.mget(keys);
    const held = caseIds.flatMap((id, i) => (holders[i] ? [{ id, holder: holders[i] as string, key: keys[i] as string }] : []));
    if (held.length === 0) return out;
    const p = this.redis.pipeline();
    for (const h of held) p.pttl(h.key);
    const ttls = (await p.exec()) ?? [];
    held.forEach((h, i) => {
      const ttl = Number(ttls[i]?.[1] ?? 0);
      if (ttl > 0) out.set(h.id, { holder: h.holder, expiresAt: now + ttl });
    });
    return out;
  }

  async view(caseId: string, now = Date.now()): Promise<ClaimView | undefined> {
    return (await this.viewMany([caseId], now)).get(caseId);
  }
}
