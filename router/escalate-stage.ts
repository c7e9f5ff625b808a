/**
 * Stage "escalate": only what detect found ambiguous. Card history + the heavy model -> policy.
 * Settled cases become a Decision; what is still unclear becomes a REVIEW decision and a Case
 * (the cases and case-state topics, then the review queue in Redis once committed) for an analyst.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { EscalationSchema, type Case, type Escalation } from '../core/contracts.ts';
import type { Config } from '../core/config.ts';
import type { FeatureStore, ModelBundle } from '../detectors/types.ts';
import { decideEscalation } from './pure/policy.ts';
import { bandLabel, bandScore, escalateScore } from './pure/band-score.ts';
import { caseLoss, cutoffInput, expectedLoss, StakeWindow, type CutoffStatus } from './pure/money.ts';
import { writeReviewCutoff, type ReviewCutoff } from '../state/review-cutoff.ts';
import { applyCaseRecords, applyCases, type CaseRecord } from '../state/review.ts';
import { buildDecision, encodeDecision } from './pure/decision.ts';
import type { PolicySource } from './policy-source.ts';
import type { OutMessage } from './runner/batch.ts';
import type { StageLogic } from './runner/batch-processor.ts';
import type { ReviewQueue } from '../state/types.ts';
import { tallyOutputs } from './metrics.ts';
import { coalesce } from './runner/coalesce.ts';

export interface EscalateDeps {
  config: Config;
  redis: Redis;
  policy: PolicySource;
  queue: ReviewQueue;
  /** Card history for the heavy model (the same store detect writes). */
  features: FeatureStore;
  /** The model version serving now (swapped when the policy points at another); undefined = rules-only. */
  models: () => ModelBundle | undefined;
  /** Length of the card history the heavy model sees. */
  historyLength?: number;
  /** Resolves once the review queue's view is in Redis (restored from the case-state topic after a wipe). */
  queueReady?: () => Promise<void>;
}

/** Without a heavy model (rules-only, or a version trained without one) the band model's first-line score stands in. */
const NO_HEAVY = { id: 'escalate.no_heavy_model', description: `no heavy model is loaded: the ${bandLabel()} score decided this stage`, effect: 'info' } as const;

const cutoffRecord = (c: CutoffStatus & { at: number }): ReviewCutoff => ({
  cutoffMinor: Number.isFinite(c.cutoff) ? Math.round(c.cutoff) : null,
  ambiguous: c.ambiguous,
  spanHours: c.spanHours,
  ambiguousPerHour: c.ambiguousPerHour,
  reviewsPerHour: c.reviewsPerHour,
  capacityPerHour: c.capacityPerHour,
  at: c.at,
});

export function escalateLogic(deps: EscalateDeps): StageLogic<Escalation> {
  const { config, policy, queue, features } = deps;
  const k = deps.historyLength ?? 16;
  // Partitions are decided concurrently: their heavy-model rows of one event-loop turn go into one TF.js call.
  // The stakes of this process's recent ambiguous cases: the review cutoff follows from them and the staffing.
  const stakes = new StakeWindow();
  // What the Live page shows: the cutoff as of this process's last ambiguous case, written after commit when it changed.
  let latestCutoff: (CutoffStatus & { at: number }) | undefined;
  let writtenAt = 0;
  const member = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const scoreHeavy = coalesce((m: ModelBundle, rows: Parameters<ModelBundle['scoreHeavy']>[0]) => m.scoreHeavy(rows));
  // Each case-state output's case as built, so afterCommit applies it without parsing its own output back.
  const built = new WeakMap<OutMessage, CaseRecord>();
  return {
    name: 'escalate',
    schema: EscalationSchema,
    keyOf: (e) => e.txId,
    async handle(inputs) {
      // The queue's size bounds how many cases open: never counted on a wiped queue.
      await deps.queueReady?.();
      const started = performance.now();
      const items = inputs.map((i) => i.value);
      const p = policy.current();
      const models = deps.models();
      let heavy: Array<number | undefined>;
      // The queue's size and the card histories in one round trip: the escalated events are the latency tail.
      const [histories, openNow] = await Promise.all([
        models?.hasHeavy ? Promise.all(items.map((e) => features.history(e.cardId, k, e.tx.ts))) : undefined,
        queue.openCount(),
      ]);
      let open = openNow;
      if (models?.hasHeavy && histories) {
        const names = models.featureNames;
        heavy = await scoreHeavy(
          models,
          items.map((e, i) => {
            const current = Float64Array.from(names, (n) => e.features[n] ?? 0);
            return { history: histories[i] ?? [], current };
          }),
        );
      } else heavy = items.map(() => undefined);
      const perTxMs = (performance.now() - started) / Math.max(1, items.length);
      const out: OutMessage[][] = [];
      for (const [i, e] of items.entries()) {
        const h = heavy[i];
        const score = escalateScore(h, e.scores);
        const loss = caseLoss(models?.probability, bandScore(e.scores), h, e.tx.amountMinor, p.money);
        const money = loss ? cutoffInput(loss, stakes, Date.now(), e.txId) : undefined;
        const routed = decideEscalation(p, score, open, money);
        if (routed.cutoff && money) latestCutoff = { ...routed.cutoff, at: money.now };
        const scores = h === undefined ? e.scores : { ...e.scores, heavy: h };
        const rulesFired = [...e.rulesFired, ...routed.rulesFired];
        if (h === undefined) rulesFired.push(NO_HEAVY);
        const versions = { model: e.versions.model, policy: p.version };
        const timings = { ...e.timings, escalate: perTxMs };
        const decision = buildDecision(
          { ...e, scores, versions },
          { stage: 'escalate', action: routed.action, reason: routed.reason, rulesFired, timings, decidedAt: Date.now(), ...(loss ? { expectedLoss: loss } : {}) },
        );
        const msgs: OutMessage[] = [{ topic: config.topics.decisions, key: e.cardId, value: encodeDecision(decision), action: decision.action }];
        if (routed.action === 'REVIEW') {
          const c: Case = {
            caseId: `case-${e.txId}`,
            txId: e.txId,
            cardId: e.cardId,
            tx: e.tx,
            features: e.features,
            scores,
            rulesFired,
            topFeatures: e.topFeatures,
            versions,
            ...(e.partialHistory ? { partialHistory: true } : {}),
            risk: Math.min(1, Math.max(0, score)),
            expectedLoss: loss ? loss.stakeMinor : expectedLoss(score, e.tx.amountMinor, p.money).stake,
            ...(loss ? { loss } : {}),
            status: 'open',
            createdAt: Date.now(),
          };
          open += 1;
          const raw = JSON.stringify(c);
          msgs.push({ topic: config.topics.cases, key: e.cardId, value: raw });
          // The case's record (issue 18), in the same transaction as the decision: restored into the queue after a wipe.
          const record: OutMessage = { topic: config.topics.caseState, key: c.caseId, value: raw };
          built.set(record, { c, raw });
          msgs.push(record);
        }
        out.push(msgs);
      }
      // The cases reach the review queue only once their transaction committed (afterCommit, and the case view writer
      // from the committed record: router/case-view.ts): a batch that aborts leaves no case the record never had.
      return out;
    },
    async afterCommit(outputs) {
      const cut = latestCutoff && latestCutoff.at !== writtenAt ? latestCutoff : undefined;
      const committed = outputs.flat().filter((m) => m.topic === config.topics.caseState);
      const cases = committed.flatMap((m) => {
        const r = built.get(m);
        return r ? [r] : [];
      });
      // Not built by this logic (never expected): read from the output itself, as the case view writer does.
      const unknown = committed.filter((m) => !built.has(m)).map((m) => m.value);
      await Promise.all([
        cases.length ? applyCases(deps.redis, config.redis.keyPrefix, cases) : undefined,
        unknown.length ? applyCaseRecords(deps.redis, config.redis.keyPrefix, unknown) : undefined,
        tallyOutputs(deps.redis, config.redis.keyPrefix, 'escalate', outputs),
        cut ? writeReviewCutoff(deps.redis, config.redis.keyPrefix, member, cutoffRecord(cut)).then(() => (writtenAt = cut.at)) : undefined,
      ]);
    },
  };
}
