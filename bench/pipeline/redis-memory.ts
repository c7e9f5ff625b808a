/**
 * Redis memory per million decisions (`npm run bench -- --redis-memory`). Drives the real writers of every key
 * family a decision touches (outcome claims, feature store, scored samples, decision stats, the console's card
 * history, review cases for the REVIEW share) on an isolated key prefix, then sums MEMORY USAGE over the keys by
 * family. Families grow with different things: outcomes with decisions inside the dedupe window, feature state
 * and card history with active cards, the rest are capped. The result is scaled to 10^6 decisions at the same
 * transactions per card, and stated per decision and per card so other traffic shapes can be worked out.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import type { Case, Decision, Transaction } from '../../core/contracts.ts';
import { createRedis } from '../../core/redis.ts';
import { RedisFeatureStore } from '../../detectors/feature-store/redis.ts';
import { storeCardHistory } from '../../state/card-history.ts';
import { countDecisions, decisionStatsKey } from '../../state/decision-stats.ts';
import { featureCardKey, featureEntityKey, featureLabelKey, featureNewCardsKey } from '../../state/features.ts';
import { OutcomeStore, outcomeExpiryKey, outcomeKeyPrefix } from '../../state/outcomes.ts';
import { RedisReviewQueue, reviewKeys } from '../../state/review.ts';
import { RedisSampleStore, sampleLabelKey, samplesKey } from '../../state/samples.ts';
import { cardHistoryKey, cardRowsKey } from '../../state/ui.ts';

export interface RedisMemoryOptions {
  config: Config;
  decisions: number;
  cards: number;
  /** Share of transactions escalated (claimed by escalate too) and sent to review. */
  escalateShare: number;
  reviewShare: number;
  json: string;
  log: (line: string) => void;
}

export interface FamilyRow {
  family: string;
  keys: number;
  bytes: number;
  /** What bounds it: TTL or cap, and what it grows with. */
  bound: string;
  growsWith: 'decisions' | 'cards' | 'capped';
}

export interface RedisMemoryResult {
  decisions: number;
  cards: number;
  families: FamilyRow[];
  totalBytes: number;
  bytesPerDecision: number;
  /** Families that grow with decisions, per decision; with cards, per card. */
  perDecisionBytes: number;
  perCardBytes: number;
  /** Scaled to 1e6 decisions at this run's transactions per card. */
  perMillionDecisionsMiB: number;
  redisVersion: string;
}

/** Key families by their builders in state/ (a builder given '' yields the family's prefix). */
function families(prefix: string): Array<{ match: (key: string) => boolean; family: string; bound: string; growsWith: FamilyRow['growsWith'] }> {
  const starts = (p: string) => (key: string) => key.startsWith(p);
  const review = reviewKeys(prefix);
  return [
    // a claim (no TTL) and its entry in the set of its time bucket, both swept a window after the bucket
    ...(['detect', 'escalate'] as const).map((stage) => ({
      match: (k: string) => k.startsWith(outcomeKeyPrefix(prefix, stage)) || k.startsWith(outcomeExpiryKey(prefix, stage, 0).slice(0, -1)),
      family: `outcomes, ${stage}`,
      bound: 'no TTL: swept 24 h after (1-min buckets)',
      growsWith: 'decisions' as const,
    })),
    { match: starts(featureCardKey(prefix, '').slice(0, -1)), family: 'feature state', bound: 'TTL 90 d idle, 32-entry ring per card', growsWith: 'cards' },
    // one per card (customer), merchant and device, and the global one: 38 day buckets, 64 counterparties at most
    { match: starts(featureEntityKey(prefix, '').slice(0, -2)), family: 'feature entities', bound: 'TTL 90 d idle, 38 day buckets', growsWith: 'cards' },
    { match: starts(featureNewCardsKey(prefix, '', 0).slice(0, -2)), family: 'new-card cap counters', bound: 'TTL 3 min, the cap per scope-minute', growsWith: 'capped' },
    { match: starts(featureLabelKey(prefix, '')), family: 'fraud label claims', bound: 'TTL 90 d, fraud labels only', growsWith: 'capped' },
    { match: starts(cardHistoryKey(prefix, '')), family: 'card history ids', bound: '50 per card, TTL 30 d idle', growsWith: 'cards' },
    { match: starts(cardRowsKey(prefix, '')), family: 'card history rows', bound: '50 per card, TTL 30 d idle', growsWith: 'cards' },
    { match: starts(review.case('')), family: 'review cases', bound: 'open: review capacity; closed: TTL 30 d', growsWith: 'capped' },
    { match: (k) => k === review.open || k === review.opened || k === review.closed, family: 'review queues', bound: 'capacity, 1000 closed', growsWith: 'capped' },
    { match: (k) => k === samplesKey(prefix), family: 'scored samples', bound: 'cap 5000', growsWith: 'capped' },
    { match: starts(sampleLabelKey(prefix, '')), family: 'sample labels', bound: 'TTL 7 d', growsWith: 'decisions' },
    { match: (k) => k === decisionStatsKey(prefix), family: 'decision stats', bound: '3 fields', growsWith: 'capped' },
  ];
}

function transactions(from: number, n: number, cards: number, runId: string): Transaction[] {
  const start = Date.now() - 3_600_000;
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    // A multiplicative hash spreads each card's transactions over the run, as real traffic would.
    const card = (i * 2_654_435_761) % cards;
    return {
      txId: `${runId}-${i}`,
      cardId: `card-${card}`,
      merchantId: `m-${i % 997}`,
      merchantName: `Merchant ${i % 997}`,
      mcc: i % 5 === 0 ? '5999' : '5411',
      amountMinor: 500 + ((i * 7919) % 50_000),
      currency: 'EUR',
      ts: start + i * 10,
      channel: i % 3 === 0 ? 'ecommerce' : 'card_present',
      country: 'FR',
      lat: 48.85 + (card % 100) / 1000,
      lon: 2.35,
      deviceId: i % 3 === 0 ? `dev-${card}` : null,
    };
  });
}

async function keysOf(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return out;
}

export async function measureRedisMemory(o: RedisMemoryOptions): Promise<RedisMemoryResult> {
  const runId = randomUUID().slice(0, 8);
  const prefix = `${o.config.redis.keyPrefix}memory-bench-${runId}:`;
  const redis = createRedis(o.config, 'redis-memory-bench');
  try {
    const features = new RedisFeatureStore(redis, { keyPrefix: prefix });
    const detect = new OutcomeStore(redis, prefix, 'detect', 24 * 3600);
    const escalate = new OutcomeStore(redis, prefix, 'escalate', 24 * 3600);
    const samples = new RedisSampleStore(redis, prefix);
    const queue = new RedisReviewQueue(redis, prefix);
    const batch = 500;
    const started = Date.now();
    for (let from = 0; from < o.decisions; from += batch) {
      const txs = transactions(from, Math.min(batch, o.decisions - from), o.cards, runId);
      await features.computeAndApply(txs);
      await detect.claim(txs.map((t) => ({ key: t.txId, source: `0:${t.txId}`, hash: 'h'.repeat(22) })));
      const escalated = txs.filter((_, k) => ((from + k) * 40_503) % 10_000 < o.escalateShare * 10_000);
      await escalate.claim(escalated.map((t) => ({ key: t.txId, source: `0:${t.txId}`, hash: 'h'.repeat(22) })));
      const decided: Decision[] = txs.map((tx) => ({
        decisionId: `${tx.txId}:detect`, txId: tx.txId, cardId: tx.cardId, action: 'ALLOW', stage: 'detect', final: true, reason: 'bench',
        scores: { xgboost: 0.1, isolationForest: 0.2 }, rulesFired: [], topFeatures: [], versions: { model: 'bench', policy: 1 }, timings: { detect: 1 }, decidedAt: Date.now(), tx,
      }));
      await samples.push(txs.map((t) => ({ txId: t.txId, cardId: t.cardId, merchantId: t.merchantId, mcc: t.mcc, country: t.country, amountMinor: t.amountMinor, scores: { xgboost: 0.1 }, rulesFired: [], action: 'ALLOW' })));
      await storeCardHistory(redis, prefix, decided);
      await countDecisions(redis, prefix, { ALLOW: txs.length });
      for (const t of escalated.filter((_, k) => k / escalated.length < o.reviewShare / o.escalateShare)) {
        const c: Case = {
          caseId: t.txId, txId: t.txId, cardId: t.cardId, tx: t, features: {}, scores: { xgboost: 0.6 }, rulesFired: [], topFeatures: [],
          versions: { model: 'bench', policy: 1 }, status: 'open', risk: 0.6, createdAt: Date.now(),
        };
        await queue.enqueue(c);
      }
      if ((from / batch) % 40 === 0) o.log(`redis-memory: ${from + txs.length}/${o.decisions} decisions written (${Math.round(((from + txs.length) / (Date.now() - started)) * 1000)}/s)`);
    }
    const keys = await keysOf(redis, prefix);
    const rows = new Map<string, FamilyRow>();
    const known = families(prefix);
    for (let i = 0; i < keys.length; i += 1000) {
      const slice = keys.slice(i, i + 1000);
      const p = redis.pipeline();
      for (const k of slice) p.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
      const res = (await p.exec()) ?? [];
      slice.forEach((k, j) => {
        const f = known.find((x) => x.match(k)) ?? { family: k.slice(prefix.length), bound: '?', growsWith: 'capped' as const };
        const row = rows.get(f.family) ?? { family: f.family, keys: 0, bytes: 0, bound: f.bound, growsWith: f.growsWith };
        row.keys += 1;
        row.bytes += Number(res[j]?.[1] ?? 0);
        rows.set(f.family, row);
      });
    }
    const byFamily = [...rows.values()].sort((a, b) => b.bytes - a.bytes);
    const sum = (g: FamilyRow['growsWith']) => byFamily.filter((f) => f.growsWith === g).reduce((a, f) => a + f.bytes, 0);
    const totalBytes = byFamily.reduce((a, f) => a + f.bytes, 0);
    const info = await redis.info('server');
    const result: RedisMemoryResult = {
      decisions: o.decisions,
      cards: o.cards,
      families: byFamily,
      totalBytes,
      bytesPerDecision: totalBytes / o.decisions,
      perDecisionBytes: sum('decisions') / o.decisions,
      perCardBytes: sum('cards') / o.cards,
      perMillionDecisionsMiB: ((sum('decisions') + sum('cards')) * (1e6 / o.decisions) + sum('capped')) / 2 ** 20,
      redisVersion: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    };
    // Delete what was measured: it is not anyone's state.
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
    await mkdir(path.dirname(o.json), { recursive: true });
    await writeFile(o.json, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    redis.disconnect();
  }
}

export function formatRedisMemory(r: RedisMemoryResult): string {
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const lines = [
    `Redis memory (MEMORY USAGE summed per key family), ${r.decisions.toLocaleString('en')} decisions over ${r.cards.toLocaleString('en')} cards, Redis ${r.redisVersion}`,
    '',
    `${'family'.padEnd(26)} ${'keys'.padStart(9)} ${'MiB'.padStart(8)} ${'B/decision'.padStart(11)}  grows with  bound`,
    ...r.families.map((f) => `${f.family.padEnd(26)} ${String(f.keys).padStart(9)} ${mib(f.bytes).padStart(8)} ${(f.bytes / r.decisions).toFixed(1).padStart(11)}  ${f.growsWith.padEnd(10)}  ${f.bound}`),
    `${'total'.padEnd(26)} ${String(r.families.reduce((a, f) => a + f.keys, 0)).padStart(9)} ${mib(r.totalBytes).padStart(8)} ${r.bytesPerDecision.toFixed(1).padStart(11)}`,
    '',
    `per decision (outcomes, kept 24 h): ${r.perDecisionBytes.toFixed(0)} B; per active card (features 90 d, card history 30 d): ${r.perCardBytes.toFixed(0)} B`,
    `per million decisions at ${(r.decisions / r.cards).toFixed(1)} transactions per card: ${r.perMillionDecisionsMiB.toFixed(0)} MiB`,
  ];
  return lines.join('\n');
}
