/** The guard rail as the ops service runs it, against fakes: counts per policy version, a claim, a policy store. */
import { describe, expect, it } from 'vitest';
import { DecisionSchema, type Decision, type Policy } from '../../core/contracts.ts';
import { logger } from '../../core/logger.ts';
import { GUARD_WHO, GuardService } from '../../router/ops/guard.ts';
import { cardBlockRate, opsLogic } from '../../router/ops/service.ts';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BlockCounts, GuardRollback } from '../../state/guard.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';

/** An in-memory stand-in for the policy store: versions by number, rollback copies content into a new version. */
function fakeStore() {
  const versions = new Map<number, Policy>();
  const base = defaultPolicy(COLD_START_THRESHOLDS);
  let current = 0;
  const save = (by: string, updatedAt = Date.now()) => {
    current += 1;
    versions.set(current, { ...base, version: current, updatedAt, updatedBy: by });
    return versions.get(current) as Policy;
  };
  return {
    versions,
    save,
    current: async () => versions.get(current) as Policy,
    rollback: async (_v: number, by: string) => save(by),
  };
}

/** The Redis state shared by every member (state/guard.ts), in memory: one instance shared = members in one Redis. */
function fakeState() {
  const counts = new Map<number, BlockCounts>();
  const claims = new Set<number>();
  const rollbacks: GuardRollback[] = [];
  return {
    counts: async (v: number) => counts.get(v) ?? { blocks: 0, decisions: 0 },
    add: async (ds: ReadonlyArray<{ policyVersion: number; blocked: boolean }>) => {
      for (const d of ds) {
        const c = counts.get(d.policyVersion) ?? { blocks: 0, decisions: 0 };
        c.decisions += 1;
        if (d.blocked) c.blocks += 1;
        counts.set(d.policyVersion, c);
      }
    },
    claimRollback: async (v: number) => !claims.has(v) && Boolean(claims.add(v)),
    recordRollback: async (r: GuardRollback) => void rollbacks.unshift(r),
    rollbacks: async () => [...rollbacks],
    claims,
  };
}

let n = 0;
function decision(action: Decision['action'], policy: number): Decision {
  n += 1;
  const txId = `tx-${n}`;
  return DecisionSchema.parse({
    decisionId: `${txId}:detect`, txId, cardId: 'card-1', action, stage: 'detect', final: true, reason: 'test', scores: {}, rulesFired: [], topFeatures: [],
    versions: { model: 'm', policy }, timings: {}, decidedAt: Date.now(),
    tx: { txId, cardId: 'card-1', merchantId: 'm-1', merchantName: 'Shop', mcc: '5732', amountMinor: 100, currency: 'EUR', ts: Date.now(), channel: 'card_present', country: 'DE', lat: 0, lon: 0, deviceId: null },
  });
}

function setup(members = 1) {
  const store = fakeStore();
  const state = fakeState();
  const audits: unknown[] = [];
  const guards = Array.from({ length: members }, (_, i) => new GuardService({ rail: { maxBlockRateFactor: 3, minDecisions: 10, windowMinutes: 10 }, policies: store, state, audit: { record: async (e) => (audits.push(e), e as never) }, log: logger('test'), instanceId: `ops-${i}` }));
  // Decisions reach the counts the way the ops service counts them: through its logic, after the batch commits.
  const logic = opsLogic({ guard: state, evidence: { onDecisions: async () => undefined } });
  const feed = async (action: Decision['action'], policy: number, count: number) => {
    const inputs = Array.from({ length: count }, () => ({ value: decision(action, policy), receivedAt: 0 }));
    const outs = await logic.handle(inputs);
    await logic.afterCommit?.(outs);
  };
  return { store, state, audits, guard: guards[0]!, guards, feed };
}

describe('guard rail (ops service)', () => {
  it('keeps a change whose block rate stays within the factor, and says what it watches', async () => {
    const { store, audits, guard, feed } = setup();
    store.save('alice');
    await feed('BLOCK', 1, 10);
    await feed('ALLOW', 1, 90);
    store.save('alice');
    await feed('BLOCK', 2, 2);
    await feed('ALLOW', 2, 18);
    expect(await guard.check()).toBeUndefined();
    expect(audits).toEqual([]);
    expect((await guard.status()).watching).toMatchObject({ version: 2, previousVersion: 1, decisions: 20 });
  });

  it('counts nothing for a batch that never committed', async () => {
    const { state, feed } = setup();
    const logic = opsLogic({ guard: state, evidence: { onDecisions: async () => undefined } });
    await logic.handle([{ value: decision('BLOCK', 1), receivedAt: 0 }]);
    await feed('ALLOW', 1, 1);
    expect(await state.counts(1)).toEqual({ blocks: 0, decisions: 1 });
  });

  it('rolls back a spike once across three members, and keeps the restored version', async () => {
    const { store, audits, guards, feed, state } = setup(3);
    store.save('alice');
    await feed('ALLOW', 1, 100);
    store.save('alice');
    await feed('BLOCK', 2, 20);
    const made = await Promise.all(guards.map((g) => g.check()));
    expect(made.filter((r) => r !== undefined)).toHaveLength(1);
    expect((await store.current()).version).toBe(3);
    expect((await store.current()).updatedBy).toBe(GUARD_WHO);
    expect(audits).toHaveLength(1);
    expect(await state.rollbacks()).toEqual([expect.objectContaining({ fromVersion: 2, toVersion: 1, newVersion: 3 })]);
    // The restored version blocks less than the runaway one: it stays.
    await feed('BLOCK', 3, 1);
    await feed('ALLOW', 3, 29);
    await Promise.all(guards.map((g) => g.check()));
    expect((await store.current()).version).toBe(3);
    expect(audits).toHaveLength(1);
  });

  it('leaves alone a change past its window, one claimed by another member, and one not yet judged', async () => {
    const old = setup();
    old.store.save('alice');
    await old.feed('ALLOW', 1, 100);
    old.store.save('alice', Date.now() - 11 * 60_000);
    await old.feed('BLOCK', 2, 20);
    expect(await old.guard.check()).toBeUndefined();
    expect((await old.store.current()).version).toBe(2);

    const other = setup();
    other.store.save('alice');
    await other.feed('ALLOW', 1, 100);
    other.store.save('alice');
    other.state.claims.add(2);
    await other.feed('BLOCK', 2, 20);
    expect(await other.guard.check()).toBeUndefined();
    expect(other.audits).toEqual([]);
    expect((await other.store.current()).version).toBe(2);

    const early = setup();
    early.store.save('alice');
    await early.feed('ALLOW', 1, 100);
    early.store.save('alice');
    await early.feed('BLOCK', 2, 9);
    expect(await early.guard.check()).toBeUndefined();
    expect((await early.guard.status()).watching).toMatchObject({ decisions: 9, reason: '9 of 10 decisions seen' });
  });
});

describe('the block rate a model version\'s card expects', () => {
  it('is read from the card\'s routed ensemble on its test slice, once per version; unknown when the card says nothing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fs-guard-card-'));
    try {
      await mkdir(path.join(dir, 'v1'));
      await writeFile(path.join(dir, 'v1', 'model-card.json'), JSON.stringify({ test: { ensemble: { blockShare: 0.011 } } }));
      await mkdir(path.join(dir, 'v2'));
      await writeFile(path.join(dir, 'v2', 'model-card.json'), JSON.stringify({ test: {} }));
      const rate = cardBlockRate(dir);
      expect(await rate('v1')).toBe(0.011);
      expect(await rate('v2')).toBeUndefined();
      expect(await rate('missing')).toBeUndefined();
      await writeFile(path.join(dir, 'v1', 'model-card.json'), '{}');
      expect(await rate('v1')).toBe(0.011);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
