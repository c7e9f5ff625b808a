/**
 * Issue 18, items 1 and 5: Kafka is the record, Redis the view. Accounts (scrypt hashes, roles), cases and their
 * verdicts, shadow runs, the policy and the audit chain are set through the real paths (the escalate stage's
 * transaction, the console's verdict outbox, the stores), Redis is wiped (FLUSHALL, then a redis-server restarted
 * without persistence), and everything comes back exactly as it was, with no manual step. Its own redis-server:
 * FLUSHALL must not wipe other test files' keys.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import type { Config } from '../../core/config.ts';
import type { Policy } from '../../core/contracts.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { openRecords, type Records } from '../../core/records.ts';
import { logger } from '../../core/logger.ts';
import { startLocalRedis, type LocalRedis } from '../../infra/redis-local.ts';
import { restoringGate, startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { openAuditLog } from '../../state/audit.ts';
import { UserStore } from '../../review-ui/server/auth.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { COLD_START_THRESHOLDS } from '../../state/policy.ts';
import { RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { reviewKeys } from '../../state/review.ts';
import { ShadowStore, shadowKeys } from '../../state/shadow.ts';
import { auditHeadKey, auditKey, outboxKey, userPattern } from '../../state/ui.ts';
import { ViewKeeper, viewMarkerKey, viewTokenKey } from '../../state/view.ts';
import { apiCall, apiLogin } from '../helpers/http.ts';
import { testConfig } from '../helpers/services.ts';
import { testTransactions } from '../helpers/transactions.ts';

interface Snapshot {
  policy: Policy;
  accounts: Record<string, string>;
  open: string[];
  openDocs: Array<string | null>;
  closed: string[];
  shadow: { active: string | null; last: string | null; run: string | null };
  auditHead: string | null;
  audit: string[];
}

describe('a wiped Redis gets back what operators and analysts created, from Kafka', () => {
  let local: LocalRedis;
  let config: Config;
  let kafka: Kafka;
  let redis: Redis;
  let records: Records;
  let pipeline: Pipeline;
  let ui: UiServer;
  let policies: RedisPolicyStore;
  const model = 'shadow-v2';

  const snapshot = async (): Promise<Snapshot> => {
    const p = config.redis.keyPrefix;
    const k = reviewKeys(p);
    const userKeys = (await redis.keys(userPattern(p))).sort();
    const open = await redis.zrange(k.open, 0, -1);
    const sk = shadowKeys(p);
    return {
      policy: await policies.current(),
      accounts: Object.fromEntries(await Promise.all(userKeys.map(async (key) => [key, (await redis.get(key)) ?? ''] as const))),
      open,
      openDocs: open.length ? await redis.mget(open.map((id) => k.case(id))) : [],
      closed: (await redis.zrange(k.closed, 0, -1)).sort(),
      shadow: { active: await redis.get(sk.active), last: await redis.get(sk.last), run: await redis.get(sk.run(model)) },
      auditHead: (await redis.get(auditHeadKey(p)))?.split(' ').slice(0, 2).join(' ') ?? null,
      audit: await redis.lrange(auditKey(p), 0, -1),
    };
  };

  const allRestored = async () => {
    for (const part of ['accounts', 'cases', 'shadow', 'audit']) if ((await redis.exists(viewMarkerKey(config.redis.keyPrefix, part))) === 0) return false;
    const status = (await (await fetch(`${ui.url}/api/status`)).json()) as { view: { state: string } };
    return status.view.state === 'ready';
  };

  beforeAll(async () => {
    local = await startLocalRedis();
    const base = await testConfig('view-restore', { REVIEWER_SEED: 'root:root-password-1' });
    config = { ...base, redis: { ...base.redis, url: local.url } };
    kafka = createKafka(config, '-test');
    redis = new Redis(local.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    records = openRecords(kafka, config);
    policies = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS), records.policy);
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = await policies.current();
    // Mid-sized amounts go to escalate and, without a heavy model, to review; a list and a rule to see them come back.
    await policies.update({ ...input, rules: { ...input.rules, escalateAmountAbove: 15_000, blockAmountAbove: 19_000, blockedCountries: ['KP'] }, lists: { ...input.lists, blockCards: ['card-<b>'] } }, 'test');
    pipeline = await startPipeline({ config, stages: ['detect', 'escalate'] });
    ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 }, deadLetterBackfill: 0 });
  }, 120_000);

  afterAll(async () => {
    await ui?.close();
    await pipeline?.stop();
    await records?.close();
    redis?.disconnect();
    await local?.stop();
  });

  it('accounts, open and closed cases, the shadow run, the policy and the audit chain are exactly back after FLUSHALL and after a restart', async () => {
    const users = new UserStore(redis, config.redis.keyPrefix, records.accounts);
    expect(await users.add('ana', 'analyst-pass-1', { role: 'analyst' })).toBe(true);
    expect(await users.add('tmp', 'temporary-pass', { role: 'admin' })).toBe(true);
    expect(await users.passwd('ana', 'analyst-pass-2')).toBe(true);
    expect(await users.remove('tmp')).toBe(true);
    await new ShadowStore(redis, config.redis.keyPrefix, undefined, records.shadow).start({ model, startedAt: Date.now(), by: 'root', thresholds: 'policy', matureAt: 0.8 });

    const producer = createProducer(kafka);
    await producer.connect();
    const txs = testTransactions(300, { prefix: `vr-${randomUUID().slice(0, 6)}` });
    await producer.send({ topic: config.topics.transactions, messages: txs.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
    await producer.disconnect();
    const open = reviewKeys(config.redis.keyPrefix).open;
    await expect.poll(() => redis.zcard(open), { timeout: 90_000, interval: 500 }).toBeGreaterThanOrEqual(6);

    // Two verdicts through the console: closed in Redis, then label, decision and the closed case in one transaction.
    const { client } = await apiLogin(ui.url, 'root', 'root-password-1');
    for (const id of await redis.zrange(open, 0, 1)) {
      const res = await apiCall(ui.url, client, 'POST', `/api/cases/${encodeURIComponent(id)}/verdict`, { verdict: 'approve', note: 'restore test' });
      expect(res.status, await res.clone().text()).toBe(200);
    }
    await expect.poll(() => redis.llen(outboxKey(config.redis.keyPrefix)), { timeout: 30_000 }).toBe(0);
    // Traffic is over: every case escalate will open is open (the count is stable), so the snapshot is final.
    let last = -1;
    await expect.poll(async () => { const n = await redis.zcard(open); const same = n === last; last = n; return same; }, { timeout: 30_000, interval: 2_000 }).toBe(true);
    const before = await snapshot();
    expect(Object.keys(before.accounts).map((k) => k.split(':').at(-1)).sort()).toEqual(['ana', 'root']);
    expect(before.closed).toHaveLength(2);
    expect(before.shadow.active).not.toBeNull();
    expect(before.auditHead).toMatch(/^\d+ [0-9a-f]{64}$/);

    for (const fault of ['flushall', 'restart'] as const) {
      if (fault === 'flushall') await redis.flushall();
      else {
        const port = Number(new URL(local.url).port);
        await local.stop();
        local = await startLocalRedis({ port });
      }
      expect(await redis.exists(reviewKeys(config.redis.keyPrefix).open)).toBe(0);
      // No manual step: the console and the stages notice the missing markers themselves.
      await expect.poll(allRestored, { timeout: 60_000, interval: 500 }).toBe(true);
      const after = await snapshot();
      expect(after.policy).toEqual(before.policy);
      expect(after.accounts).toEqual(before.accounts);
      expect(after.open).toEqual(before.open);
      expect(after.openDocs).toEqual(before.openDocs);
      expect(after.closed).toEqual(before.closed);
      expect(after.shadow).toEqual(before.shadow);
      expect(after.auditHead).toEqual(before.auditHead);
      expect(after.audit).toEqual(before.audit);
    }

    // Sessions were lost (people log in again); the restored hashes take the same passwords.
    expect((await apiCall(ui.url, client, 'GET', '/api/session')).status).toBe(401);
    expect((await apiLogin(ui.url, 'ana', 'analyst-pass-2')).status).toBe(200);
    expect((await apiLogin(ui.url, 'tmp', 'temporary-pass')).status).toBe(401);
    // The chain goes on from the record (not from seq 1), and the whole topic verifies.
    const { audit, close } = openAuditLog(config, redis, kafka);
    const next = await audit.record({ who: 'test', action: 'test.after-wipe', target: 'test' });
    expect(next.seq).toBe(Number(before.auditHead!.split(' ')[0]) + 2); // after ana's login
    expect(await audit.verify()).toMatchObject({ ok: true, firstSeq: 1, truncated: false, problems: [] });
    await close();
  }, 300_000);

  it('while a view is being restored the console answers 503 "restoring", and serves once it is back', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const prefix = `${config.redis.keyPrefix}gate-${randomUUID().slice(0, 6)}:`;
    const keeper = new ViewKeeper(redis, prefix, [{ name: 'slow', restore: async () => (await gate, 3) }], logger('test'));
    const app = express();
    app.use('/api', restoringGate(keeper));
    app.get('/api/thing', (_req, res) => res.json({ ok: true }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const waiting = await fetch(`${url}/api/thing`);
      expect(waiting.status).toBe(503);
      expect(await waiting.json()).toMatchObject({ restoring: true, view: { state: 'restoring' } });
      expect(keeper.status().state).toBe('restoring');
      release();
      await keeper.ready();
      expect(keeper.status()).toMatchObject({ state: 'ready', parts: { slow: { state: 'ready', restored: 3 } } });
      expect((await fetch(`${url}/api/thing`)).status).toBe(200);
      // A wipe during a round: the round's token goes with it, so the half-restored view is not sealed.
      await redis.del(viewMarkerKey(prefix, 'slow'));
      let calls = 0;
      const wiping = new ViewKeeper(redis, prefix, [{ name: 'slow', restore: async () => (++calls === 1 && (await redis.del(viewTokenKey(prefix, 'slow'))), 1) }], logger('test'));
      await wiping.ready();
      expect(calls).toBe(2);
      expect(await redis.exists(viewMarkerKey(prefix, 'slow'))).toBe(1);
    } finally {
      server.close();
    }
  });

  it('five processes noticing one wipe restore a part once: the others wait for that round instead of voiding it', async () => {
    const prefix = `${config.redis.keyPrefix}many-${randomUUID().slice(0, 6)}:`;
    let rounds = 0;
    const part = { name: 'cases', restore: async () => (rounds++, await new Promise((r) => setTimeout(r, 300)), 7) };
    const keepers = Array.from({ length: 5 }, () => new ViewKeeper(redis, prefix, [part], logger('test')));
    await Promise.all(keepers.map((k) => k.ready()));
    expect(rounds).toBe(1);
    expect(keepers.map((k) => k.status().state)).toEqual(Array(5).fill('ready'));
    expect(await redis.exists(viewMarkerKey(prefix, 'cases'))).toBe(1);
  });
});
