import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { isIP } from 'node:net';
import type { Request, Response } from 'express';
import type { Redis } from 'ioredis';
import { allKeys, familyPrefix, mgetKeys } from '../../core/redis.ts';
import { z } from 'zod';
import type { Changelog } from '../../core/changelog.ts';
import { LoginBodySchema, describeZodError } from '../../core/contracts.ts';
import { UserInputError } from '../../core/errors.ts';
import {
  LOGIN_FAIL_WINDOW_SECONDS,
  LOGIN_KNOWN_KEEP,
  LOGIN_KNOWN_MS,
  SESSION_MAX_SECONDS,
  SESSION_TTL_SECONDS,
  loginAccountKey,
  loginFailKey,
  loginIpKey,
  loginKnownKey,
  sessionKey,
  userKey,
  userNameOf,
  userPattern,
} from '../../state/ui.ts';
import type { AuditLog } from '../../state/audit.ts';
import type { Restored } from '../../state/view.ts';

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

// N=2^17 (OWASP's minimum for scrypt) costs 128 MiB and a few hundred ms per check: slow for a guesser, still
// quick for a person logging in. Hashes made with a smaller N are replaced at the account's next login (rehash).
const SCRYPT = { N: 2 ** 17, r: 8, p: 1, keylen: 32, maxmem: 256 * 1024 * 1024 };

/** Whether a stored hash was made with weaker parameters than today's (it is re-made at the next good login). */
export function needsRehash(stored: string): boolean {
  const [kind, n, r, p] = stored.split('$');
  return kind !== 'scrypt' || Number(n) < SCRYPT.N || Number(r) !== SCRYPT.r || Number(p) !== SCRYPT.p;
}

// Replaces the hash only if it is still the one just verified: a password changed meanwhile is never undone.
const REPLACE_HASH = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.hash ~= ARGV[1] then return 0 end
record.hash = ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(record))
return 1`;

export const USERNAME = /^[A-Za-z0-9._-]{1,64}$/;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** What an account may do: analysts work cases; admins also change policy, models, users and replay. */
export const Roles = { ANALYST: 'analyst', ADMIN: 'admin' } as const;
export type Role = (typeof Roles)[keyof typeof Roles];
export const RoleSchema = z.enum([Roles.ANALYST, Roles.ADMIN]);

/** Whether an account with `role` may do what `needed` may (admin includes analyst). */
export function roleAllows(role: Role | undefined, needed: Role): boolean {
  return role === Roles.ADMIN || (role !== undefined && role === needed);
}

const UserRecordSchema = z.object({
  name: z.string(),
  hash: z.string(),
  createdAt: z.number(),
  // Accounts made before roles existed are analysts until an admin says otherwise (least privilege).
  role: RoleSchema.default(Roles.ANALYST),
  /** Changes with the password or role: a session minted under another epoch is no longer valid. */
  epoch: z.string().default(''),
});
export type UserRecord = z.infer<typeof UserRecordSchema>;
export type UserInfo = Pick<UserRecord, 'name' | 'role' | 'createdAt'>;

const newEpoch = () => randomBytes(9).toString('base64url');

function checkPassword(password: string): void {
  if (password.length < 8) throw new UserInputError('password: at least 8 characters');
  if (password.length > 256) throw new UserInputError('password: at most 256 characters');
}

/** Where accounts are recorded (core/changelog.ts on the accounts topic): key = name, value = the record as Redis holds it. */
export type AccountRecord = Pick<Changelog, 'topic' | 'append' | 'remove' | 'readAll'>;

// KEYS: the account. ARGV: the value this process wrote. Undoes a create the record refused, unless changed since.
const UNDO_CREATE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * Reviewer accounts: one Redis key per user holding the scrypt hash, the role and the session epoch. With a record
 * (the compacted accounts topic) every change is written there too, hash and all (never a password), so a wiped Redis
 * gets its accounts back (restore()); sessions are not recorded: after a wipe people log in again.
 */
export class UserStore {
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly record?: AccountRecord,
  ) {}

  private key(name: string): string {
    return userKey(this.prefix, name);
  }

  /** Creates or (with replace) resets an account. Returns false when it exists and replace is off. */
  async add(name: string, password: string, { replace = false, role = Roles.ANALYST as Role } = {}): Promise<boolean> {
    if (!USERNAME.test(name)) throw new UserInputError(`user name ${JSON.stringify(name)}: use 1-64 letters, digits, . _ -`);
    checkPassword(password);
    const record: UserRecord = { name, hash: await hashPassword(password), createdAt: Date.now(), role: RoleSchema.parse(role), epoch: newEpoch() };
    const value = JSON.stringify(record);
    if (replace) {
      // Recorded before Redis has it: an account Redis holds is never one a wipe can lose.
      await this.record?.append(name, value);
      return (await this.redis.set(this.key(name), value)) === 'OK';
    }
    // Created in Redis first (NX decides who creates it), then recorded; a record that refuses undoes the create.
    if ((await this.redis.set(this.key(name), value, 'NX')) !== 'OK') return false;
    try {
      await this.record?.append(name, value);
    } catch (err) {
      await this.redis.eval(UNDO_CREATE, 1, this.key(name), value).catch(() => undefined);
      throw err;
    }
    return true;
  }

  /**
   * Writes every recorded account back into Redis (an account Redis holds is kept); returns how many were written, and
   * the keys of every recorded account (the view keeper checks they stay, state/view.ts).
   */
  async restore(): Promise<Restored> {
    if (!this.record) return { restored: 0, keys: [] };
    const entries = await this.record.readAll();
    let n = 0;
    const keys: string[] = [];
    for (const e of entries) {
      const parsed = UserRecordSchema.safeParse(JSON.parse(e.value));
      if (!parsed.success || !USERNAME.test(e.key) || parsed.data.name !== e.key) continue;
      keys.push(this.key(e.key));
      if ((await this.redis.set(this.key(e.key), e.value, 'NX')) === 'OK') n += 1;
    }
    return { restored: n, keys };
  }

  async get(name: string): Promise<UserRecord | undefined> {
    if (!USERNAME.test(name)) return undefined;
    const raw = await this.redis.get(this.key(name));
    return raw === null ? undefined : UserRecordSchema.safeParse(JSON.parse(raw)).data;
  }

  /** New password, new epoch: every session of the account ends. False when there is no such account. */
  async passwd(name: string, password: string): Promise<boolean> {
    checkPassword(password);
    const record = await this.get(name);
    if (!record) return false;
    const next: UserRecord = { ...record, hash: await hashPassword(password), epoch: newEpoch() };
    await this.record?.append(name, JSON.stringify(next));
    return (await this.redis.set(this.key(name), JSON.stringify(next), 'XX')) === 'OK';
  }

  /** Deletes the account; its sessions end with it (they are checked against the account on every request). */
  async remove(name: string): Promise<boolean> {
    if (!USERNAME.test(name)) return false;
    if (this.record && !(await this.get(name))) return false;
    await this.record?.remove(name);
    return (await this.redis.del(this.key(name))) === 1;
  }

  async list(): Promise<string[]> {
    return (await this.listUsers()).map((u) => u.name);
  }

  async listUsers(): Promise<UserInfo[]> {
    // Every master on Redis Cluster; the account keys are in any slot there.
    const keys = await allKeys(this.redis, userPattern(this.prefix), 200);
    const raws = await mgetKeys(this.redis, keys);
    const out: UserInfo[] = [];
    raws.forEach((raw, i) => {
      const r = raw === null ? undefined : UserRecordSchema.safeParse(JSON.parse(raw)).data;
      if (r) out.push({ name: userNameOf(this.prefix, keys[i] as string), role: r.role, createdAt: r.createdAt });
    });
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The account when the password is right; an unknown user costs the same scrypt work, so timing does not reveal who exists. */
  async check(name: string, password: string): Promise<UserRecord | undefined> {
    const record = await this.get(name);
    if (!record) {
      this.dummyHash ??= hashPassword(randomBytes(12).toString('hex'));
      await verifyPassword(password, await this.dummyHash);
      return undefined;
    }
    if (!(await verifyPassword(password, record.hash))) return undefined;
    if (needsRehash(record.hash)) {
      // The password is known right now and only now: re-make its hash with today's parameters (same epoch, so
      // no session ends). A failure here is not the login's failure.
      const hash = await hashPassword(password);
      const replaced = await this.redis.eval(REPLACE_HASH, 1, this.key(name), record.hash, hash).catch(() => 0);
      if (replaced === 1) {
        // Best effort: the recorded (older) hash still checks the same password.
        await this.record?.append(name, JSON.stringify({ ...record, hash })).catch(() => undefined);
        return { ...record, hash };
      }
    }
    return record;
  }

  /**
   * Accounts at start: REVIEWER_SEED's, or when there are none at all and no seed, one admin with a random
   * password that the caller shows once. No password is ever a default.
   */
  async bootstrap(seed: string | undefined): Promise<{ created: string[]; generated?: { name: string; password: string } }> {
    const created = await this.seed(seed);
    if (seed || (await this.list()).length > 0) return { created };
    const generated = { name: 'admin', password: randomBytes(15).toString('base64url') };
    return (await this.add(generated.name, generated.password, { role: Roles.ADMIN })) ? { created, generated } : { created };
  }

  /**
   * REVIEWER_SEED "name:password,...": creates the accounts that do not exist yet (never overwrites). Seeded
   * accounts are admins (they bootstrap the console) unless written "name@analyst:password".
   */
  async seed(seed: string | undefined): Promise<string[]> {
    if (!seed) return [];
    const created: string[] = [];
    for (const pair of seed.split(',')) {
      const at = pair.indexOf(':');
      const [name = '', role = Roles.ADMIN] = pair.slice(0, at).trim().split('@');
      if (await this.add(name, pair.slice(at + 1), { role: RoleSchema.parse(role) })) created.push(name);
    }
    return created;
  }
}

export interface Session {
  user: string;
  role: Role;
  csrf: string;
  createdAt: number;
  /** The account's epoch at login. */
  epoch: string;
}

const SessionSchema = z.object({
  user: z.string(),
  role: RoleSchema.default(Roles.ANALYST),
  csrf: z.string(),
  createdAt: z.number(),
  epoch: z.string().default(''),
});

/** The role of the logged-in account, or undefined without a session (for requireRole-style guards). */
export function sessionRole(session: Session | undefined): Role | undefined {
  return session?.role;
}

/**
 * Server-side sessions in Redis. The cookie holds a random 256-bit id; Redis holds only its HMAC,
 * so a dump of Redis does not yield usable cookies. Idle sessions expire after `ttlSeconds`, every session
 * `maxSeconds` after login; a session whose account was removed, or whose password or role changed since, is dead.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly secret: string,
    readonly ttlSeconds = SESSION_TTL_SECONDS,
    readonly maxSeconds = SESSION_MAX_SECONDS,
  ) {}

  private key(sid: string): string {
    return sessionKey(this.prefix, createHmac('sha256', this.secret).update(sid).digest('hex'));
  }

  /** Seconds a session may still idle: the idle timeout, or less when its absolute end is nearer. */
  private idleFor(session: Session, now: number): number {
    return Math.min(this.ttlSeconds, Math.ceil((session.createdAt + this.maxSeconds * 1000 - now) / 1000));
  }

  async create(user: Pick<UserRecord, 'name' | 'role' | 'epoch'>): Promise<{ sid: string; session: Session }> {
    const sid = randomBytes(32).toString('base64url');
    const session: Session = { user: user.name, role: user.role, csrf: randomBytes(32).toString('base64url'), createdAt: Date.now(), epoch: user.epoch };
    await this.redis.set(this.key(sid), JSON.stringify(session), 'EX', this.idleFor(session, session.createdAt));
    return { sid, session };
  }

  private async read(sid: string | undefined, refresh: boolean): Promise<Session | undefined> {
    if (!sid || sid.length > 100) return undefined;
    const key = this.key(sid);
    const raw = await this.redis.get(key);
    if (raw === null) return undefined;
    const session = SessionSchema.safeParse(JSON.parse(raw)).data;
    const userRaw = session ? await this.redis.get(userKey(this.prefix, session.user)) : null;
    const account = userRaw === null ? undefined : UserRecordSchema.safeParse(JSON.parse(userRaw)).data;
    const now = Date.now();
    if (!session || !account || account.epoch !== session.epoch || account.role !== session.role || this.idleFor(session, now) <= 0) {
      await this.redis.del(key);
      return undefined;
    }
    if (refresh) await this.redis.expire(key, this.idleFor(session, now));
    return session;
  }

  /** The session for a cookie value, refreshing its idle timeout; undefined when unknown, expired or revoked. */
  get(sid: string | undefined): Promise<Session | undefined> {
    return this.read(sid, true);
  }

  /** Whether a session is still live (not expired, not revoked), without refreshing its idle timeout. */
  async exists(sid: string): Promise<boolean> {
    return (await this.read(sid, false)) !== undefined;
  }

  async destroy(sid: string | undefined): Promise<void> {
    if (sid) await this.redis.del(this.key(sid));
  }
}

export function tokensEqual(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The unit an IP is limited as: an IPv4 address itself, an IPv6 address's /64 (one host usually holds the whole /64). */
export function ipScope(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

// One round trip counts the attempt under every scope and gives each counter its window when it has none, so
// no parallel burst passes the check between count and compare, and a lost EXPIRE cannot leave a counter forever.
// KEYS: IP+user, account, IP, the account's known addresses. ARGV: window ms, IP+user limit, IP limit, the IP scope.
// The account's counter is fed only by IPs within their own limits: an IP already refused cannot go on counting
// against the account, so one IP cannot keep an account (admin) locked out. The last value is the IP scope's last
// good login for this account (0: never), so the caller lets a known address past the account's limit.
const COUNT_ATTEMPT = `
local function count(key)
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then redis.call('PEXPIRE', key, ARGV[1]); ttl = tonumber(ARGV[1]) end
  return n, ttl
end
local ipUser, ipUserTtl = count(KEYS[1])
local ip, ipTtl = count(KEYS[3])
local account, accountTtl
if ipUser > tonumber(ARGV[2]) or ip > tonumber(ARGV[3]) then
  account = tonumber(redis.call('GET', KEYS[2]) or '0')
  accountTtl = math.max(0, redis.call('PTTL', KEYS[2]))
else
  account, accountTtl = count(KEYS[2])
end
local known = tonumber(redis.call('ZSCORE', KEYS[4], ARGV[4]) or '0')
return { ipUser, ipUserTtl, account, accountTtl, ip, ipTtl, known }`;

// After a good login: its own IP+user counter starts again, and its address becomes (stays) known for the account.
// KEYS: IP+user, known addresses. ARGV: the IP scope, now, how long an address stays known, how many are kept.
const REMEMBER_SUCCESS = `
redis.call('DEL', KEYS[1])
local now = tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[3])))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[4]) + 1))
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2]
if newest then redis.call('PEXPIREAT', KEYS[2], math.floor(tonumber(newest) + tonumber(ARGV[3]))) end
return 1`;

export interface LoginLimits {
  /** Attempts per window for one user from one IP. */
  perIpUser: number;
  /** Attempts per window for one user from anywhere (distributed guessing). */
  perUser: number;
  /** Attempts per window from one IP (IPv6: one /64) for any users (password spraying, made-up names). */
  perIp: number;
}
export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perIpUser: 5, perUser: 20, perIp: 50 };

/**
 * Login attempts, counted BEFORE the password is checked: a burst of parallel guesses is refused from the
 * first over the limit, and a refused attempt costs no scrypt. A successful login refunds nothing on the account's
 * or the IP's counter (issue 18): a refund let someone who knows one password interleave good logins with guesses at
 * other accounts and keep the IP's counter below its limit forever. It only clears its own IP+user counter: the
 * password of that very account was just proven from that IP. The limits are sized for people, not scripts.
 *
 * The per-account limit stops guessing spread over many IPs, and would lock the owner out with it (issue 19 item 6):
 * five addresses at four guesses each spend an account's 20 for the window. So, once it is spent, it holds only the
 * guessing addresses: those that already tried this account in the window (their IP+user counter, cleared by a good
 * login). Any other address gets one attempt per window (the owner on a new network types the password once), then is
 * held too; an address that has proven the account's password within LOGIN_KNOWN_MS (the owner's office, home, VPN)
 * is never held by the account's limit, only by its own per-IP+user and per-IP limits. The cost: past the account's
 * limit a botnet still gets one guess per address per window (five without the account limit, 50 per address over all
 * accounts), not none; no address can keep another out.
 */
export class LoginLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    readonly windowSeconds = LOGIN_FAIL_WINDOW_SECONDS,
  ) {}

  private keys(ip: string, user: string): [string, string, string, string] {
    // One script counts them all: on Redis Cluster they share the slot of `<prefix>{login}:`.
    const prefix = familyPrefix(this.redis, this.prefix, 'login');
    const scope = ipScope(ip);
    return [loginFailKey(prefix, scope, user), loginAccountKey(prefix, user), loginIpKey(prefix, scope), loginKnownKey(prefix, user)];
  }

  /** Counts an attempt; returns the seconds until another is allowed when this one is over a limit, else 0. */
  async attempt(ip: string, user: string, now = Date.now()): Promise<number> {
    const keys = this.keys(ip, user);
    const out = (await this.redis.eval(COUNT_ATTEMPT, keys.length, ...keys, this.windowSeconds * 1000, this.limits.perIpUser, this.limits.perIp, ipScope(ip))) as number[];
    const knownAddress = (out[6] as number) > now - LOGIN_KNOWN_MS;
    // The account's limit holds an address that tried this account before in the window (a guesser), never a first try.
    const guessing = (out[0] as number) > 1;
    const limits = [this.limits.perIpUser, knownAddress || !guessing ? Infinity : this.limits.perUser, this.limits.perIp];
    let waitMs = 0;
    limits.forEach((limit, i) => {
      if ((out[2 * i] as number) > limit) waitMs = Math.max(waitMs, out[2 * i + 1] as number);
    });
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : 0;
  }

  /**
   * After a good login: the IP+user counter starts again and the address is known for the account from now on (for
   * LOGIN_KNOWN_MS); the account's and the IP's counters keep what was counted.
   */
  async succeed(ip: string, user: string, now = Date.now()): Promise<void> {
    const [ipUser, , , known] = this.keys(ip, user);
    await this.redis.eval(REMEMBER_SUCCESS, 2, ipUser, known, ipScope(ip), now, LOGIN_KNOWN_MS, LOGIN_KNOWN_KEEP);
  }
}

/** Whether a request's Origin header (when present) names this very host. "null" (sandboxed frames, file:) never does. */
export function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (!URL.canParse(origin)) return false;
  const u = new URL(origin);
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.host === host;
}

export interface LoginDeps {
  users: UserStore;
  sessions: SessionStore;
  limiter: LoginLimiter;
  audit: AuditLog;
  /** Sets the session cookie on the response. */
  setCookie(req: Request, res: Response, sid: string): void;
  /** The current session's id, replaced on login (no session fixation). */
  currentSid(res: Response): string | undefined;
}

/** POST /api/login. */
export function loginRoute(d: LoginDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    // Login CSRF: a cross-site form post carries a foreign Origin (and SameSite=Strict keeps cookies out anyway).
    if (!sameOrigin(req.get('origin'), req.get('host'))) {
      res.status(403).json({ error: 'cross-origin login refused' });
      return;
    }
    const parsed = LoginBodySchema.safeParse(req.body ?? {});
    if (!parsed.success) throw new UserInputError(describeZodError(parsed.error));
    const { username, password } = parsed.data;
    // req.ip is the socket's address unless TRUST_PROXY names the proxy in front, so headers cannot rotate it.
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const wait = await d.limiter.attempt(ip, username);
    if (wait > 0) {
      res.set('Retry-After', String(wait)).status(429).json({ error: `too many login attempts; try again in ${wait} s` });
      return;
    }
    const account = await d.users.check(username, password);
    if (!account) {
      await d.audit.recordAuth({ who: username.slice(0, 64), action: 'login.failed', target: 'session', ip });
      res.status(401).json({ error: 'wrong user name or password' });
      return;
    }
    await d.sessions.destroy(d.currentSid(res));
    await d.limiter.succeed(ip, username);
    const { sid, session } = await d.sessions.create(account);
    await d.audit.record({ who: account.name, action: 'login', target: 'session', ip });
    d.setCookie(req, res, sid);
    res.json({ user: session.user, role: session.role, csrf: session.csrf });
  };
}
