import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../core/config.ts';
import { driftKey } from '../../detectors/drift.ts';
import { FEATURE_NAMES, MemoryFeatureStore, RedisFeatureStore } from '../../detectors/features.ts';
import { warmFeatureStore, warmFromModel } from '../../detectors/warm.ts';
import { continueWorld, historyCardIds, historyEvents, WORLD_GENERATOR, type WorldHistory } from '../../producers/world/index.ts';
import { dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';

const history: WorldHistory = { generator: WORLD_GENERATOR, seed: 5, events: 2_000, cards: 60, merchants: 80 };
const opened: Array<{ redis: Redis; config: Config }> = [];

afterAll(async () => {
  for (const { redis, config } of opened) {
    await dropTestKeys(redis, config);
    await redis.quit();
  }
});

async function setup(label: string): Promise<{ redis: Redis; config: Config }> {
  const config = await testConfig(label);
  const redis = testRedis(config);
  opened.push({ redis, config });
  return { redis, config };
}

const arrays = (vs: Float64Array[]) => vs.map((v) => Array.from(v));
const states = (redis: Redis, store: RedisFeatureStore, cards: readonly string[]) => Promise.all(cards.map((c) => redis.hgetBuffer(store.cardKey(c), 's')));

describe('warming the online feature store with a training history', () => {
  it('gives live transactions the vectors the trainer would have computed, and a second warm starts from the same state', async () => {
    const { redis, config } = await setup('warm');
    const prefix = config.redis.keyPrefix;
    const cards = historyCardIds(history);
    const result = await warmFeatureStore(redis, prefix, { cardIds: cards, events: historyEvents(history) }, { batch: 300 });
    expect(result).toMatchObject({ cards: 60, transactions: 2_000 });

    const world = continueWorld(history);
    const live = Array.from({ length: 400 }, () => world.next()!.tx);
    const memory = new MemoryFeatureStore();
    memory.replayEvents(historyEvents(history), 500);
    const want = memory.computeAndApplySync(live);

    const store = new RedisFeatureStore(redis, { keyPrefix: prefix });
    const warmState = await states(redis, store, cards);
    const entities = async () => {
      const keys = (await redis.keys(`${prefix}feat:e:*`)).sort();
      return Promise.all(keys.map(async (k) => [k, await redis.hgetallBuffer(k)]));
    };
    const warmEntities = await entities();
    expect(warmState.filter((s) => s !== null).length).toBeGreaterThan(50);
    expect(arrays(await store.computeAndApply(live))).toEqual(arrays(want));
    // Velocity and running statistics are warm: not every live vector looks like a card's first transaction.
    const count24h = FEATURE_NAMES.indexOf('tx_count_24h');
    expect(want.filter((v) => v[count24h]! > 0).length).toBeGreaterThan(live.length / 2);

    // The live traffic moved the cards on; warming again puts them back exactly where the history left them.
    expect(await states(redis, store, cards)).not.toEqual(warmState);
    await warmFeatureStore(redis, prefix, { cardIds: cards, events: historyEvents(history) });
    expect(await states(redis, store, cards)).toEqual(warmState);
    // merchants, devices and the global rates too: rebuilt, not counted twice
    expect(await entities()).not.toEqual([]);
    expect(await entities()).toEqual(warmEntities);
  });

  it('warmFromModel warms from a version\'s model card, starts its drift counts over, and leaves a CSV-trained version alone', async () => {
    const modelDir = await mkdtemp(path.join(tmpdir(), 'fs-warm-models-'));
    const { redis, config: base } = await setup('warm-model');
    const config: Config = { ...base, modelDir };
    const put = async (name: string, source: unknown) => {
      await mkdir(path.join(modelDir, name));
      await writeFile(path.join(modelDir, name, 'model-card.json'), JSON.stringify({ version: name, source }));
    };
    await put('v20250101T000000000Z', history);
    await put('v20250102T000000000Z', { csv: '/data/x.csv', label: 'Class' });
    await redis.hset(driftKey(config.redis.keyPrefix, 'v20250101T000000000Z'), { _rows: '123', 'amount_log:0': '123' });

    const r = await warmFromModel(config, 'v20250101T000000000Z');
    expect(r).toMatchObject({ warmed: true, cards: 60, transactions: 2_000, driftRowsDeleted: 123, history });
    expect(await redis.exists(driftKey(config.redis.keyPrefix, 'v20250101T000000000Z'))).toBe(0);
    const store = new RedisFeatureStore(redis, { keyPrefix: config.redis.keyPrefix });
    expect(await redis.exists(store.cardKey(historyCardIds(history)[0]!))).toBe(1);

    expect(await warmFromModel(config, 'v20250102T000000000Z')).toEqual({ warmed: false, version: 'v20250102T000000000Z', reason: expect.stringMatching(/a CSV file/) });
  });
});
