import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { MemoryFeatureStore, RedisFeatureStore } from '../../detectors/features.ts';
import { arrivalBatches } from '../helpers/arrival.ts';
import { entityStateFromHash } from '../../detectors/pure/entity-state.ts';
import { testConfig, testRedis } from '../helpers/services.ts';
import { delayedStream } from './delayed-stream.ts';

const clients: Redis[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
});

describe('online (Redis) and offline (memory) feature stores on a stream with delayed labels', () => {
  it('give identical vectors for every feature, label risk included, and end in identical entity states', async () => {
    const { txs, labels } = delayedStream({ days: 45, customers: 40, terminals: 25, seed: 9 });
    const config = await testConfig('label-parity');
    const redis = testRedis(config);
    clients.push(redis);
    const prefix = config.redis.keyPrefix;
    const online = new RedisFeatureStore(redis, { keyPrefix: prefix });
    const offline = new MemoryFeatureStore();
    const sizes = [37, 1, 200, 5];
    let b = 0;
    let compared = 0;
    let risky = 0;
    const riskCol = offline.compiled.names.indexOf('merchant_fraud_count_30d_delayed');
    for (const step of arrivalBatches(txs, labels, 120)) {
      if (step.kind === 'labels') {
        expect(await online.applyLabels(step.labels)).toBe(offline.applyLabelsSync(step.labels));
        continue;
      }
      // the online side takes the run in other batch sizes (as detect's batches would cut it)
      const got: Float64Array[] = [];
      for (let i = 0; i < step.txs.length; ) {
        const n = sizes[b++ % sizes.length];
        got.push(...(await online.computeAndApply(step.txs.slice(i, i + n))));
        i += n;
      }
      const want = offline.computeAndApplySync(step.txs);
      expect(got.map((v) => Array.from(v))).toEqual(want.map((v) => Array.from(v)));
      compared += want.length;
      risky += want.filter((v) => v[v.length - offline.compiled.width + riskCol] > 0).length;
    }
    expect(compared).toBe(txs.length);
    expect(risky).toBeGreaterThan(50);
    const keys = await redis.keys(`${prefix}feat:e:*`);
    expect(keys.length).toBe(offline.entityCount + 1);
    for (const key of keys) {
      const entity = key.slice(key.indexOf('{') + 1, -1);
      expect({ entity, ...entityStateFromHash(await redis.hgetallBuffer(key)) }).toEqual({ entity, ...offline.peekEntity(entity) });
    }
    const del = await redis.keys(`${prefix}feat:*`);
    if (del.length) await redis.del(...del);
  });
});
