/**
 * `fraudstream policy preview` against real Redis: the current policy and scored samples as the stages store
 * them, a proposed policy from a file; the table, the JSON (current, proposed, delta) and one-line errors.
 * Also: a policy version stored before issue 13 still loads, with the money and staffing defaults.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { POLICY_MONEY_DEFAULTS } from '../../core/contracts.ts';
import { COLD_START_THRESHOLDS, defaultPolicy, policyKeys, RedisPolicyStore } from '../../state/policy.ts';
import { RedisSampleStore, SAMPLE_LABEL_TTL_SECONDS, sampleLabelKey } from '../../state/samples.ts';
import { configEnv, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';

const run = promisify(execFile);
let config: Config;
let redis: Redis;
let dir: string;

const cli = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'policy', 'preview', ...args], { env: { ...process.env, ...configEnv(config) } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

beforeAll(async () => {
  config = await testConfig('policymoney');
  redis = testRedis(config);
  dir = mkdtempSync(join(tmpdir(), 'fraudstream-policy-money-'));
  const prefix = config.redis.keyPrefix;
  // A v1 as stored before issue 13: no money, review without staffing.
  const { money: _m, ...old } = defaultPolicy(COLD_START_THRESHOLDS);
  const k = policyKeys(prefix);
  await redis.multi().set(k.doc(1), JSON.stringify({ ...old, review: { capacity: 50 }, thresholds: { ...old.thresholds, detect: { ...old.thresholds.detect, blockAbove: 0.9, allowBelow: 0.3 } } })).set(k.current, '1').set(k.counter, '1').zadd(k.history, 1, '1').exec();
  const base = { cardId: 'c', merchantId: 'm', mcc: '5411', country: 'FR', rulesFired: [], action: 'ALLOW' as const };
  await new RedisSampleStore(redis, prefix).push([
    { ...base, txId: 'a', amountMinor: 10_000, scores: { xgboost: 0.95 }, ts: 0, isFraud: true },
    { ...base, txId: 'b', amountMinor: 5_000, scores: { xgboost: 0.6 }, ts: 3_600_000, isFraud: false },
    { ...base, txId: 'c', amountMinor: 2_000, scores: { xgboost: 0.1 }, ts: 7_200_000 },
  ]);
});

afterAll(async () => {
  if (redis) {
    await dropTestKeys(redis, config);
    redis.disconnect();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('policy stored before issue 13', () => {
  it('loads with the money and staffing defaults', async () => {
    const p = await new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS)).current();
    expect(p.version).toBe(1);
    expect(p.review).toEqual({ capacity: 50, ...POLICY_MONEY_DEFAULTS.review });
    expect(p.money).toEqual(POLICY_MONEY_DEFAULTS.money);
  });
});

describe('labels on samples', () => {
  it('a label that came back marks its sample, for a week at most', async () => {
    const store = new RedisSampleStore(redis, config.redis.keyPrefix);
    expect((await store.recent(10)).find((s) => s.txId === 'c')?.isFraud).toBeUndefined();
    await store.recordLabels([{ txId: 'c', isFraud: true }, { txId: 'unsampled', isFraud: false }]);
    const c = (await store.recent(10)).find((s) => s.txId === 'c');
    expect(c?.isFraud).toBe(true);
    expect((await store.recent(10)).find((s) => s.txId === 'b')?.isFraud).toBe(false);
    const ttl = await redis.ttl(sampleLabelKey(config.redis.keyPrefix, 'c'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(SAMPLE_LABEL_TTL_SECONDS);
    await redis.del(sampleLabelKey(config.redis.keyPrefix, 'c'), sampleLabelKey(config.redis.keyPrefix, 'unsampled'));
  });
});

describe('fraudstream policy preview', () => {
  it('prints the table and writes current, proposed and delta as JSON', async () => {
    const current = await new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS)).current();
    const file = join(dir, 'proposed.json');
    // A whole stored version as the console shows it: version/updatedAt/updatedBy are ignored.
    writeFileSync(file, JSON.stringify({ ...current, thresholds: { ...current.thresholds, detect: { ...current.thresholds.detect, blockAbove: 0.5 } } }));
    const out = join(dir, 'out.json');
    const r = await cli('--file', file, '--samples', '10', '--json', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/legitimate money blocked\s+0\s+5000\s+\+5000/);
    expect(r.stdout).toContain('3 scored samples over 2.00 h');
    const json = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Record<string, number>>;
    expect(json.current).toMatchObject({ transactions: 3, blocked: 1, fraudMoneyCaught: 10_000, legitMoneyBlocked: 0, labelled: 2 });
    expect(json.proposed).toMatchObject({ blocked: 2, legitMoneyBlocked: 5_000 });
    for (const k of Object.keys(json.current!)) expect(json.delta![k]).toBeCloseTo(json.proposed![k]! - json.current![k]!, 9);
  });

  it('answers a bad file or a bad policy with one line naming what to fix', async () => {
    const missing = await cli('--file', join(dir, 'nope.json'));
    expect(missing.code).toBe(2); // something for the user to fix
    expect(missing.stderr.trim()).toMatch(/^fraudstream: policy preview: cannot read .*nope\.json \(ENOENT\).*\(BAD_INPUT\)$/);
    expect(missing.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{ thresholds');
    expect((await cli('--file', notJson)).stderr).toMatch(/bad\.json is not JSON/);
    const invalid = join(dir, 'invalid.json');
    const p = defaultPolicy(COLD_START_THRESHOLDS);
    writeFileSync(invalid, JSON.stringify({ ...p, money: { ...p.money, falseBlockCostMinor: -5 } }));
    const bad = await cli('--file', invalid);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/invalid\.json is not a valid policy: money\.falseBlockCostMinor/);
    expect((await cli('--file', invalid, '--samples', '0')).stderr).toMatch(/--samples must be an integer >= 1/);
    expect((await cli()).stderr).toMatch(/give the proposed policy with --file/);
  });
});
