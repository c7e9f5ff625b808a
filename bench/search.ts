/**
 * What the console's search index costs: `npx fraudstream bench search [--rows N]` writes N decisions shaped like
 * the stages' (every registered model's score, two rules, five feature contributions) into the index under a
 * throwaway key prefix of REDIS_URL, measures the write rate, the Redis memory per row (MEMORY USAGE of every key
 * the index holds) and the time of each kind of search, then deletes its keys.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../core/config.ts';
import { DecisionSchema, type Decision } from '../core/contracts.ts';
import { createRedis } from '../core/redis.ts';
import { MODEL_IDS } from '../core/model-registry.ts';
import { table } from '../detectors/progress.ts';
import { SEARCH_MAX_ROWS, SEARCH_SCAN_MAX, SearchIndex, type SearchFilter } from '../state/search.ts';

export interface SearchBench {
  rows: number;
  cards: number;
  merchants: number;
  writesPerSecond: number;
  bytesPerRow: number;
  /** bytesPerRow x SEARCH_MAX_ROWS: the index's memory at its cap. */
  mbAtCap: number;
  maxRows: number;
  scanMax: number;
  queries: Array<{ query: string; via: string; found: number; scanned: number; medianMs: number; maxMs: number }>;
}

function decisionAt(i: number, cards: number, merchants: number, t0: number): Decision {
  const scores = Object.fromEntries(MODEL_IDS.map((m, j) => [m, ((i * 7919 + j * 104729) % 1000) / 1000]));
  const action = i % 50 === 0 ? 'BLOCK' : i % 97 === 0 ? 'REVIEW' : 'ALLOW';
  return DecisionSchema.parse({
    decisionId: `bench-${i}:detect`, txId: `bench-tx-${i}`, cardId: `card-${i % cards}`, action, stage: action === 'REVIEW' ? 'escalate' : 'detect', final: action !== 'REVIEW',
    reason: action === 'BLOCK' ? 'XGBoost 0.962 >= 0.900 (block threshold)' : 'every score below its threshold', scores,
    rulesFired: [
      { id: 'model.xgboost_block', description: 'XGBoost score at or above the block threshold', effect: 'info', value: 0.41, threshold: 0.9 },
      { id: 'rules.amount_escalate', description: 'amount above the escalation limit', effect: 'info', value: 12_000, threshold: 50_000 },
    ],
    topFeatures: ['amount_zscore', 'distinct_merchants_24h', 'merchant_risk', 'hour_of_day', 'card_tx_count_log'].map((name, k) => ({ name, value: (i % 17) / 3 + k, contribution: ((i + k) % 9) / 20 - 0.2 })),
    versions: { model: 'v20260301T120000000Z', policy: 7 }, timings: { detect: 2.4 }, decidedAt: t0 + i * 50,
    tx: { txId: `bench-tx-${i}`, cardId: `card-${i % cards}`, merchantId: `m-${i % merchants}`, merchantName: `Merchant number ${i % merchants}`, mcc: '5411', amountMinor: 500 + ((i * 7919) % 90_000), currency: 'EUR', ts: t0 + i * 50, channel: 'ecommerce', country: 'FR', lat: 48.85, lon: 2.35, deviceId: `dev-${i % cards}` },
    expectedLoss: { pFraud: 0.02, calibrated: true, ifAllowedMinor: 120, ifBlockedMinor: 980, stakeMinor: 120 },
  });
}

export async function runSearchBench(rows: number, log: (line: string) => void = () => undefined): Promise<SearchBench> {
  const config = loadConfig();
  const redis = createRedis(config, 'bench-search');
  const prefix = `${config.redis.keyPrefix}bench-search-${randomUUID().slice(0, 8)}:`;
  const cards = Math.max(10, Math.round(rows / 20));
  const merchants = Math.max(5, Math.round(rows / 200));
  const idx = new SearchIndex(redis, prefix, { maxRows: rows });
  try {
    const t0 = Date.now() - rows * 50;
    const started = performance.now();
    for (let i = 0; i < rows; i += 500) {
      await idx.store(Array.from({ length: Math.min(500, rows - i) }, (_, k) => decisionAt(i + k, cards, merchants, t0)), Date.now());
      if (i % 20_000 === 0) log(`indexed ${i.toLocaleString('en-US')} / ${rows.toLocaleString('en-US')}`);
    }
    const writesPerSecond = Math.round(rows / ((performance.now() - started) / 1000));
    let bytes = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      for (const k of keys) bytes += Number(await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) || 0;
      cursor = next;
    } while (cursor !== '0');
    const bytesPerRow = Math.round(bytes / rows);
    const mid = Math.floor(rows / 2);
    const probes: Array<[string, SearchFilter]> = [
      ['tx id', { txId: `bench-tx-${mid}`, limit: 200 }],
      ['card', { card: `card-${mid % cards}`, limit: 200 }],
      ['merchant id', { merchant: `m-${mid % merchants}`, limit: 200 }],
      ['action BLOCK, newest 200', { action: 'BLOCK', limit: 200 }],
      ['merchant name part (no match: a full scan)', { merchant: 'no such merchant', limit: 200 }],
      ['time window of 1,000 decisions, BLOCK', { action: 'BLOCK', from: t0 + mid * 50, to: t0 + (mid + 1_000) * 50, limit: 200 }],
    ];
    const queries = [];
    for (const [query, f] of probes) {
      const times: number[] = [];
      let last = await idx.search(f);
      for (let k = 0; k < 15; k++) {
        const s = performance.now();
        last = await idx.search(f);
        times.push(performance.now() - s);
      }
      times.sort((a, b) => a - b);
      queries.push({ query, via: last.via, found: last.rows.length, scanned: last.scanned, medianMs: Math.round((times[7] as number) * 10) / 10, maxMs: Math.round((times.at(-1) as number) * 10) / 10 });
    }
    return { rows, cards, merchants, writesPerSecond, bytesPerRow, mbAtCap: Math.round((bytesPerRow * SEARCH_MAX_ROWS) / 1e6), maxRows: SEARCH_MAX_ROWS, scanMax: SEARCH_SCAN_MAX, queries };
  } finally {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    redis.disconnect();
  }
}

export function searchBenchTable(r: SearchBench): string {
  return [
    `search index: ${r.rows.toLocaleString('en-US')} decisions (${r.cards.toLocaleString('en-US')} cards, ${r.merchants.toLocaleString('en-US')} merchants) written at ${r.writesPerSecond.toLocaleString('en-US')}/s`,
    `Redis memory ${r.bytesPerRow} bytes per row -> ${r.mbAtCap} MB at the cap of ${r.maxRows.toLocaleString('en-US')} rows; a scan reads at most ${r.scanMax.toLocaleString('en-US')} rows`,
    table(['search', 'via', 'found', 'rows read', 'median ms', 'max ms'], r.queries.map((q) => [q.query, q.via, q.found, q.scanned, q.medianMs, q.maxMs])),
  ].join('\n');
}
