/**
 * A user's CSV, in its own column names with a label column, replayed with --map through the real broker into the
 * running stages (detect computing features, the labels stage feeding arrived labels), against the same file
 * through the offline path (`train --data --map` and `score` replay it through the memory store):
 * - the card's own features are identical (its partition keeps its order);
 * - online, a merchant's fraud count never includes a label that had not arrived by the transaction's time;
 * - once everything is consumed, every entity hash in Redis equals the offline store's state of that entity.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { createKafkaSink, maxRequestBytes } from '../../producers/kafka-sink.ts';
import { replayFile } from '../../producers/replay.ts';
import { MemoryFeatureStore, RedisFeatureStore, FEATURE_NAMES } from '../../detectors/features.ts';
import { readMappedCsv } from '../../detectors/user-data.ts';
import { entityStateFromHash, type EntityState } from '../../detectors/pure/entity-state.ts';
import { BASE_FEATURE_COUNT } from '../../detectors/pure/features.ts';
import { collect, createKafka, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';
import { delayedStream } from '../detectors/delayed-stream.ts';

const DAY = 86_400_000;

/** Early labels are a set: online they wait in the order the labels stage's partitions delivered them. */
function canonical(s: EntityState): EntityState {
  const pend = s.pendAt.map((at, i) => [at, s.pendDay[i]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return { ...s, pendAt: pend.map((p) => p[0]), pendDay: pend.map((p) => p[1]) };
}
const MAP = 'txId=id,time=when,cardId=customer,merchantId=terminal,amount=amount,label=fraud';
const dir = mkdtempSync(path.join(tmpdir(), 'fs-replay-map-'));
let pipeline: Pipeline | undefined;
let redis: Redis | undefined;
afterAll(async () => {
  await pipeline?.stop();
  await redis?.quit();
  rmSync(dir, { recursive: true, force: true });
});

describe('replay --map of a user\'s CSV through the stages, against the offline features of the same file', () => {
  it('agrees with the offline path, and online never counts a label before it arrived', async () => {
    const { txs, fraud: fraudIds } = delayedStream({ days: 30, customers: 25, terminals: 12, seed: 21 });
    const lines = ['id,when,customer,terminal,amount,fraud'];
    for (const t of txs) lines.push(`${t.txId},${new Date(t.ts).toISOString()},${t.cardId},${t.merchantId},${(t.amountMinor / 100).toFixed(2)},${fraudIds.has(t.txId) ? 1 : 0}`);
    const file = path.join(dir, 'mine.csv');
    writeFileSync(file, lines.join('\n') + '\n');
    const labelDelayMs = 3 * DAY;

    const config = await testConfig('replay-map-features');
    redis = testRedis(config);
    pipeline = await startPipeline({ config });
    await pipeline.ready;
    const sink = await createKafkaSink(config, '-replay-map');
    try {
      // 30 days in about 26 s: labels reach the labels stage about when they would, live, relative to detect
      const s = await replayFile({ file, pace: { kind: 'speed', factor: 100_000 }, csv: { map: MAP, labelDelayMs }, labelsFile: null, maxBatchBytes: maxRequestBytes(config), progress: false }, sink);
      expect(s).toMatchObject({ rows: txs.length, sent: txs.length, rejected: 0, labelsSent: txs.length });
    } finally {
      await sink.close();
    }
    const kafka = createKafka(config, '-replay-map-reader');
    await collect(kafka, config.topics.decisions, (m) => m.length >= txs.length, 90_000);
    // the labels stage has counted every fraud label once: one claim key each
    const fraudCount = fraudIds.size;
    await expect.poll(async () => (await redis!.keys(`${config.redis.keyPrefix}feat:l:*`)).length, { timeout: 60_000 }).toBe(fraudCount);

    const read = await readMappedCsv(file, { map: MAP, labelDelayMs });
    const offline = new MemoryFeatureStore();
    const want = offline.replayEvents(read.txs.map((tx) => ({ tx, label: read.labels.get(tx.txId) ?? null })));
    const index = new Map(read.txs.map((t, i) => [t.txId, i]));

    const online = new RedisFeatureStore(redis, { keyPrefix: config.redis.keyPrefix });
    const cardCols = FEATURE_NAMES.flatMap((n, i) => (i < BASE_FEATURE_COUNT || n.startsWith('card_') ? [i] : []));
    const riskCols = [1, 7, 30].map((w) => FEATURE_NAMES.indexOf(`merchant_fraud_count_${w}d_delayed`));
    let compared = 0;
    let risky = 0;
    for (const card of new Set(read.txs.map((t) => t.cardId))) {
      const mine = read.txs.filter((t) => t.cardId === card);
      const got = await online.history(card, 32);
      const last = mine.slice(mine.length - got.length);
      got.forEach((v, j) => {
        const i = index.get(last[j].txId) as number;
        const tx = read.txs[i];
        expect(cardCols.map((c) => v[c]), `${tx.txId} card features`).toEqual(cardCols.map((c) => want[i][c]));
        // a brute-force count of the labels that had arrived by the transaction's time, for its merchant's windows
        const today = Math.floor(tx.ts / DAY);
        [1, 7, 30].forEach((w, k) => {
          let arrived = 0;
          for (const l of read.labels.values()) {
            const d = Math.floor((l.txTs as number) / DAY);
            if (l.isFraud && l.merchantId === tx.merchantId && l.labeledAt <= tx.ts && d > today - 7 - w && d <= today - 7) arrived++;
          }
          expect(v[riskCols[k]], `${tx.txId} ${w}d risk`).toBeLessThanOrEqual(arrived);
          if (v[riskCols[k]] > 0) risky++;
        });
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(400);
    expect(risky).toBeGreaterThan(20);

    // replay sends the labels still due after its last row at the end; offline, they arrive now too
    offline.applyLabelsSync([...read.labels.values()]);
    const keys = await redis.keys(`${config.redis.keyPrefix}feat:e:*`);
    expect(keys.length).toBe(offline.entityCount + 1);
    for (const key of keys) {
      const entity = key.slice(key.indexOf('{') + 1, -1);
      expect({ entity, ...canonical(entityStateFromHash(await redis.hgetallBuffer(key))) }).toEqual({ entity, ...canonical(offline.peekEntity(entity)!) });
    }
    await dropTestKeys(redis, config);
  }, 240_000);
});
