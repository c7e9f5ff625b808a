import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { UserInputError } from '../../core/errors.ts';
import { LOGIN_FAIL_WINDOW_SECONDS, SESSION_TTL_SECONDS, loginFailKey, sessionKey, userKey, userNameOf, userPattern } from '../../state/ui.ts';

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

// N=2^15 costs ~60 ms and 32 MiB per check: slow for a guesser, still quick for a person logging in.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 };

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

const UserRecordSchema = z.object({ name: z.string(), hash: z.string(), createdAt: z.number() });
export type UserRecord = z.infer<typeof UserRecordSchema>;

/** Reviewer accounts: one Redis key per user holding the scrypt hash. */
export class UserStore {
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(name: string): string {
    return userKey(this.prefix, name);
  }

  /** Creates or (with replace) resets an account. Returns false when it exists and replace is off. */
  async add(name: string, password: string, { replace = false } = {}): Promise<boolean> {
    if (!USERNAME.test(name)) throw new UserInputError(`user name ${JSON.stringify(name)}: use 1-64 letters, digits, . _ -`);
    if (password.length < 8) throw new UserInputError('password: at least 8 characters');
    const record: UserRecord = { name, hash: await hashPassword(password), createdAt: Date.now() };
    const value = JSON.stringify(record);
    const ok = replace ? await this.redis.set(this.key(name), value) : await this.redis.set(this.key(name), value, 'NX');
    return ok === 'OK';
  }

  async list(): Promise<string[]> {
    const names: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', userPattern(this.prefix), 'COUNT', 200);
      cursor = next;
      names.push(...keys.map((k) => userNameOf(this.prefix, k)));
    } while (cursor !== '0');
    return names.sort();
  }

  /** Checks a password; an unknown user costs the same scrypt work, so timing does not reveal who exists. */
  async check(name: string, password: string): Promise<boolean> {
    const raw = USERNAME.test(name) ? await this.redis.get(this.key(name)) : null;
    const record = raw === null ? undefined : UserRecordSchema.safeParse(JSON.parse(raw)).data;
    if (!record) {
      this.dummyHash ??= hashPassword(randomBytes(12).toString('hex'));
      await verifyPassword(password, await this.dummyHash);
      return false;
    }
    return verifyPassword(password, record.hash);
  }

  /** REVIEWER_SEED "name:password,...": creates the accounts that do not exist yet (never overwrites). */
  async seed(seed: string | undefined): Promise<string[]> {
    if (!seed) return [];
    const created: string[] = [];
    for (const pair of seed.split(',')) {
      const at = pair.indexOf(':');
      const name = pair.slice(0, at).trim();
      if (await this.add(name, pair.slice(at + 1))) created.push(name);
    }
    return created;
  }
}

export interface Session {
  user: string;
  csrf: string;
  createdAt: number;
}

const SessionSchema = z.object({ user: z.string(), csrf: z.string(), createdAt: z.number() });

/**
 * Server-side sessions in Redis. The cookie holds a random 256-bit id; Redis holds only its HMAC,
 * so a dump of Redis does not yield usable cookies. Idle sessions expire after `ttlSeconds`.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly secret: string,
    readonly ttlSeconds = SESSION_TTL_SECONDS,
  ) {}

  private key(sid: string): string {
    return sessionKey(this.prefix, createHmac('sha256', this.secret).update(sid).digest('hex'));
  }

  async create(user: string): Promise<{ sid: string; session: Session }> {
    const sid = randomBytes(32).toString('base64url');
    const session: Session = { user, csrf: randomBytes(32).toString('base64url'), createdAt: Date.now() };
    await this.redis.set(this.key(sid), JSON.stringify(session), 'EX', this.ttlSeconds);
    return { sid, session };
  }

  /** The session for a cookie value, refreshing its idle timeout; undefined when unknown or expired. */
  async get(sid: string | undefined): Promise<Session | undefined> {
    if (!sid || sid.length > 100) return undefined;
    const key = this.key(sid);
    const raw = await this.redis.get(key);
    if (raw === null) return undefined;
    await this.redis.expire(key, this.ttlSeconds);
    return SessionSchema.safeParse(JSON.parse(raw)).data;
  }

  /** Whether a session is still live, without refreshing its idle timeout. */
  async exists(sid: string): Promise<boolean> {
    return (await this.redis.exists(this.key(sid))) === 1;
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

/**
 * Failed logins per IP+user in a fixed window. Checked before the password is, so a locked-out guesser
 * learns nothing more; a success clears the counter.
 */
export class LoginLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly maxFailures = 5,
    readonly windowSeconds = LOGIN_FAIL_WINDOW_SECONDS,
  ) {}

  private key(ip: string, user: string): string {
    return loginFailKey(this.prefix, ip, user);
  }

  /** Seconds until another attempt is allowed, or 0 when allowed now. */
  async blockedFor(ip: string, user: string): Promise<number> {
    const key = this.key(ip, user);
    const [count, ttl] = await Promise.all([this.redis.get(key), this.redis.ttl(key)]);
    return Number(count ?? 0) >= this.maxFailures ? Math.max(1, ttl) : 0;
  }

  async fail(ip: string, user: string): Promise<void> {
    const key = this.key(ip, user);
    const n = await this.redis.incr(key);
    if (n === 1) await this.redis.expire(key, this.windowSeconds);
  }

  async succeed(ip: string, user: string): Promise<void> {
    await this.redis.del(this.key(ip, user));
  }
}
