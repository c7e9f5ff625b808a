/** The shadow worker without a broker: what it decides for each side, and that it drops (and counts) rather than wait. */
import { describe, expect, it } from 'vitest';
import type { Policy, Transaction } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import type { FeatureStore, ModelBundle, ScoredRow } from '../../detectors/types.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';
import { decodePair, encodePair, type ShadowPair, type ShadowRun, type ShadowStore } from '../../state/shadow.ts';
import { DEFAULT_MIN_DELAYS, delaysInDays, shadowReport, toPair } from '../../router/pure/shadow.ts';
import { MAX_QUEUED, challengerPolicy, createShadowWorker, type ShadowBatch } from '../../router/shadow/worker.ts';
import type { PolicySource } from '../../router/policy-source.ts';
import { testTransactions } from '../helpers/transactions.ts';
import { RAW_BAND_P } from '../../detectors/calibrated.ts';
import { caseLoss } from '../../router/pure/money.ts';

const DAY = 86_400_000;
const policy = defaultPolicy(COLD_START_THRESHOLDS, 'champ');
const source: PolicySource = { current: () => policy, refresh: async () => policy, onChange: () => undefined, close: async () => undefined };

/** A model whose xgboost score is the row's first feature. */
function bundle(version: string, heavy = 0.5): ModelBundle {
  return {
    version,
    featureNames: ['x'],
    thresholds: COLD_START_THRESHOLDS,
    scoreFirstLine: (rows) => rows.map((r) => ({ isolationForest: 0, xgboost: r[0] ?? 0 }) as ScoredRow),
    explain: () => [],
    hasHeavy: true,
    probability: RAW_BAND_P,
    scoreHeavy: async (items) => items.map(() => heavy),
  };
}

function fakeStore(active: ShadowRun, gate?: Promise<void>) {
  const appended: ShadowPair[] = [];
  const skipped: number[] = [];
  const store = {
    active: async () => active,
    append: async (_m: string, pairs: readonly ShadowPair[]) => {
      await gate;
      appended.push(...pairs);
    },
    countSkipped: async (_m: string, n: number) => void skipped.push(n),
  } as unknown as ShadowStore;
  return { store, appended, skipped };
}

const features: FeatureStore = { computeAndApply: async () => [], applyLabels: async () => 0, history: async () => [] };
const run: ShadowRun = { model: 'chall', startedAt: 1, by: 't', thresholds: 'policy', matureAt: 0.8 };
const batch = (txs: Transaction[], scores: number[], actions: ShadowBatch['actions'], champion: ModelBundle): ShadowBatch => ({
  txs,
  vectors: scores.map((s) => Float64Array.of(s)),
  actions,
  scored: champion.scoreFirstLine(scores.map((s) => Float64Array.of(s))),
  champion,
});

describe('shadow worker', () => {
  const t = policy.thresholds.detect as Record<string, number>;
  const low = 0;
  const high = Math.min(1, (t.blockAbove ?? 0.9) + 0.01);

  it('decides the challenger with the live policy, the heavy model for what it escalates, and never the champion', async () => {
    const { store, appended } = fakeStore(run);
    const champ = bundle('champ', 0.99);
    const w = createShadowWorker({ config: {} as Config, store, policy: source, features, load: async (v) => bundle(v, 0.0), openCases: async () => 0, pollMs: 60_000 });
    await w.refresh();
    expect(w.active()).toBe(true);
    const txs = testTransactions(2);
    w.offer(batch(txs, [low, high], ['ALLOW', 'BLOCK'], champ));
    await w.drain();
    await w.close();
    expect(appended.map((p) => [p.champion, p.challenger])).toEqual([
      ['ALLOW', 'ALLOW'],
      ['BLOCK', 'BLOCK'],
    ]);
  });

  it('drops batches beyond its queue and counts them, instead of making detect wait', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { store, appended, skipped } = fakeStore(run, gate);
    const champ = bundle('champ');
    const w = createShadowWorker({ config: {} as Config, store, policy: source, features, load: async (v) => bundle(v), openCases: async () => 0, pollMs: 60_000 });
    await w.refresh();
    const offers = MAX_QUEUED + 5;
    for (let i = 0; i < offers; i++) w.offer(batch(testTransactions(3, { prefix: `b${i}` }), [low, low, low], ['ALLOW', 'ALLOW', 'ALLOW'], champ));
    // The first batch is in flight (waiting on the store), MAX_QUEUED wait, the rest were dropped at once.
    expect(skipped.length).toBe(offers - 1 - MAX_QUEUED);
    expect(skipped.every((n) => n === 3)).toBe(true);
    open();
    await w.drain();
    await w.close();
    expect(appended.length).toBe((1 + MAX_QUEUED) * 3);
  });

  it("applies the review cutoff as escalate does: without staffing an ambiguous case is decided by its cheaper action on both sides", async () => {
    const mid = ((t.allowBelow ?? 0.2) + (t.blockAbove ?? 0.9)) / 2;
    const txs = testTransactions(2, { prefix: 'cut' });
    const outcome = async (p: Policy) => {
      const { store, appended } = fakeStore(run);
      const src: PolicySource = { ...source, current: () => p };
      // Heavy 0.5 sits in the escalate band of the cold-start policy: a person would review it if anyone could.
      const w = createShadowWorker({ config: {} as Config, store, policy: src, features, load: async (v) => bundle(v, 0.5), openCases: async () => 0, pollMs: 60_000 });
      await w.refresh();
      w.offer(batch(txs, [mid, mid], ['ESCALATE', 'ESCALATE'], bundle('champ', 0.5)));
      await w.drain();
      await w.close();
      return appended.map((pair) => [pair.champion, pair.challenger]);
    };
    expect(await outcome(policy)).toEqual([
      ['REVIEW', 'REVIEW'],
      ['REVIEW', 'REVIEW'],
    ]);
    const unstaffed: Policy = { ...policy, review: { ...policy.review, analysts: 0 } };
    const cheaper = txs.map((tx) => {
      const loss = caseLoss(RAW_BAND_P, mid, 0.5, tx.amountMinor, policy.money)!;
      return loss.ifAllowedMinor < loss.ifBlockedMinor ? 'ALLOW' : 'BLOCK';
    });
    expect(await outcome(unstaffed)).toEqual(cheaper.map((a) => [a, a]));
  });

  it('routes with the challenger thresholds only when the run says so', () => {
    const c = bundle('chall');
    const strict = { ...c, thresholds: { ...c.thresholds, detect: { ...c.thresholds.detect, blockAbove: 0.01 } } };
    expect(challengerPolicy(policy, run, strict)).toBe(policy);
    expect(challengerPolicy(policy, { ...run, thresholds: 'model' }, strict).thresholds.detect).toMatchObject({ blockAbove: 0.01 });
  });
});

describe('shadow pairs and maturity', () => {
  it('stores a pair compactly and reads it back whole', () => {
    const p = toPair({ txId: 'tx-1', ts: 5, amountMinor: 1234 }, { first: 'ESCALATE', final: 'REVIEW' }, { first: 'BLOCK', final: 'BLOCK' });
    expect(p).toMatchObject({ champion: 'REVIEW', challenger: 'BLOCK', championEscalated: true, challengerEscalated: false });
    expect(decodePair(encodePair(p))).toEqual(p);
    expect(decodePair('["tx",1,2,"XZ",0]')).toBeUndefined();
    expect(decodePair('not json')).toBeUndefined();
  });

  it('is immature while too few label delays are known, however old the cohort', () => {
    const pair = toPair({ txId: 't', ts: 0, amountMinor: 1 }, { first: 'ALLOW', final: 'ALLOW' }, { first: 'ALLOW', final: 'ALLOW' });
    const few = delaysInDays(Array.from({ length: DEFAULT_MIN_DELAYS - 1 }, () => ({ ts: 0, labeledAt: DAY })));
    const enough = delaysInDays(Array.from({ length: DEFAULT_MIN_DELAYS }, () => ({ ts: 0, labeledAt: DAY })));
    expect(few[0]).toBe(1);
    expect(shadowReport([pair], 100 * DAY, { delaysDays: few, matureAt: 0.8, minDelays: DEFAULT_MIN_DELAYS })).toMatchObject({ maturity: 0, immature: true });
    expect(shadowReport([pair], 100 * DAY, { delaysDays: enough, matureAt: 0.8, minDelays: DEFAULT_MIN_DELAYS })).toMatchObject({ maturity: 1, immature: false });
    expect(delaysInDays([{ ts: 10, labeledAt: 5 }])).toEqual([0]);
  });
});
