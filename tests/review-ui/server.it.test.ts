import { randomUUID } from 'node:crypto';
import { beat, removeHeartbeat } from '../../state/heartbeats.ts';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { ensureUiBuilt } from '../../review-ui/build.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { RedisSampleStore } from '../../state/samples.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { testConfig, testRedis, dropTestKeys } from '../helpers/services.ts';

let config: Config;
let ui: UiServer;
let redis: Redis;
/** This server's pages: not built until the test about it builds them. */
const distDir = join(tmpdir(), `fraudstream-no-dist-${randomUUID()}`);

beforeAll(async () => {
  // A model dir that does not exist: policy v1 is then the cold start of state/policy.ts, whatever models/ holds.
  const MODEL_DIR = join(tmpdir(), `fraudstream-no-models-${randomUUID()}`);
  config = await testConfig('uisrv', { REVIEWER_SEED: 'alice:correct-horse,bob:battery-staple,ana@analyst:analyst-pass', MODEL_DIR });
  redis = testRedis(config);
  ui = await startUiServer({ config, port: 0, distDir, simulator: null, backfill: { decisions: 10, cases: 10, labels: 10 } });
});
afterAll(async () => {
  await ui?.close();
  await dropTestKeys(redis, config);
  redis.disconnect();
  rmSync(distDir, { recursive: true, force: true });
});

const login = (username: string, password: string, headers: Record<string, string> = {}) => apiLogin<unknown>(ui.url, username, password, headers);
const call = (c: Client | undefined, method: string, path: string, body?: unknown, csrf = true) => apiCall(ui.url, c, method, path, body, csrf);

describe('review UI server', () => {
  it('answers /healthz without login with stages and decision counts', async () => {
    await beat(redis, config.redis.keyPrefix, 'detect', 'd-1', { instance: 'd-1', at: Date.now() });
    await redis.hincrby(`${config.redis.keyPrefix}stats:decisions`, 'BLOCK', 3);
    const res = await fetch(`${ui.url}/healthz`);
    expect(res.status).toBe(200);
    const h = (await res.json()) as { stages: Record<string, { up: boolean }>; decisions: { byStages: Record<string, number> }; status: string };
    expect(h.stages.detect?.up).toBe(true);
    expect(h.stages.escalate?.up).toBe(false);
    expect(h.stages.ui?.up).toBe(true);
    expect(h.status).toBe('degraded');
    expect(h.decisions.byStages.BLOCK).toBe(3);
  });

  it('/healthz says a stage whose members heartbeat but report lag without progress is stalled, not up', async () => {
    const hb = (stage: string, instance: string, status: string, lag: number) =>
      beat(redis, config.redis.keyPrefix, stage, instance, { instance, at: Date.now(), status, lag, reason: 'test' });
    await hb('detect', 'd-1', 'up', 0);
    await hb('escalate', 'e-1', 'stalled', 42);
    const h = (await (await fetch(`${ui.url}/healthz`)).json()) as { stages: Record<string, { up: boolean; status: string; instances: Array<{ lag?: number }> }>; status: string };
    expect(h.stages.detect).toMatchObject({ up: true, status: 'up' });
    expect(h.stages.escalate).toMatchObject({ up: false, status: 'stalled' });
    expect(h.stages.escalate!.instances[0]!.lag).toBe(42);
    expect(h.status).toBe('degraded');
    await hb('escalate', 'e-1', 'up', 0);
    // every registered stage must be up for "ok": the labels stage too
    const labelsDown = (await (await fetch(`${ui.url}/healthz`)).json()) as { status: string; stages: Record<string, { up: boolean }> };
    expect(labelsDown.stages.labels?.up).toBe(false);
    expect(labelsDown.status).toBe('degraded');
    await hb('labels', 'l-1', 'up', 0);
    // ...and the ops service (guard rail, verdict outbox), registered with the stages
    const opsDown = (await (await fetch(`${ui.url}/healthz`)).json()) as { status: string; stages: Record<string, { up: boolean }> };
    expect(opsDown.stages.ops?.up).toBe(false);
    expect(opsDown.status).toBe('degraded');
    await hb('ops', 'o-1', 'up', 0);
    const again = (await (await fetch(`${ui.url}/healthz`)).json()) as { status: string };
    expect(again.status).toBe('ok');
    await removeHeartbeat(redis, config.redis.keyPrefix, 'ops', 'o-1');
    await removeHeartbeat(redis, config.redis.keyPrefix, 'labels', 'l-1');
    await removeHeartbeat(redis, config.redis.keyPrefix, 'escalate', 'e-1');
    await removeHeartbeat(redis, config.redis.keyPrefix, 'detect', 'd-1');
  });

  it('refuses APIs (401) and pages (redirect to login) without a session', async () => {
    for (const path of ['/api/cases', '/api/policy', '/api/stream', '/api/audit', '/api/session']) {
      expect((await call(undefined, 'GET', path)).status, path).toBe(401);
    }
    expect((await call(undefined, 'POST', '/api/cases/x/verdict', { verdict: 'approve' })).status).toBe(401);
    const page = await call(undefined, 'GET', '/');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login');
  });

  it('sets a strict, httpOnly session cookie and security headers', async () => {
    const res = await fetch(`${ui.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'correct-horse' }),
    });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it('rejects a wrong password, then rate-limits that IP+user', async () => {
    for (let i = 0; i < 5; i++) expect((await login('bob', 'wrong-password')).status).toBe(401);
    const locked = await login('bob', 'battery-staple');
    expect(locked.status).toBe(429);
    expect((await login('alice', 'correct-horse')).status).toBe(200);
  });

  it('answers 400 naming the field for an invalid body', async () => {
    const bad = await login('', 'x');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('username');
    const { client } = await login('alice', 'correct-horse');
    const res = await call(client, 'POST', '/api/cases/c1/verdict', { verdict: 'maybe' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^verdict:/);
    const notJson = await call(client, 'POST', '/api/replay', '{oops');
    expect(notJson.status).toBe(400);
  });

  it('refuses a state-changing request without the CSRF token, and accepts it with one', async () => {
    const { client } = await login('alice', 'correct-horse');
    const current = (await (await call(client, 'GET', '/api/policy')).json()) as { current: Record<string, unknown> };
    const { version: baseVersion, updatedAt: _u, updatedBy: _b, ...content } = current.current;
    const input = { ...content, baseVersion };
    const without = await call(client, 'PUT', '/api/policy', input, false);
    expect(without.status).toBe(403);
    const wrong = await call({ ...client!, csrf: 'forged' }, 'PUT', '/api/policy', input);
    expect(wrong.status).toBe(403);
    const ok = await call(client, 'PUT', '/api/policy', input);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { current: { version: number } }).current.version).toBe(2);
  });

  it('previews a policy change on recorded samples, applies it, rolls back, and audits both', async () => {
    const samples = new RedisSampleStore(redis, config.redis.keyPrefix);
    await samples.push(
      [0.05, 0.5, 0.6, 0.95].map((x, i) => ({
        txId: `s${i}`, cardId: 'c', merchantId: 'm', mcc: '5411', country: 'FR', amountMinor: 1000,
        scores: { xgboost: x, isolationForest: 0.1 }, rulesFired: [], action: 'ALLOW' as const,
      })),
    );
    const { client } = await login('alice', 'correct-horse');
    const store = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy({ detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 }, escalate: { blockAbove: 0.85, allowBelow: 0.35 } }));
    const cur = await store.current();
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = cur;
    const stricter = { ...input, thresholds: { ...input.thresholds, detect: { ...input.thresholds.detect, blockAbove: 0.55 } } };
    const prev = await call(client, 'POST', '/api/policy/preview', { policy: stricter, samples: 100 });
    expect(prev.status).toBe(200);
    const p = (await prev.json()) as { samples: number; delta: Record<string, number>; changed: number };
    expect(p.samples).toBe(4);
    expect(p.changed).toBe(1);
    expect(p.delta.BLOCK).toBe(1);
    expect(p.delta.ESCALATE).toBe(-1);
    const applied = (await (await call(client, 'PUT', '/api/policy', { ...stricter, baseVersion: cur.version })).json()) as { current: { version: number } };
    const rolled = await call(client, 'POST', '/api/policy/rollback', { version: cur.version });
    expect(rolled.status).toBe(200);
    const back = (await rolled.json()) as { current: { version: number; thresholds: { detect: { blockAbove: number } } } };
    expect(back.current.version).toBe(applied.current.version + 1);
    expect(back.current.thresholds.detect.blockAbove).toBe(cur.thresholds.detect.blockAbove);
    const audit = (await (await call(client, 'GET', '/api/audit?target=policy')).json()) as { entries: Array<{ action: string; who: string }> };
    expect(audit.entries.slice(0, 2).map((e) => e.action)).toEqual(['policy.rollback', 'policy.update']);
  });

  it('says replay is unavailable when no simulator is present', async () => {
    const { client } = await login('alice', 'correct-horse');
    const res = await call(client, 'POST', '/api/replay', { action: 'stop' });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(/simulator/);
  });

  it('refuses replay into the live topics outside demo mode, with the reason', async () => {
    const { client } = await login('alice', 'correct-horse');
    for (const body of [{ action: 'start', rate: 10 }, { action: 'inject', scenario: 'card_testing', count: 5 }, { action: 'speed', rate: 5 }]) {
      const res = await call(client, 'POST', '/api/replay', body);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toMatch(/demo mode.*UI_DEMO_MODE=1/);
    }
    const status = (await (await call(client, 'GET', '/api/replay')).json()) as { demoMode: boolean; refused?: string };
    expect(status.demoMode).toBe(false);
    expect(status.refused).toMatch(/live topics/);
  });

  it('lets an analyst work cases but refuses policy, models, drift and replay with 403; an admin passes', async () => {
    const ana = (await login('ana', 'analyst-pass')).client;
    const alice = (await login('alice', 'correct-horse')).client;
    expect(((await (await call(ana, 'GET', '/api/session')).json()) as { role: string }).role).toBe('analyst');
    expect((await call(ana, 'GET', '/api/cases')).status).toBe(200);
    expect((await call(ana, 'GET', '/api/audit')).status).toBe(200);
    const current = (await (await call(alice, 'GET', '/api/policy')).json()) as { current: Record<string, unknown> };
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = current.current;
    const refused = {
      putPolicy: await call(ana, 'PUT', '/api/policy', input),
      getPolicy: await call(ana, 'GET', '/api/policy'),
      rollback: await call(ana, 'POST', '/api/policy/rollback', { version: 1 }),
      promote: await call(ana, 'POST', '/api/models/promote', { version: 'v20260101T000000000Z' }),
      models: await call(ana, 'GET', '/api/models'),
      drift: await call(ana, 'GET', '/api/drift'),
      replayStart: await call(ana, 'POST', '/api/replay', { action: 'start', rate: 10 }),
    };
    for (const [name, res] of Object.entries(refused)) {
      expect(res.status, name).toBe(403);
      expect(((await res.json()) as { error: string }).error, name).toBe('this needs the admin role; your account is analyst');
    }
    // CSRF is checked before the role: an analyst's verdict without the token is a CSRF refusal.
    const noToken = await call(ana, 'POST', '/api/cases/nope/verdict', { verdict: 'approve' }, false);
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { error: string }).error).toMatch(/CSRF/);
    expect((await call(ana, 'POST', '/api/cases/nope/verdict', { verdict: 'approve' })).status).toBe(404);
    const before = (await new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS)).current()).version;
    const put = await call(alice, 'PUT', '/api/policy', { ...input, baseVersion: before });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { current: { version: number; updatedBy: string } }).current).toMatchObject({ version: before + 1, updatedBy: 'alice' });
    expect((await call(alice, 'PUT', '/api/policy', input, false)).status).toBe(403);
  });

  it('refuses model version names that leave MODEL_DIR or are not versions: policy 400, model endpoints 400/404', async () => {
    const { client } = await login('alice', 'correct-horse');
    const current = (await (await call(client, 'GET', '/api/policy')).json()) as { current: Record<string, unknown> };
    const { version: baseVersion, updatedAt: _u, updatedBy: _b, ...content } = current.current;
    const input = { ...content, baseVersion };
    for (const modelVersion of ['../../srv', '..', '.tmp-v20260101T000000000Z-1', 'not-a-version']) {
      const res = await call(client, 'PUT', '/api/policy', { ...input, modelVersion });
      expect(res.status, modelVersion).toBe(400);
      expect(((await res.json()) as { error: string }).error, modelVersion).toMatch(/^modelVersion: /);
    }
    for (const version of ['../../srv', '..', '%2e%2e', '.tmp-v20260101T000000000Z-1']) {
      const drift = await call(client, 'GET', `/api/drift?version=${encodeURIComponent(version)}`);
      expect(drift.status, version).toBe(400);
      expect(((await drift.json()) as { error: string }).error, version).toMatch(/^version: /);
      expect((await call(client, 'POST', '/api/models/promote', { version })).status, version).toBe(400);
    }
    // A name by the rule that MODEL_DIR does not hold.
    expect((await call(client, 'GET', '/api/drift?version=v20260101T000000000Z')).status).toBe(404);
    expect((await call(client, 'POST', '/api/models/promote', { version: 'v20260101T000000000Z' })).status).toBe(404);
    // The policy edit applies the same rule: no such version is refused, a version copied in by hand (valid card) is taken.
    const missing = await call(client, 'PUT', '/api/policy', { ...input, modelVersion: 'v20260101T000000000Z' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toMatch(/^modelVersion: v20260101T000000000Z: no such model version under MODEL_DIR/);
    const copy = join(config.modelDir, 'candidate-2026');
    mkdirSync(copy, { recursive: true });
    writeFileSync(join(copy, 'model-card.json'), JSON.stringify({ createdAt: '2026-01-01T00:00:00Z', thresholds: COLD_START_THRESHOLDS }));
    try {
      const taken = await call(client, 'PUT', '/api/policy', { ...input, modelVersion: 'candidate-2026' });
      expect(taken.status).toBe(200);
      expect(((await taken.json()) as { current: { modelVersion?: string } }).current.modelVersion).toBe('candidate-2026');
      expect(((await (await call(client, 'GET', '/api/models')).json()) as { versions: Array<{ version: string }> }).versions.map((v) => v.version)).toEqual(['candidate-2026']);
    } finally {
      rmSync(config.modelDir, { recursive: true, force: true });
      expect((await call(client, 'PUT', '/api/policy', { ...input, baseVersion: (baseVersion as number) + 1 })).status).toBe(200);
    }
  });

  it('creates policy v1 with the same cold-start thresholds as the stages (one definition in state/policy.ts)', async () => {
    const v1 = await new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS)).get(1);
    expect(v1?.updatedBy).toBe('system');
    expect(v1?.thresholds).toEqual(COLD_START_THRESHOLDS);
  });

  it('says the pages are not built, and serves them once they are, without a restart', { timeout: 60_000 }, async () => {
    const before = await fetch(`${ui.url}/login`);
    expect(before.status).toBe(503);
    expect(await before.text()).toContain('The review UI is not built: run `npm run build:ui` (`npm run demo` and `npm run ui` build it when missing)');
    await ensureUiBuilt({ distDir });
    const after = await fetch(`${ui.url}/login`);
    expect(after.status).toBe(200);
    expect(await after.text()).toContain('<form');
  });

  it('logout ends the session', async () => {
    const { client } = await login('alice', 'correct-horse');
    expect((await call(client, 'GET', '/api/session')).status).toBe(200);
    expect((await call(client, 'POST', '/api/logout')).status).toBe(200);
    expect((await call(client, 'GET', '/api/session')).status).toBe(401);
  });
});
