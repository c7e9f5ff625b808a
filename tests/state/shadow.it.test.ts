/** The shadow key family against real Redis: every key capped or expiring, labels kept only while shadowing matters. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { toPair } from '../../router/pure/shadow.ts';
import { SHADOW_LABEL_TTL_SECONDS, SHADOW_TTL_SECONDS, ShadowStore, shadowKeys } from '../../state/shadow.ts';
import { sampleLabelKey } from '../../state/samples.ts';
import { dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';

let config: Config;
let redis: Redis;
let prefix: string;

beforeAll(async () => {
  config = await testConfig('shadowstate');
  redis = testRedis(config);
  prefix = config.redis.keyPrefix;
});
afterAll(async () => {
  await dropTestKeys(redis, config);
  redis.disconnect();
});

const pair = (i: number, ts = 1_000) => toPair({ txId: `t${i}`, ts, amountMinor: 100 }, { first: 'ALLOW', final: 'ALLOW' }, { first: 'BLOCK', final: 'BLOCK' });
const near = (ttl: number, want: number) => ttl > want - 60 && ttl <= want;

describe('shadow state', () => {
  it('ignores labels until a shadow run exists, then keeps them with their arrival time', async () => {
    const store = new ShadowStore(redis, prefix, { pairs: 5, delays: 3 });
    const k = shadowKeys(prefix);
    await store.recordLabels([{ txId: 't0', isFraud: true, labeledAt: 5_000 }]);
    expect(await redis.exists(k.label('t0'))).toBe(0);
    await store.start({ model: 'm1', startedAt: 1, by: 'test', thresholds: 'policy', matureAt: 0.8 });
    await store.recordLabels([{ txId: 't0', isFraud: true, labeledAt: 5_000 }]);
    expect(await redis.get(k.label('t0'))).toBe('1|5000');
    expect(near(await redis.ttl(k.label('t0')), SHADOW_LABEL_TTL_SECONDS)).toBe(true);
    expect(near(await redis.ttl(k.window), SHADOW_LABEL_TTL_SECONDS)).toBe(true);
    // Record views (issue 19 item 4: never evicted): the run, the latest run and the active one have no TTL.
    expect(await redis.ttl(k.run('m1'))).toBe(-1);
    expect(await redis.ttl(k.last)).toBe(-1);
    expect(await redis.ttl(k.active)).toBe(-1);
  });

  it('keeps the newest pairs and delays only, every per-version key expiring', async () => {
    const store = new ShadowStore(redis, prefix, { pairs: 5, delays: 3 });
    const k = shadowKeys(prefix);
    await store.append('m1', [0, 1, 2, 3].map((i) => pair(i)));
    await store.append('m1', [4, 5, 6].map((i) => pair(i)));
    expect(await redis.llen(k.pairs('m1'))).toBe(5);
    expect(near(await redis.ttl(k.pairs('m1')), SHADOW_TTL_SECONDS)).toBe(true);
    expect(near(await redis.ttl(k.stats('m1')), SHADOW_TTL_SECONDS)).toBe(true);
    expect((await store.stats('m1')).seen).toBe(7);

    // t5 and t6 labelled with arrival times (delays 2 s and 3 s), t4 only through the preview's sample label.
    await store.recordLabels([{ txId: 't5', isFraud: false, labeledAt: 3_000 }, { txId: 't6', isFraud: true, labeledAt: 4_000 }]);
    await redis.set(sampleLabelKey(prefix, 't4'), '1', 'EX', 60);
    const { pairs, delaysMs } = await store.pairs('m1');
    expect(pairs.map((p) => p.txId)).toEqual(['t6', 't5', 't4', 't3', 't2']);
    expect(pairs.map((p) => p.isFraud)).toEqual([true, false, true, undefined, undefined]);
    expect(delaysMs.sort()).toEqual([2_000, 3_000]);
    // Reading again does not count a delay twice; more delays than the cap keep the newest-arrived.
    await store.recordLabels([2, 3].map((i) => ({ txId: `t${i}`, isFraud: false, labeledAt: 10_000 + i })));
    const again = await store.pairs('m1');
    expect(again.delaysMs).toHaveLength(3);
    expect(again.delaysMs).not.toContain(2_000);
    expect(await redis.zcard(k.delays)).toBe(3);
  });

  it('stop keeps the run readable and clears the active challenger', async () => {
    const store = new ShadowStore(redis, prefix);
    const stopped = await store.stop('test', 99);
    expect(stopped).toMatchObject({ model: 'm1', stoppedAt: 99, stoppedBy: 'test' });
    expect(await store.active()).toBeUndefined();
    expect(await store.run('m1')).toMatchObject({ stoppedAt: 99 });
    expect(await redis.ttl(shadowKeys(prefix).run('m1'))).toBe(-1);
    expect(await store.lastModel()).toBe('m1');
    expect(await store.stop('test')).toBeUndefined();
  });
});
