/**
 * Micro-benchmark of the dedupe claim call (state/outcomes.ts OutcomeStore.claim) against a redis-server of its own:
 * batches of new keys, then the same batches again (held), µs per claim on the client and Redis' own CPU per script
 * call (INFO commandstats). Usage: tsx bench/claims-micro.ts [port] [batches] [batchSize] [module]; `module`: another
 * copy of state/outcomes.ts to measure instead (e.g. `git show main:state/outcomes.ts > state/outcomes-main.tmp.ts`,
 * then `../state/outcomes-main.tmp.ts`), run alternately with this one on a loaded machine.
 */
import { Redis } from 'ioredis';
import { startLocalRedis } from '../infra/redis-local.ts';
import * as current from '../state/outcomes.ts';

const port = Number(process.argv[2] ?? 6471);
const batches = Number(process.argv[3] ?? 400);
const size = Number(process.argv[4] ?? 500);
const other = process.argv[5];
const { OutcomeStore, outcomeViewKey } = (other ? await import(other) : current) as typeof current;
const local = await startLocalRedis({ port });
const r = new Redis(local.url);
try {
  await r.flushall();
  await r.set(outcomeViewKey('mb:', 'detect'), 'gen');
  const store = new OutcomeStore(r, 'mb:', 'detect', 24 * 3600);
  const items = (b: number) => Array.from({ length: size }, (_, i) => ({ key: `0f8fad5b-d9cb-469f-a165-${String(b * size + i).padStart(12, '0')}`, source: `3:${b * size + i}`, hash: 'h'.repeat(22) }));
  for (let b = 0; b < 20; b++) await store.claim(items(1_000_000 + b)); // warm-up
  const run = async (label: string, offset: number) => {
    await r.config('RESETSTAT');
    const t = process.hrtime.bigint();
    for (let b = 0; b < batches; b++) await store.claim(items(offset + b));
    const us = Number(process.hrtime.bigint() - t) / 1000 / (batches * size);
    const stats = await r.info('commandstats');
    const line = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
    const redisUs = line ? Number(line[2]) / (batches * size) : NaN;
    console.log(`${label}: ${us.toFixed(2)} µs per claim (client round trip), Redis CPU ${redisUs.toFixed(2)} µs per claim`);
  };
  await run('new keys', 0);
  await run('held again', 0);
  const mem = await r.info('memory');
  console.log(`used_memory ${Number(/used_memory:(\d+)/.exec(mem)?.[1]) / batches / size} B per claim (${batches * size} claims + warm-up)`);
} finally {
  r.disconnect();
  await local.stop();
}
