/**
 * Free loopback ports for the servers that tests and the chaos suite start themselves (broker, redis-server, console).
 *
 * Ports are picked below the kernel's ephemeral range. A port the kernel hands out for `listen(0)` lies inside that
 * range, and so does the source port of every outgoing connection: between the check and a JVM's bind seconds later,
 * any client on the machine could take it (seen in CI: the chaos suite's broker failed to bind its port). Below the
 * range only another server's explicit bind can collide.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (Linux's default 32768 where /proc does not say). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Whether nothing listens on 127.0.0.1:port now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive free ports below the ephemeral range (a broker takes its client and controller ports). */
export async function freePorts(count: number, random: () => number = Math.random): Promise<number> {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
  const high = ephemeralLow() - count;
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOWEST + Math.floor(random() * (high - LOWEST));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no run of ${count} free loopback ports between ${LOWEST} and ${high} after 200 tries`);
}

/** One free port below the ephemeral range. */
export const freePort = (): Promise<number> => freePorts(1);
