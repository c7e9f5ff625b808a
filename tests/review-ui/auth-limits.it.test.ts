/**
 * The console's login limits and password hashes against a real Redis (issue 19, item 6): an IP already over its
 * own limit no longer counts against the account (so one IP cannot keep admin locked out), the account limit
 * still stops guessing spread over IPs, and a hash made with scrypt N=2^15 is re-made with N=2^17 at the next good
 * login without ending the account's sessions.
 */
import { randomBytes, randomUUID, scryptSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { LoginLimiter, UserStore, hashPassword, needsRehash, verifyPassword } from '../../review-ui/server/auth.ts';
import { userKey } from '../../state/ui.ts';

describe('login limits and password hashes', () => {
  let redis: Redis;
  const prefix = `fs-test-auth-${randomUUID().slice(0, 8)}:`;

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 3 });
  });

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('one IP guessing on and on does not lock the account out for other IPs', async () => {
    const limiter = new LoginLimiter(redis, `${prefix}a:`);
    const refused: number[] = [];
    for (let i = 0; i < 60; i++) refused.push(await limiter.attempt('203.0.113.7', 'admin'));
    expect(refused.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(refused.slice(5).every((w) => w > 0)).toBe(true);
    // The guessing IP stays refused; the admin at another address is not.
    expect(await limiter.attempt('203.0.113.7', 'admin')).toBeGreaterThan(0);
    expect(await limiter.attempt('198.51.100.20', 'admin')).toBe(0);
  });

  it('guessing spread over many IPs still meets the account limit: past it, each address gets one attempt per window', async () => {
    const limiter = new LoginLimiter(redis, `${prefix}b:`);
    const waits: number[][] = [];
    // 8 addresses, 4 guesses each: every address stays within its own limit of 5, the account's 20 is passed.
    for (let ip = 1; ip <= 8; ip++) {
      const mine: number[] = [];
      for (let i = 0; i < 4; i++) mine.push(await limiter.attempt(`192.0.2.${ip}`, 'admin'));
      waits.push(mine);
    }
    expect(waits.slice(0, 5).flat().every((w) => w === 0)).toBe(true);
    // Addresses 6 to 8 came after the account's 20: one attempt each, then held for the window.
    for (const mine of waits.slice(5)) {
      expect(mine[0]).toBe(0);
      expect(mine.slice(1).every((w) => w > 0)).toBe(true);
    }
    // The first five, which guessed, are held now too.
    expect(await limiter.attempt('192.0.2.1', 'admin')).toBeGreaterThan(0);
  });

  it('the owner on a never-seen network during a distributed guess gets one attempt, and in with the right password (issue 19 item 6)', async () => {
    const limiter = new LoginLimiter(redis, `${prefix}c:`);
    for (let ip = 1; ip <= 5; ip++) for (let i = 0; i < 4; i++) await limiter.attempt(`192.0.2.${ip}`, 'admin');
    const hotel = '203.0.113.99';
    expect(await limiter.attempt(hotel, 'admin')).toBe(0);
    await limiter.succeed(hotel, 'admin');
    // Proven now: known, so not held by the account's limit, only by its own.
    const next: number[] = [];
    for (let i = 0; i < 6; i++) next.push(await limiter.attempt(hotel, 'admin'));
    expect(next.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(next[5]).toBeGreaterThan(0);
    // A typo instead, from another never-seen address: the second attempt waits the window out.
    expect(await limiter.attempt('203.0.113.100', 'admin')).toBe(0);
    expect(await limiter.attempt('203.0.113.100', 'admin')).toBeGreaterThan(0);
  });

  it('guessing spread over five IPs does not lock the owner out of an address that has proven the password (issue 19 item 6)', async () => {
    const limiter = new LoginLimiter(redis, `${prefix}d:`);
    const owner = '198.51.100.44';
    // The owner logged in from their office last week: that address has proven admin's password.
    expect(await limiter.attempt(owner, 'admin')).toBe(0);
    await limiter.succeed(owner, 'admin');
    // Five addresses, four guesses each: each within its own limit of 5, together the account's 20 are spent.
    for (let ip = 1; ip <= 5; ip++) for (let i = 0; i < 4; i++) await limiter.attempt(`192.0.2.${ip}`, 'admin');
    // The guessers are refused for the window; the botnet's next address gets one guess, then is refused too...
    expect(await limiter.attempt('192.0.2.1', 'admin')).toBeGreaterThan(0);
    expect(await limiter.attempt('192.0.2.6', 'admin')).toBe(0);
    expect(await limiter.attempt('192.0.2.6', 'admin')).toBeGreaterThan(0);
    // ...the owner at their known address is not, and stays within its own per-IP+user limit of 5.
    const fromOwner: number[] = [];
    for (let i = 0; i < 7; i++) fromOwner.push(await limiter.attempt(owner, 'admin'));
    expect(fromOwner.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(fromOwner.slice(5).every((w) => w > 0)).toBe(true);
    // A known address of another account is not known for this one; an IPv6 owner is known by their /64.
    const other = new LoginLimiter(redis, `${prefix}e:`);
    await other.succeed('2001:db8:7:7::1', 'alice');
    await other.succeed(owner, 'bob');
    for (let ip = 1; ip <= 5; ip++) for (let i = 0; i < 4; i++) await other.attempt(`192.0.2.${ip}`, 'alice');
    expect(await other.attempt('2001:db8:7:7:abcd::9', 'alice')).toBe(0);
    expect(await other.attempt('2001:db8:7:7:abcd::9', 'alice')).toBe(0);
    expect(await other.attempt(owner, 'alice')).toBe(0);
    expect(await other.attempt(owner, 'alice')).toBeGreaterThan(0);
  });

  it('an address stays known for 30 days after its last good login, and at most 20 are kept per account', async () => {
    const limiter = new LoginLimiter(redis, `${prefix}f:`);
    const day = 86_400_000;
    const t0 = Date.now();
    await limiter.succeed('198.51.100.1', 'admin', t0 - 31 * day);
    await limiter.succeed('198.51.100.2', 'admin', t0 - 29 * day);
    for (let i = 0; i < 25; i++) await limiter.succeed(`203.0.113.${i + 1}`, 'admin', t0 - 20 * day + i);
    const known = await redis.zrange(`${prefix}f:ui:login-known:admin`, 0, -1);
    expect(known).toHaveLength(20);
    expect(known).toContain('203.0.113.25');
    expect(known).not.toContain('203.0.113.5');
    for (let ip = 1; ip <= 5; ip++) for (let i = 0; i < 4; i++) await limiter.attempt(`192.0.2.${ip}`, 'admin');
    // Known ones pass again and again; forgotten ones (31 days old, or pushed out) get one attempt like a stranger.
    for (const ip of ['198.51.100.1', '203.0.113.1']) {
      expect(await limiter.attempt(ip, 'admin')).toBe(0);
      expect(await limiter.attempt(ip, 'admin')).toBeGreaterThan(0);
    }
    for (let i = 0; i < 3; i++) expect(await limiter.attempt('203.0.113.25', 'admin')).toBe(0);
  });

  it('new hashes use scrypt N=2^17', async () => {
    const h = await hashPassword('correct horse battery');
    expect(h.split('$').slice(0, 4)).toEqual(['scrypt', String(2 ** 17), '8', '1']);
    expect(needsRehash(h)).toBe(false);
    expect(await verifyPassword('correct horse battery', h)).toBe(true);
    expect(await verifyPassword('wrong horse', h)).toBe(false);
  });

  it('an N=2^15 hash is re-made at the next good login, keeping the epoch; a wrong password changes nothing', async () => {
    const users = new UserStore(redis, `${prefix}c:`);
    const password = 'an old but good password';
    expect(await users.add('olduser', password)).toBe(true);
    const salt = randomBytes(16);
    const oldHash = ['scrypt', 2 ** 15, 8, 1, salt.toString('base64'), scryptSync(password, salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }).toString('base64')].join('$');
    const key = userKey(`${prefix}c:`, 'olduser');
    const before = JSON.parse((await redis.get(key))!) as { hash: string; epoch: string };
    await redis.set(key, JSON.stringify({ ...before, hash: oldHash }));
    expect(needsRehash(oldHash)).toBe(true);

    expect(await users.check('olduser', 'not the password')).toBeUndefined();
    expect(((JSON.parse((await redis.get(key))!) as { hash: string }).hash)).toBe(oldHash);

    const account = await users.check('olduser', password);
    expect(account?.name).toBe('olduser');
    const after = JSON.parse((await redis.get(key))!) as { hash: string; epoch: string };
    expect(after.hash).not.toBe(oldHash);
    expect(after.hash.startsWith(`scrypt$${2 ** 17}$8$1$`)).toBe(true);
    expect(after.epoch).toBe(before.epoch);
    expect(await users.check('olduser', password)).toBeDefined();
  });
});
