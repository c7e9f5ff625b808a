/**
 * Service "ops": the operator's side of the system, run with the stages rather than as a side effect of an open
 * console (issue 18 item 4). A registered stage (router/stages.ts) reading the decisions topic in its own consumer
 * group; per committed batch it counts decisions per policy version for the guard rail (state/guard.ts) and feeds
 * the rule statistics (state/rule-evidence.ts; the labels stage adds the labels side). Beside the consumer, each
 * member runs three timers: the guard rail's check (router/ops/guard.ts), the verdict outbox's flush
 * (router/ops/outbox.ts) and the case record's sweep (router/ops/case-records.ts).
 *
 * Several members (and several consoles) act once: the group splits the decisions' partitions so each decision is
 * counted by one member (and once: the runner claims its decisionId), the counts are shared in Redis, a rollback is
 * made by whoever first claims the version in Redis (SET NX), and the outbox is flushed under a Redis lock with a
 * shared transactional id that fences a stalled holder.
 */
import type { Kafka, Producer } from 'kafkajs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { kafkaChangelog } from '../../core/changelog.ts';
import { DecisionSchema, type Decision } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createProducer } from '../../core/kafka.ts';
import { logger } from '../../core/logger.ts';
import { openAuditLog } from '../../state/audit.ts';
import { GuardState } from '../../state/guard.ts';
import type { RedisPolicyStore } from '../../state/policy.ts';
import { RuleEvidenceStore } from '../../state/rule-evidence.ts';
import { NEW_CARD_CAP_RULE } from '../../detectors/pure/new-card-cap.ts';
import type { StageLogic } from '../runner/batch-processor.ts';
import type { OutMessage } from '../runner/batch.ts';
import { CASE_SWEEP_TICK_MS, caseSweeper, type CaseSweeper } from './case-records.ts';
import { GuardService } from './guard.ts';
import { OutboxFlusher } from './outbox.ts';

/** How long the runner remembers a decision as counted: longer than any redelivery, far shorter than dedupe's day. */
export const OPS_CLAIM_TTL_SECONDS = 3_600;

export function opsLogic(deps: { guard: Pick<GuardState, 'add'>; evidence: Pick<RuleEvidenceStore, 'onDecisions'> }): StageLogic<Decision> {
  // Counted only after the batch commits, so a batch replayed before its commit is not counted twice.
  const pending = new WeakMap<OutMessage[], Decision>();
  return {
    name: 'ops',
    schema: DecisionSchema,
    // A transaction has up to three decisions (detect or escalate, then the analyst's): each is its own input.
    keyOf: (d) => d.decisionId,
    handle(inputs) {
      return Promise.resolve(
        inputs.map((i) => {
          const none: OutMessage[] = [];
          pending.set(none, i.value);
          return none;
        }),
      );
    },
    async afterCommit(outputs) {
      const ds = outputs.map((o) => pending.get(o)).filter((d) => d !== undefined);
      await Promise.all([
        deps.guard.add(ds.map((d) => ({ policyVersion: d.versions.policy, blocked: d.action === 'BLOCK' }))),
        // The new-card cap's hit marks how features were computed, not a policy rule: counting it would write a 14-day
        // evidence key per transaction of a card-testing run (the very growth the cap bounds).
        deps.evidence.onDecisions(ds.map((d) => ({ txId: d.txId, rules: d.rulesFired.filter((r) => r.id !== NEW_CARD_CAP_RULE).map((r) => r.id), amountMinor: d.tx.amountMinor, currency: d.tx.currency, newTransaction: d.stage !== 'review' }))),
      ]);
    },
  };
}

export interface OpsTimersOptions {
  config: Config;
  redis: Redis;
  kafka: Kafka;
  policies: Pick<RedisPolicyStore, 'current' | 'rollback'>;
  instanceId: string;
  /** Guard rail check period (default 2 s). */
  guardEveryMs?: number;
  /** Outbox flush period (default 5 s). */
  outboxEveryMs?: number;
  /** The case record's sweep (router/ops/case-records.ts): how often each member tries, and the period of one sweep for all. */
  caseSweep?: { tickMs?: number; periodMs?: number };
}

export interface OpsTimers {
  guard: GuardService;
  outbox: OutboxFlusher;
  caseSweep: CaseSweeper;
  stop(): Promise<void>;
}

/**
 * A model version's block share on its test slice (its model card's routed ensemble), read once per version; undefined
 * when the card cannot be read or says nothing. The guard rail judges a change that starts serving it against this.
 */
export function cardBlockRate(modelDir: string): (version: string) => Promise<number | undefined> {
  const known = new Map<string, number | undefined>();
  return async (version) => {
    if (known.has(version)) return known.get(version);
    let rate: number | undefined;
    try {
      const card = JSON.parse(await readFile(path.join(modelDir, path.basename(version), 'model-card.json'), 'utf8')) as { test?: { ensemble?: { blockShare?: unknown } } };
      const v = card.test?.ensemble?.blockShare;
      rate = typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
    } catch {
      rate = undefined;
    }
    known.set(version, rate);
    return rate;
  };
}

/** The ops member's timers: the guard rail's check and the outbox's flush, each never overlapping itself. */
export async function startOpsTimers(opts: OpsTimersOptions): Promise<OpsTimers> {
  const { config, redis, kafka, instanceId } = opts;
  const log = logger('ops').child({ instanceId });
  const prefix = config.redis.keyPrefix;
  const producer: Producer = createProducer(kafka);
  await producer.connect();
  const { audit, close: closeAudit } = openAuditLog(config, redis, kafka, { instanceId });
  const guard = new GuardService({ rail: config.ui.guard, policies: opts.policies, state: new GuardState(redis, prefix), audit, log, instanceId, expectedBlockRate: cardBlockRate(config.modelDir) });
  const outbox = new OutboxFlusher(config, redis, kafka, instanceId);
  const caseRecord = kafkaChangelog(kafka, config.topics.caseState);
  const caseSweep = caseSweeper({ redis, prefix, record: caseRecord, instanceId, log, periodMs: opts.caseSweep?.periodMs });
  const every = (ms: number, what: string, job: () => Promise<unknown>) => {
    let busy = false;
    return setInterval(() => {
      if (busy) return;
      busy = true;
      void job()
        .catch((err: unknown) => log.warn({ err }, `${what} failed; will retry`))
        .finally(() => (busy = false));
    }, ms);
  };
  const timers = [
    every(opts.guardEveryMs ?? 2_000, 'guard rail check', () => guard.check()),
    every(opts.outboxEveryMs ?? 5_000, 'outbox flush', async () => {
      const sent = await outbox.flush();
      if (sent > 0) log.info({ sent }, 'verdict outbox flushed');
    }),
    every(opts.caseSweep?.tickMs ?? CASE_SWEEP_TICK_MS, 'case record sweep', () => caseSweep.tick()),
  ];
  log.info({ rail: guard.rail }, 'guard rail and verdict outbox running');
  return {
    guard,
    outbox,
    caseSweep,
    stop: async () => {
      for (const t of timers) clearInterval(t);
      await outbox.flush().catch(() => undefined);
      await caseRecord.close();
      await closeAudit().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
}

