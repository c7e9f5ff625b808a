/** The demo's own redis-server persists (issue 18 item 3): an append-only file fsynced every second, kept across restarts. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/ports.ts';
import { redisPersistenceArgs, startLocalRedis } from '../../infra/redis-local.ts';

const dir = mkdtempSync(join(tmpdir(), 'fraudstream-aof-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('local redis-server', () => {
  it('without a directory keeps nothing; with one, AOF everysec', () => {
    expect(redisPersistenceArgs(undefined)).toEqual(['--save', '', '--appendonly', 'no']);
    expect(redisPersistenceArgs('/d')).toEqual(['--dir', '/d', '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '']);
  });

  it('with a directory comes back from a restart with its data', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const first = await startLocalRedis({ port, dir });
    const a = new Redis(first.url);
    expect(await a.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await a.config('GET', 'appendfsync')).toEqual(['appendfsync', 'everysec']);
    await a.set('fraudstream-aof-probe', 'kept');
    a.disconnect();
    await first.stop();
    const second = await startLocalRedis({ port, dir });
    const b = new Redis(second.url);
    try {
      expect(await b.get('fraudstream-aof-probe')).toBe('kept');
    } finally {
      b.disconnect();
      await second.stop();
    }
  });
});
