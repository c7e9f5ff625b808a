import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ephemeralLow, freePorts, portFree } from '../../infra/ports.ts';

const servers: Server[] = [];
const listen = (port: number) =>
  new Promise<void>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve());
    servers.push(s);
  });

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('free ports for the servers tests start', () => {
  it('picks a run of consecutive ports below the ephemeral range, where client source ports never land', async () => {
    for (let i = 0; i < 20; i++) {
      const base = await freePorts(3);
      expect(base).toBeGreaterThanOrEqual(10_000);
      expect(base + 2).toBeLessThan(ephemeralLow());
    }
  });

  it('skips a run in which any port is taken', async () => {
    const first = await freePorts(2);
    await listen(first + 1);
    expect(await portFree(first + 1)).toBe(false);
    // The first try lands on the run with the taken port; the second is somewhere else.
    const draws = [first, 0.5].values();
    const span = ephemeralLow() - 2 - 10_000;
    const random = () => {
      const d = draws.next().value!;
      return d === first ? (first - 10_000 + 0.5) / span : d;
    };
    const picked = await freePorts(2, random);
    expect(picked).not.toBe(first);
    expect([picked, picked + 1]).not.toContain(first + 1);
  });

  it('refuses a count that is not a positive integer', async () => {
    await expect(freePorts(0)).rejects.toThrow(/positive integer/);
  });
});
