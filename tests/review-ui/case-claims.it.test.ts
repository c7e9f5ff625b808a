/**
 * Claim on open (issue 21): the atomic claim in Redis, and two analysts in two Chromium sessions racing for the same
 * case 50 times: exactly one holds it, exactly one verdict wins, and the labels topic carries exactly one label per
 * case, from the holder.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { LabelSchema } from '../../core/contracts.ts';
import { startUiServer, type UiServer } from '../../review-ui/server/app.ts';
import { CaseClaims } from '../../state/case-claims.ts';
import { CaseHeldError, RedisReviewQueue } from '../../state/review.ts';
import { closeConsoleTest, ensureUiBuilt, openConsole, type ConsoleSession } from '../helpers/browser.ts';
import { apiCall, apiLogin, type Client } from '../helpers/http.ts';
import { collect, createKafka, testConfig, testRedis } from '../helpers/services.ts';
import { openCase, tx } from '../router/review-queue-fixtures.ts';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const RACES = 50;

let config: Config;
let redis: Redis;
let ui: UiServer;
let alice: ConsoleSession;
let bob: ConsoleSession;
let queue: RedisReviewQueue;

function caseFor(id: string, createdAt: number, expectedLoss: number) {
  const t = tx({ txId: `tx-${id}`, cardId: `card-${id}`, merchantName: '<img src=x onerror=alert(1)>' });
  return openCase(id, 0.6, createdAt, { txId: t.txId, cardId: t.cardId, tx: t, expectedLoss });
}

beforeAll(async () => {
  await ensureUiBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  config = await testConfig('claims', { REVIEWER_SEED: 'alice@analyst:alice-password,bob@analyst:bob-password,root:root-password' });
  redis = testRedis(config);
  queue = new RedisReviewQueue(redis, config.redis.keyPrefix);
  ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 } });
});

afterAll(async () => {
  await alice?.close();
  await closeConsoleTest({ browser: bob, ui, redis, config });
});

describe('case claims in Redis', () => {
  it('gives a case to exactly one of many concurrent claimants, renews the holder, names the holder to others', async () => {
    const prefix = `${config.redis.keyPrefix}unit:`;
    const q = new RedisReviewQueue(redis, prefix);
    const claims = new CaseClaims(redis, prefix, 60_000);
    await q.enqueue(openCase('c1', 0.7, 1_000));
    const names = Array.from({ length: 12 }, (_, i) => `analyst-${i}`);
    const results = await Promise.all(names.map((n) => claims.claim('c1', n)));
    const winners = results.filter((r) => r.outcome === 'claimed');
    expect(winners).toHaveLength(1);
    const holder = (winners[0] as { holder: string }).holder;
    for (const r of results.filter((x) => x.outcome !== 'claimed')) expect(r).toMatchObject({ outcome: 'held', holder });
    expect(await claims.claim('c1', holder)).toMatchObject({ outcome: 'renewed', holder });
    expect((await claims.view('c1'))?.holder).toBe(holder);

    // A verdict from anyone else is refused before the case changes; the holder's goes through and frees the claim.
    const other = names.find((n) => n !== holder) as string;
    await expect(q.close('c1', 'approved', other, '')).rejects.toBeInstanceOf(CaseHeldError);
    expect((await q.get('c1'))?.status).toBe('open');
    expect((await q.close('c1', 'confirmed_fraud', holder, ''))?.closedBy).toBe(holder);
    expect(await claims.view('c1')).toBeUndefined();
    expect(await claims.claim('c1', other)).toEqual({ outcome: 'not_open' });
    expect(await claims.claim('never', other)).toEqual({ outcome: 'not_open' });
  });

  it('lets a claim lapse, releases only the holder\'s own unless forced, and hands out the most urgent free case next', async () => {
    const prefix = `${config.redis.keyPrefix}lapse:`;
    const q = new RedisReviewQueue(redis, prefix);
    const claims = new CaseClaims(redis, prefix, 300);
    await q.enqueue(openCase('small', 0.6, 1_000, { expectedLoss: 10 }));
    await q.enqueue(openCase('big', 0.6, 2_000, { expectedLoss: 9_000 }));
    await q.enqueue(openCase('mid', 0.6, 3_000, { expectedLoss: 500 }));
    expect(await claims.claimNext('ann')).toMatchObject({ caseId: 'big' });
    expect(await claims.claimNext('ben')).toMatchObject({ caseId: 'mid' });
    expect(await claims.release('big', 'ben')).toBeUndefined();
    expect((await claims.view('big'))?.holder).toBe('ann');
    expect(await claims.release('big')).toBe('ann');
    expect(await claims.claimNext('ben')).toMatchObject({ caseId: 'big' });
    expect(await claims.claimNext('cat')).toMatchObject({ caseId: 'small' });
    expect(await claims.claimNext('dan')).toBeUndefined();
    // Nobody renews: every claim lapses and the most urgent case is free again.
    await expect.poll(async () => (await claims.viewMany(['big', 'mid', 'small'])).size, { timeout: 5_000 }).toBe(0);
    expect(await claims.claimNext('dan')).toMatchObject({ caseId: 'big' });
  });
});

describe('claims over HTTP', () => {
  let a: Client;
  let b: Client;
  let root: Client;
  beforeAll(async () => {
    a = (await apiLogin(ui.url, 'alice', 'alice-password')).client as Client;
    b = (await apiLogin(ui.url, 'bob', 'bob-password')).client as Client;
    root = (await apiLogin(ui.url, 'root', 'root-password')).client as Client;
  });

  it('409 with the holder\'s name, verdict by a non-holder refused, admin release, unclaimed first in the queue', async () => {
    const base = Date.now();
    const id = `http-${randomUUID().slice(0, 8)}`;
    await queue.enqueue(caseFor(id, base, 50_000));
    const other = `http-other-${randomUUID().slice(0, 8)}`;
    await queue.enqueue(caseFor(other, base + 1, 10));

    expect((await apiCall(ui.url, a, 'POST', `/api/cases/${id}/claim`, {}, false)).status).toBe(403); // CSRF
    const first = await apiCall(ui.url, a, 'POST', `/api/cases/${id}/claim`, {});
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ outcome: 'claimed', claim: { holder: 'alice' } });
    const second = await apiCall(ui.url, b, 'POST', `/api/cases/${id}/claim`, {});
    expect(second.status).toBe(409);
    const body = (await second.json()) as { error: string; holder: string };
    expect(body.holder).toBe('alice');
    expect(body.error).toContain('alice');

    const list = (await (await apiCall(ui.url, b, 'GET', '/api/cases?limit=1000')).json()) as { open: Array<{ caseId: string }>; claims: Record<string, { holder: string }> };
    const ids = list.open.map((c) => c.caseId);
    // The claimed case has the bigger stake but is listed after the unclaimed one.
    expect(ids.indexOf(other)).toBeLessThan(ids.indexOf(id));
    expect(list.claims[id]?.holder).toBe('alice');

    const refused = await apiCall(ui.url, b, 'POST', `/api/cases/${id}/verdict`, { verdict: 'confirm_fraud' });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { holder: string }).holder).toBe('alice');
    expect((await queue.get(id))?.status).toBe('open');

    // Bob cannot take it from alice; an admin can.
    expect((await apiCall(ui.url, b, 'POST', `/api/cases/${id}/release`, {})).status).toBe(403);
    expect((await apiCall(ui.url, a, 'POST', `/api/cases/${id}/claim`, { renew: true })).status).toBe(200);
    expect((await apiCall(ui.url, a, 'POST', `/api/cases/${id}/claim`, { renew: 'yes' })).status).toBe(400);
    const released = await apiCall(ui.url, root, 'POST', `/api/cases/${id}/release`, {});
    expect(await released.json()).toEqual({ released: 'alice' });
    // Alice's page renews on a timer: a renewal must not take back what an admin released.
    const renewal = await apiCall(ui.url, a, 'POST', `/api/cases/${id}/claim`, { renew: true });
    expect(renewal.status).toBe(409);
    expect(((await renewal.json()) as { error: string }).error).toContain('lapsed or was released');
    const { entries } = (await (await apiCall(ui.url, root, 'GET', `/api/audit?target=case:${id}`)).json()) as { entries: Array<{ action: string; target: string; who: string }> };
    expect(entries.some((e) => e.action === 'case.claim' && e.who === 'alice')).toBe(true);
    expect(entries.some((e) => e.action === 'case.release' && e.target === `case:${id}` && e.who === 'root')).toBe(true);

    // "Next case" now takes the highest-stake unclaimed case: the released one.
    const next = await apiCall(ui.url, b, 'POST', '/api/cases/next', {});
    expect(await next.json()).toMatchObject({ caseId: id, claim: { holder: 'bob' } });
    const ok = await apiCall(ui.url, b, 'POST', `/api/cases/${id}/verdict`, { verdict: 'approve', note: 'bob took it over' });
    expect(ok.status).toBe(200);
    const closedClaim = await apiCall(ui.url, a, 'POST', `/api/cases/${id}/claim`, {});
    expect(closedClaim.status).toBe(409);
    expect(((await closedClaim.json()) as { error: string }).error).toContain('not open: approved by bob');
    expect((await apiCall(ui.url, a, 'POST', '/api/cases/nope/claim', {})).status).toBe(404);
    const done = await apiCall(ui.url, a, 'POST', `/api/cases/${other}/verdict`, { verdict: 'approve' });
    expect(done.status).toBe(200);
  });
});

describe('two analysts racing in two browsers', () => {
  it(`exactly one holds and one verdict wins, ${RACES} times; one label per case on the labels topic, from the holder`, async () => {
    alice = await openConsole({ url: ui.url, login: { user: 'alice', password: 'alice-password', waitFor: '#conn.up' } });
    bob = await openConsole({ url: ui.url, login: { user: 'bob', password: 'bob-password', waitFor: '#conn.up' } });
    const pages: Array<[string, Page]> = [['alice', alice.page], ['bob', bob.page]];
    const run = randomUUID().slice(0, 8);
    const holders = new Map<string, string>();
    const base = Date.now();
    for (let i = 0; i < RACES; i++) {
      const id = `race-${run}-${i}`;
      await queue.enqueue(caseFor(id, base + i, 1_000));
      // Both open the case at the same moment: the page claims it on open.
      // Who asks first alternates, so a fixed order of the two calls cannot decide every race.
      const order = i % 2 === 0 ? pages : [...pages].reverse();
      await Promise.all(order.map(([, p]) => p.evaluate((hash) => window.location.assign(hash), `#/case/${id}`)));
      const states = await Promise.all(
        pages.map(async ([name, p]) => {
          await p.locator('#claim-status.claim').waitFor({ timeout: 15_000 });
          await expect.poll(() => p.locator('#claim-status').textContent()).not.toBe('');
          return { name, mine: (await p.locator('#claim-status.mine').count()) === 1, holder: await p.locator('#claim-status').getAttribute('data-holder'), approveDisabled: await p.locator('#approve').isDisabled() };
        }),
      );
      const mine = states.filter((s) => s.mine);
      expect(mine, `race ${i}: ${JSON.stringify(states)}`).toHaveLength(1);
      const holder = (mine[0] as { name: string }).name;
      const loser = states.find((s) => !s.mine) as (typeof states)[number];
      expect(loser.holder).toBe(holder);
      expect(loser.approveDisabled).toBe(true);
      expect(await pages.find(([n]) => n === holder)?.[1].locator('#approve').isDisabled()).toBe(false);
      holders.set(`tx-${id}`, holder);

      // Then both send a verdict at the same instant, each with its own session cookie and CSRF token.
      const answers = await Promise.all(
        order.map(([name, p]) =>
          p.evaluate(
            async ({ caseId, verdict }) => {
              const { csrf } = (await (await fetch('/api/session')).json()) as { csrf: string };
              const r = await fetch(`/api/cases/${encodeURIComponent(caseId)}/verdict`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ verdict, note: `race ${caseId}` }) });
              return { status: r.status, body: (await r.json()) as { case?: { closedBy?: string }; holder?: string } };
            },
            { caseId: id, verdict: name === 'alice' ? 'approve' : 'confirm_fraud' },
          ),
        ),
      );
      const won = answers.filter((x) => x.status === 200);
      expect(won, `race ${i}: ${JSON.stringify(answers)}`).toHaveLength(1);
      expect(won[0]?.body.case?.closedBy).toBe(holder);
      expect(answers.filter((x) => x.status === 409)).toHaveLength(1);
      expect((await queue.get(id))?.closedBy).toBe(holder);
    }
    // Both analysts won some races: the claim is not always the same browser's.
    expect(new Set(holders.values()).size).toBe(2);
    await alice.page.screenshot({ path: join(ARTIFACTS, 'review-ui-claim.png'), fullPage: true });
    expect([...alice.dialogs, ...bob.dialogs]).toEqual([]);
    expect([...alice.cspViolations, ...bob.cspViolations]).toEqual([]);

    const mineOnly = (raw: string | undefined) => raw !== undefined && raw.includes(`race-${run}-`);
    const labels = await collect(createKafka(config, '-collect'), config.topics.labels, (ms) => ms.filter((m) => mineOnly(m.value?.toString())).length >= RACES, 60_000, 2_000);
    const ours = labels.map((m) => LabelSchema.parse(JSON.parse(m.value?.toString() ?? '{}'))).filter((l) => holders.has(l.txId));
    expect(ours).toHaveLength(RACES);
    expect(new Set(ours.map((l) => l.txId)).size).toBe(RACES);
    for (const l of ours) {
      expect(l.analyst).toBe(holders.get(l.txId));
      expect(l.isFraud).toBe(l.analyst === 'bob');
    }
  });
});
