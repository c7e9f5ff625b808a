/**
 * A version trained with its own feature spec (here a 2-day label delay instead of the default 7) is served with
 * that spec: the stages' Redis store computes the version's vectors, and a version a policy points at later must
 * share the running spec or be refused.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { commands } from '../../detectors/commands.ts';
import { writeTerminalWorld } from '../../producers/commands.ts';
import { MemoryFeatureStore } from '../../detectors/features.ts';
import { DEFAULT_FEATURE_SPEC } from '../../detectors/pure/feature-spec.ts';
import { loadNamedVersion, loadServingModels } from '../../router/serving-models.ts';
import { arrivalBatches } from '../helpers/arrival.ts';
import { testConfig, testRedis } from '../helpers/services.ts';
import { delayedStream } from '../detectors/delayed-stream.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'fraudstream-serving-spec-'));
const clients: Redis[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  rmSync(dir, { recursive: true, force: true });
});
const MAP = 'txId=TRANSACTION_ID,time=TX_DATETIME,cardId=CUSTOMER_ID,merchantId=TERMINAL_ID,amount=TX_AMOUNT,label=TX_FRAUD';

describe('serving a version with its own feature spec', () => {
  it('the stages compute the version\'s spec online, and refuse a later version made with another', async () => {
    const csv = path.join(dir, 'terminals.csv');
    await writeTerminalWorld(csv, { customers: 150, terminals: 200, days: 40, seed: 5, start: Date.UTC(2025, 3, 1) });
    const models = path.join(dir, 'models');
    const train = commands.find((c) => c.name === 'train')!;
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await train.run(['--data', csv, '--map', MAP, '--label-delay-days', '2', '--heavy', 'off', '--iterations', '10', '--trees', '10', '--out', models])).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const version = readdirSync(models).find((n) => n.startsWith('v'))!;
    const config = await testConfig('serving-spec', { MODEL_DIR: models });
    const serving = await loadServingModels(config, 'latest');
    expect(serving.models?.version).toBe(version);
    expect(serving.spec.labelDelayDays).toBe(2);

    // Online vectors are the version's spec's, not the default's: label risk counted 2 days back, not 7.
    const redis = testRedis(config);
    clients.push(redis);
    const online = serving.featureStore(redis);
    const own = new MemoryFeatureStore({ spec: serving.spec });
    const dflt = new MemoryFeatureStore({ spec: DEFAULT_FEATURE_SPEC });
    const { txs, labels } = delayedStream({ days: 30, customers: 30, terminals: 15, seed: 4 });
    let compared = 0;
    let differFromDefault = 0;
    for (const step of arrivalBatches(txs, labels, 120)) {
      if (step.kind === 'labels') {
        await online.applyLabels(step.labels);
        own.applyLabelsSync(step.labels);
        dflt.applyLabelsSync(step.labels);
        continue;
      }
      const got = (await online.computeAndApply(step.txs)).map((v) => Array.from(v));
      expect(got).toEqual(own.computeAndApplySync(step.txs).map((v) => Array.from(v)));
      const d = dflt.computeAndApplySync(step.txs).map((v) => Array.from(v));
      differFromDefault += got.filter((v, i) => v.some((x, j) => x !== d[i][j])).length;
      compared += got.length;
    }
    expect(compared).toBe(txs.length);
    expect(differFromDefault).toBeGreaterThan(20);

    // A policy pointing at this version from stages computing the default spec is refused, saying why and what to do.
    await expect(loadNamedVersion(config, version, DEFAULT_FEATURE_SPEC)).rejects.toThrow(/another feature spec .*label delay 2 d against 7 d.*restart the stages with --model/);
    const again = await loadNamedVersion(config, version, serving.spec);
    expect(again.version).toBe(version);
    const del = await redis.keys(`${config.redis.keyPrefix}feat:*`);
    if (del.length) await redis.del(...del);
  }, 120_000);
});
