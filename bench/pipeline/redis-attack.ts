/**
 * Redis memory under a card-testing attack (`npm run bench -- --redis-memory --random-cards N`, issue 19): N
 * decisions, each on a distinct random card id, through the writers a detect decision runs (the dedupe claim, the
 * feature store with the configured new-card cap, the console's card history, the decision counters), against a
 * redis-server this run starts with `--maxmemory` and the project's policy (infra/redis-local.ts). Two runs: the cap
 * off (eviction alone bounds memory) and the cap on. Reports the memory a million such decisions take before eviction
 * starts, the peak used_memory beside maxmemory, keys evicted, and whether every batch was still decided.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Decision, Transaction } from '../../core/contracts.ts';
import { RedisFeatureStore } from '../../detectors/feature-store/redis.ts';
import type { NewCardCapOptions } from '../../detectors/pure/new-card-cap.ts';
import { REDIS_EVICTION_POLICY, startLocalRedis } from '../../infra/redis-local.ts';
import { storeCardHistory } from '../../state/card-history.ts';
import { countDecisions } from '../../state/decision-stats.ts';
import { OutcomeStore, outcomeViewKey } from '../../state/outcomes.ts';

export interface RedisAttackOptions {
  decisions: number;
  maxmemory: string;
  merchants: number;
  /** Attack transactions per second of event time (the cap counts per minute of event time). */
  rate: number;
  cap: NewCardCapOptions;
  json: string;
  log: (line: string) => void;
}

export interface AttackRun {
  name: string;
  cap: NewCardCapOptions;
  decisions: number;
  /** Batches whose writes failed (OOM or other): decisions that would have stopped. */
  failedBatches: number;
  capped: number;
  /** used_memory growth per decision before the first eviction, scaled to 10^6 decisions. */
  perMillionMiB: number | null;
  decisionsBeforeEviction: number | null;
  peakUsedBytes: number;
  maxmemoryBytes: number;
  /** Peak used_memory above maxmemory (Redis evicts before a command, so the last writes can overshoot a little). */
  overshootBytes: number;
  /** Peak within maxmemory + 1% (the overshoot of one batch's writes). */
  underMaxmemory: boolean;
  evictedKeys: number;
  keysAtEnd: number;
  decisionsPerSecond: number;
}

export interface RedisAttackResult {
  redisVersion: string;
  policy: string;
  maxmemory: string;
  merchants: number;
  rate: number;
  runs: AttackRun[];
}

function attack(from: number, n: number, merchants: number, rate: number, seed: number, t0: number): Transaction[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    // a distinct 16-digit id per transaction (i is in it), its 6-digit prefix scattered over 10^5 values
    const card = `4${String((i * 7_919 + seed * 104_729) % 100_000).padStart(5, '0')}${String(i).padStart(10, '0')}`;
    return {
      txId: `atk-${seed}-${i}`, cardId: card, merchantId: `m-${i % merchants}`, merchantName: 'Shop', mcc: '5999', amountMinor: 100 + (i % 900), currency: 'EUR',
      ts: t0 + Math.floor((i * 1000) / rate), channel: 'ecommerce', country: 'FR', lat: 48.85, lon: 2.35, deviceId: null,
    };
  });
}

const usedMemory = async (r: Redis): Promise<{ used: number; evicted: number }> => {
  const info = await r.info();
  return { used: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0), evicted: Number(/evicted_keys:(\d+)/.exec(info)?.[1] ?? 0) };
};

async function runOnce(r: Redis, name: string, cap: NewCardCapOptions, o: RedisAttackOptions, seed: number): Promise<AttackRun> {
  await r.flushall();
  await r.config('RESETSTAT');
  const prefix = 'fs:';
  const store = new RedisFeatureStore(r, { keyPrefix: prefix, newCardCap: cap });
  const claims = new OutcomeStore(r, prefix, 'detect', 24 * 3600);
  await r.set(outcomeViewKey(prefix, 'detect'), 'bench');
  const maxmemoryBytes = Number(((await r.config('GET', 'maxmemory')) as string[])[1]);
  const base = (await usedMemory(r)).used;
  const t0 = Date.now() - 3_600_000;
  let failed = 0;
  let capped = 0;
  let peak = base;
  let beforeEviction: { decisions: number; used: number } | null = null;
  let last = { decisions: 0, used: base };
  const batch = 500;
  const started = Date.now();
  for (let from = 0; from < o.decisions; from += batch) {
    const txs = attack(from, Math.min(batch, o.decisions - from), o.merchants, o.rate, seed, t0);
    try {
      await claims.claim(txs.map((t) => ({ key: t.txId, source: `0:${t.txId}`, hash: 'h'.repeat(22) })));
      const vectors = await store.computeAndApply(txs);
      capped += vectors.capped?.size ?? 0;
      const decided: Decision[] = txs.map((tx) => ({
        decisionId: `${tx.txId}:detect`, txId: tx.txId, cardId: tx.cardId, action: 'ALLOW', stage: 'detect', final: true, reason: 'bench',
        scores: {}, rulesFired: [], topFeatures: [], versions: { model: 'bench', policy: 1 }, timings: { detect: 1 }, decidedAt: Date.now(), tx,
      }));
      // as the console's live feed: no card history for a card decided without state
      await storeCardHistory(r, prefix, decided.filter((_, i) => !vectors.capped?.has(i)));
      await countDecisions(r, prefix, { ALLOW: txs.length });
    } catch (err) {
      failed += 1;
      if (failed <= 3) o.log(`${name}: batch at ${from} failed: ${(err as Error).message.slice(0, 160)}`);
    }
    {
      const m = await usedMemory(r);
      peak = Math.max(peak, m.used);
      const done = Math.min(o.decisions, from + batch);
      if (m.evicted > 0 && beforeEviction === null) beforeEviction = last;
      last = { decisions: done, used: m.used };
      if ((from / batch) % 200 === 0) o.log(`${name}: ${done}/${o.decisions} decisions, used_memory ${(m.used / 2 ** 20).toFixed(1)} MiB, evicted ${m.evicted}, capped ${capped}`);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const end = await usedMemory(r);
  const growth = beforeEviction ?? last;
  return {
    name,
    cap,
    decisions: o.decisions,
    failedBatches: failed,
    capped,
    perMillionMiB: growth.decisions > 0 ? ((growth.used - base) / growth.decisions) * 1e6 / 2 ** 20 : null,
    decisionsBeforeEviction: beforeEviction ? beforeEviction.decisions : null,
    peakUsedBytes: peak,
    maxmemoryBytes,
    overshootBytes: Math.max(0, peak - maxmemoryBytes),
    underMaxmemory: maxmemoryBytes === 0 || peak <= maxmemoryBytes * 1.01,
    evictedKeys: end.evicted,
    keysAtEnd: await r.dbsize(),
    decisionsPerSecond: o.decisions / seconds,
  };
}

export async function measureRedisAttack(o: RedisAttackOptions): Promise<RedisAttackResult> {
  const server = await startLocalRedis({ maxmemory: o.maxmemory });
  const r = new Redis(server.url, { maxRetriesPerRequest: 3 });
  try {
    const info = await r.info('server');
    const runs: AttackRun[] = [];
    o.log(`redis-memory attack: own redis-server ${server.url}, maxmemory ${o.maxmemory}, ${REDIS_EVICTION_POLICY}; ${o.decisions} random cards over ${o.merchants} merchants at ${o.rate}/s event time`);
    runs.push(await runOnce(r, 'cap off', { ...o.cap, perMinute: 0 }, o, 1));
    if (o.cap.perMinute > 0) runs.push(await runOnce(r, `cap ${o.cap.perMinute}/min`, o.cap, o, 2));
    const result: RedisAttackResult = {
      redisVersion: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
      policy: REDIS_EVICTION_POLICY,
      maxmemory: o.maxmemory,
      merchants: o.merchants,
      rate: o.rate,
      runs,
    };
    await mkdir(path.dirname(o.json), { recursive: true });
    await writeFile(o.json, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    r.disconnect();
    await server.stop();
  }
}

export function formatRedisAttack(r: RedisAttackResult): string {
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const cols = ['run', 'decisions', 'decided', 'capped', 'MiB per 1M (before eviction)', 'peak used MiB', 'maxmemory MiB', 'overshoot KiB', 'under', 'evicted keys', 'keys at end', 'decisions/s'];
  const rows = r.runs.map((x) => [
    x.name,
    x.decisions.toLocaleString('en'),
    x.failedBatches === 0 ? 'all' : `${x.failedBatches} batches failed`,
    x.capped.toLocaleString('en'),
    x.perMillionMiB === null ? '?' : x.perMillionMiB.toFixed(0),
    mib(x.peakUsedBytes),
    mib(x.maxmemoryBytes),
    (x.overshootBytes / 1024).toFixed(0),
    x.underMaxmemory ? 'yes' : 'NO',
    x.evictedKeys.toLocaleString('en'),
    x.keysAtEnd.toLocaleString('en'),
    x.decisionsPerSecond.toFixed(0),
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `Redis under a card-testing run: distinct random card ids, ${r.merchants} merchants, ${r.rate} tx/s event time; Redis ${r.redisVersion}, maxmemory ${r.maxmemory}, ${r.policy}`,
    '',
    line(cols),
    ...rows.map(line),
  ].join('\n');
}
