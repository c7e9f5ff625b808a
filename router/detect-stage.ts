/**
 * Stage "detect": every transaction. Validate -> dedupe -> features -> isolation forest + XGBoost -> policy.
 * Clear cases become a Decision; ambiguous ones become an Escalation for the heavy model.
 *
 * Without a trained model version (cold start) the stage runs in rules-only mode: lists and policy rules
 * decide and everything else is allowed. This was the walking skeleton's first step; models plug in here.
 */
import type { Redis } from 'ioredis';
import { TransactionSchema, type Escalation, type Transaction } from '../core/contracts.ts';
import type { Config } from '../core/config.ts';
import type { FeatureStore, ModelBundle } from '../detectors/types.ts';
import { firstLineScores } from '../core/model-registry.ts';
import { decideFirstLine } from './pure/policy.ts';
import { buildDecision, encodeDecision } from './pure/decision.ts';
import { bandScore } from './pure/band-score.ts';
import { decisionLoss } from './pure/money.ts';
import type { PolicySource } from './policy-source.ts';
import type { OutMessage } from './runner/batch.ts';
import type { StageLogic } from './runner/batch-processor.ts';
import type { ScoredSample } from '../state/types.ts';
import { countOutputs } from './metrics.ts';
import { PostCommitStats } from './post-commit-stats.ts';
import { countDecisions } from '../state/decision-stats.ts';
import { logger } from '../core/logger.ts';
import { DriftRecorder, type PendingDrift } from '../detectors/drift.ts';
import { capRuleHit } from '../detectors/pure/new-card-cap.ts';
import type { ShadowBatch, ShadowSink } from './shadow/worker.ts';
import type { FeatureHistory } from './feature-history.ts';

export interface DetectDeps {
  config: Config;
  redis: Redis;
  policy: PolicySource;
  /** Per-card state, updated once per tx id (also in rules-only mode, so it is warm when a model arrives). */
  features: FeatureStore;
  /** The model version serving now (swapped when the policy points at another); undefined = rules-only. */
  models: () => ModelBundle | undefined;
  /** Where recent scored samples go for the policy preview (capped). */
  recordSamples?: (samples: ScoredSample[]) => Promise<void>;
  /** How many top feature contributions a non-ALLOW decision carries. */
  explainTop?: number;
  /** The shadow challenger (router/shadow/): handed each committed batch's vectors, never waited for. */
  shadow?: ShadowSink;
  /** Whether the feature state is whole (router/feature-history.ts); absent: always taken as whole. */
  history?: FeatureHistory;
  /** How often the post-commit statistics are written (router/post-commit-stats.ts; default STATS_FLUSH_MS). */
  statsFlushMs?: number;
}

export const RULES_ONLY_VERSION = 'rules-only';

export function detectLogic(deps: DetectDeps): StageLogic<Transaction> {
  const { config, policy, features } = deps;
  const k = deps.explainTop ?? 5;
  // Drift counts and preview samples are kept in memory while a batch is handled and handed to the statistics buffer
  // only after it commits (off the decision's critical path), so a replayed batch is not counted twice. The runner
  // hands afterCommit the very per-input arrays handle returned (it may split a batch into several handle calls), so
  // each input's sample and its call's drift counts hang on its array; each call's counts are recorded once.
  const drift = new DriftRecorder(deps.redis, config.redis.keyPrefix);
  const pending = new WeakMap<OutMessage[], { drift: PendingDrift | undefined; sample: ScoredSample; shadow?: ShadowBatch }>();
  const log = logger('stage:detect');
  const stats = new PostCommitStats(
    {
      countDecisions: (counts) => countDecisions(deps.redis, config.redis.keyPrefix, counts),
      recordDrift: (d) => drift.record(d),
      ...(deps.recordSamples ? { recordSamples: deps.recordSamples } : {}),
      warn: (err) => log.warn({ err }, 'writing the post-commit statistics failed'),
    },
    deps.statsFlushMs,
  );
  return {
    name: 'detect',
    schema: TransactionSchema,
    keyOf: (tx) => tx.txId,
    prefetch(txs) {
      const read = features.prefetch?.(txs);
      // Unused when the claims fail: its rejection must not go unhandled (computeAndApply reads again then).
      read?.catch(() => undefined);
      return read;
    },
    async handle(inputs, prefetched) {
      const started = performance.now();
      const txs = inputs.map((i) => i.value);
      const p = policy.current();
      const models = deps.models();
      const [vectors, complete] = await Promise.all([features.computeAndApply(txs, prefetched), deps.history ? deps.history.complete() : true]);
      const partial = complete ? {} : { partialHistory: true };
      const scored = models ? models.scoreFirstLine(vectors) : undefined;
      const perTxMs = (performance.now() - started) / Math.max(1, txs.length);
      // One versions and one timings object for the call: every decision of it carries the same ones.
      const versions = { model: models?.version ?? RULES_ONLY_VERSION, policy: p.version };
      const timings = { detect: perTxMs };
      const samples: ScoredSample[] = [];
      const out: OutMessage[][] = txs.map((tx, i) => {
        const scores = scored?.[i] ? firstLineScores(scored[i]) : {};
        const routedBy = decideFirstLine(p, { scores, amountMinor: tx.amountMinor, country: tx.country, mcc: tx.mcc, cardId: tx.cardId, merchantId: tx.merchantId });
        // A new card over the new-card cap was scored without stored state: the decision says so.
        const capHit = vectors.capped?.get(i);
        const routed = capHit ? { ...routedBy, rulesFired: [...routedBy.rulesFired, capRuleHit(capHit)] } : routedBy;
        const vector = vectors[i];
        const topFeatures = routed.action !== 'ALLOW' && vector && models ? models.explain(vector, k) : [];
        samples.push({ txId: tx.txId, cardId: tx.cardId, merchantId: tx.merchantId, mcc: tx.mcc, country: tx.country, amountMinor: tx.amountMinor, scores, rulesFired: routed.rulesFired, action: routed.action, ts: tx.ts });
        if (routed.action === 'ESCALATE') {
          const featureMap = vector && models ? Object.fromEntries(models.featureNames.map((n, j) => [n, vector[j] ?? 0])) : {};
          const esc: Escalation = { txId: tx.txId, cardId: tx.cardId, tx, features: featureMap, scores, rulesFired: routed.rulesFired, topFeatures, versions, ...partial, timings, escalatedAt: Date.now() };
          return [{ topic: config.topics.escalations, key: tx.cardId, value: JSON.stringify(esc), action: 'ESCALATE' }];
        }
        const band = bandScore(scores);
        const loss = models && band !== undefined ? decisionLoss(models.probability.fromBandScore(band), models.probability.calibrated, tx.amountMinor, p.money) : undefined;
        const decision = buildDecision(
          { txId: tx.txId, cardId: tx.cardId, tx, scores, topFeatures, versions, ...partial },
          { stage: 'detect', action: routed.action, reason: routed.reason, rulesFired: routed.rulesFired, timings, decidedAt: Date.now(), ...(loss ? { expectedLoss: loss } : {}) },
        );
        return [{ topic: config.topics.decisions, key: tx.cardId, value: encodeDecision(decision), action: decision.action }];
      });
      const counted = drift.count(models, vectors, scored);
      // The shadow challenger gets this call's vectors and actions after commit (one batch object shared by its outputs).
      const shadow: ShadowBatch | undefined = deps.shadow?.active() ? { txs, vectors, actions: out.map((o) => (o[0]?.action ?? 'ALLOW') as ShadowBatch['actions'][number]), scored, champion: models } : undefined;
      out.forEach((o, i) => pending.set(o, { drift: counted, sample: samples[i]!, shadow }));
      return out;
    },
    async afterCommit(outputs) {
      const after = outputs.map((o) => pending.get(o)).filter((p) => p !== undefined);
      if (deps.shadow) for (const b of new Set(after.map((a) => a.shadow))) if (b) deps.shadow.offer(b);
      stats.add({
        counts: countOutputs('detect', outputs),
        drift: [...new Set(after.map((a) => a.drift))].filter((d) => d !== undefined),
        samples: after.map((a) => a.sample),
      });
    },
    close: () => stats.close(),
  };
}
