/**
 * The shadow challenger inside a detect process. detect hands over what it already computed (transactions, feature
 * vectors, its actions) after the batch committed; the worker scores the challenger on them later, off the decision
 * path, and stores the would-be decisions apart (state/shadow.ts). It never publishes, never touches the champion's
 * keys, and never makes detect wait: when MAX_QUEUED batches are waiting, a new batch is dropped and counted.
 *
 * Both sides are decided the same way: first line with the live policy (decideFirstLine); an escalated row gets the
 * heavy model on the card history and decideEscalation, as the escalate stage does. The champion's final action for
 * an escalated row is recomputed here the same way (same model, history and policy), so the matrix compares final
 * actions on both sides; only the review-capacity check may differ from escalate's, as the open-case count is read
 * once per shadow batch.
 */
import type { Policy, Transaction } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { logger } from '../../core/logger.ts';
import type { FeatureStore, FeatureVector, ModelBundle, ScoredRow } from '../../detectors/types.ts';
import type { ShadowAction, ShadowPair, ShadowRun, ShadowStore } from '../../state/shadow.ts';
import { firstLineScores } from '../../core/model-registry.ts';
import { bandScore, escalateScore } from '../pure/band-score.ts';
import { caseLoss, cutoffInput, StakeWindow } from '../pure/money.ts';
import { decideEscalation, decideFirstLine } from '../pure/policy.ts';
import { toPair, type ShadowOutcome } from '../pure/shadow.ts';
import type { PolicySource } from '../policy-source.ts';

/** Batches waiting for the worker before new ones are skipped (detect batches are up to a few hundred rows). */
export const MAX_QUEUED = 8;
/** How often a running stage reads the active challenger (a `shadow start` reaches it within this). */
export const SHADOW_POLL_MS = 1_000;

export interface ShadowBatch {
  txs: Transaction[];
  vectors: FeatureVector[];
  /** detect's action per transaction (ALLOW, BLOCK or ESCALATE). */
  actions: ShadowAction[];
  /** The champion's first-line scores per row (undefined in rules-only mode). */
  scored: ScoredRow[] | undefined;
  champion: ModelBundle | undefined;
}

/** What detect sees of the shadow: whether to keep a batch's vectors, and where to hand them after commit. */
export interface ShadowSink {
  /** True while a challenger is active (detect keeps its batches for it only then). */
  active(): boolean;
  /** Never blocks: queues the batch, or drops and counts it when the worker is behind. */
  offer(batch: ShadowBatch): void;
}

export interface ShadowWorkerDeps {
  config: Config;
  store: ShadowStore;
  policy: PolicySource;
  features: FeatureStore;
  load: (version: string) => Promise<ModelBundle>;
  openCases: () => Promise<number>;
  historyLength?: number;
  pollMs?: number;
}

export interface ShadowWorker extends ShadowSink {
  /** Reads the active challenger now (tests and `start` use it instead of waiting for the poll). */
  refresh(): Promise<ShadowRun | undefined>;
  /** The challenger this process is shadowing now (loaded), as of the last poll. */
  current(): ShadowRun | undefined;
  /** Resolves once every queued batch is stored. */
  drain(): Promise<void>;
  /** Work done in this process so far: batches and transactions shadowed, wall µs spent on them, skipped ones. */
  cost(): { batches: number; events: number; micros: number; skippedEvents: number };
  close(): Promise<void>;
}

/** The live policy as the challenger applies it: its own thresholds when the run says so. */
export function challengerPolicy(p: Policy, run: ShadowRun, challenger: ModelBundle): Policy {
  return run.thresholds === 'model' ? { ...p, thresholds: challenger.thresholds as unknown as Policy['thresholds'], modelVersion: challenger.version } : p;
}

function sameFeatures(a: ModelBundle | undefined, b: ModelBundle): boolean {
  return !a || (a.featureNames.length === b.featureNames.length && a.featureNames.every((n, i) => n === b.featureNames[i]));
}

export function createShadowWorker(deps: ShadowWorkerDeps): ShadowWorker {
  const log = logger('shadow');
  const k = deps.historyLength ?? 16;
  let run: ShadowRun | undefined;
  const bundles = new Map<string, Promise<ModelBundle>>();
  let challenger: ModelBundle | undefined;
  const queue: ShadowBatch[] = [];
  let busy: Promise<void> | undefined;
  let closed = false;
  const spent = { batches: 0, events: 0, micros: 0, skippedEvents: 0 };

  const bundleFor = (version: string) => {
    let b = bundles.get(version);
    if (!b) {
      // Loaded once per version; a failed load is forgotten so the next poll tries again.
      b = deps.load(version);
      bundles.set(version, b);
      b.catch(() => bundles.delete(version));
    }
    return b;
  };

  const refresh = async () => {
    const next = await deps.store.active();
    if (next?.model !== run?.model || next?.startedAt !== run?.startedAt) {
      if (next) {
        try {
          challenger = await bundleFor(next.model);
          log.info({ model: next.model, thresholds: next.thresholds }, 'shadow challenger active');
        } catch (err) {
          log.error({ err, model: next.model }, 'could not load the shadow challenger; retrying on the next poll');
          challenger = undefined;
          run = undefined;
          return undefined;
        }
      } else if (run) log.info({ model: run.model }, 'shadow challenger stopped');
      run = next;
      if (!next) challenger = undefined;
    }
    return run;
  };

  // Each side's review cutoff as escalate applies it: the stakes of that side's recent ambiguous cases.
  const stakes = { champion: new StakeWindow(), challenger: new StakeWindow() };

  const secondLine = async (
    p: Policy,
    m: ModelBundle | undefined,
    rows: Array<{ tx: Transaction; vector: FeatureVector; first: Partial<Record<string, number>> }>,
    open: number,
    window: StakeWindow,
  ): Promise<ShadowAction[]> => {
    if (rows.length === 0) return [];
    let heavy: Array<number | undefined> = rows.map(() => undefined);
    if (m?.hasHeavy) {
      const histories = await Promise.all(rows.map((r) => deps.features.history(r.tx.cardId, k, r.tx.ts)));
      heavy = await m.scoreHeavy(rows.map((r, i) => ({ history: histories[i] ?? [], current: r.vector })));
    }
    return rows.map((r, i) => {
      const h = heavy[i];
      const loss = caseLoss(m?.probability, bandScore(r.first), h, r.tx.amountMinor, p.money);
      return decideEscalation(p, escalateScore(h, r.first), open, loss ? cutoffInput(loss, window, Date.now(), r.tx.txId) : undefined).action;
    });
  };

  const decideSide = async (p: Policy, m: ModelBundle | undefined, b: ShadowBatch, scored: ScoredRow[] | undefined, open: number): Promise<ShadowOutcome[]> => {
    const first = b.txs.map((tx, i) => {
      const s = scored?.[i];
      const scores = s ? firstLineScores(s) : {};
      return { action: decideFirstLine(p, { scores, amountMinor: tx.amountMinor, country: tx.country, mcc: tx.mcc, cardId: tx.cardId, merchantId: tx.merchantId }).action as ShadowAction, scores };
    });
    const escalated = first.flatMap((f, i) => (f.action === 'ESCALATE' && b.vectors[i] ? [i] : []));
    const finals = await secondLine(p, m, escalated.map((i) => ({ tx: b.txs[i]!, vector: b.vectors[i]!, first: first[i]!.scores })), open, stakes.challenger);
    const out: ShadowOutcome[] = first.map((f) => ({ first: f.action, final: f.action }));
    escalated.forEach((i, j) => (out[i]!.final = finals[j]!));
    return out;
  };

  const scoreBatch = async (b: ShadowBatch, r: ShadowRun, c: ModelBundle) => {
    const p = deps.policy.current();
    const open = b.actions.includes('ESCALATE') ? await deps.openCases() : 0;
    // The champion's first line is detect's own (its actions), recomputed only to know each row's heavy fallback.
    const championFirst = b.actions.map((a) => ({ first: a, final: a }) as ShadowOutcome);
    const escalatedRows = b.actions.flatMap((a, i) => (a === 'ESCALATE' && b.vectors[i] ? [i] : []));
    const championFinals = await secondLine(p, b.champion, escalatedRows.map((i) => ({ tx: b.txs[i]!, vector: b.vectors[i]!, first: b.scored?.[i] ?? {} })), open, stakes.champion);
    escalatedRows.forEach((i, j) => (championFirst[i]!.final = championFinals[j]!));
    const challengerSide = await decideSide(challengerPolicy(p, r, c), c, b, c.scoreFirstLine(b.vectors), open);
    const pairs: ShadowPair[] = b.txs.map((tx, i) => toPair(tx, championFirst[i]!, challengerSide[i]!));
    await deps.store.append(r.model, pairs);
  };

  const pump = async () => {
    while (queue.length > 0 && !closed) {
      const b = queue.shift()!;
      const r = run;
      const c = challenger;
      if (!r || !c) continue;
      if (!sameFeatures(b.champion, c)) {
        log.warn({ model: r.model, champion: b.champion?.version }, 'shadow challenger has other features than the champion: batch skipped');
        await deps.store.countSkipped(r.model, b.txs.length, 'failed').catch(() => undefined);
        continue;
      }
      try {
        const t0 = performance.now();
        await scoreBatch(b, r, c);
        spent.micros += (performance.now() - t0) * 1000;
        spent.batches += 1;
        spent.events += b.txs.length;
      } catch (err) {
        log.warn({ err, model: r.model }, 'shadow batch failed (the champion is not affected)');
        await deps.store.countSkipped(r.model, b.txs.length, 'failed').catch(() => undefined);
      }
    }
  };

  const kick = () => {
    if (busy) return;
    busy = pump().finally(() => {
      busy = undefined;
      if (queue.length > 0 && !closed) kick();
    });
  };

  const timer = setInterval(() => void refresh().catch((err: unknown) => log.warn({ err }, 'shadow state poll failed')), deps.pollMs ?? SHADOW_POLL_MS);
  timer.unref();

  return {
    active: () => run !== undefined && challenger !== undefined,
    offer(b) {
      const r = run;
      if (!r || closed) return;
      if (queue.length >= MAX_QUEUED) {
        spent.skippedEvents += b.txs.length;
        void deps.store.countSkipped(r.model, b.txs.length, 'skipped').catch((err: unknown) => log.warn({ err }, 'could not count a skipped shadow batch'));
        return;
      }
      queue.push(b);
      kick();
    },
    refresh,
    current: () => (challenger ? run : undefined),
    cost: () => ({ ...spent }),
    async drain() {
      while (busy) await busy;
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await busy;
    },
  };
}
