import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Case, Decision, Label, VerdictBody } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { CaseHeldError, type RedisReviewQueue } from '../../state/review.ts';
import { buildDecision, encodeDecision } from '../../router/pure/decision.ts';
import type { OutMessage } from '../../router/runner/batch.ts';
import { OutboxFlusher } from '../../router/ops/outbox.ts';

export function verdictMessages(c: Case, verdict: VerdictBody['verdict'], who: string): { label: Label; decision: Decision } {
  const fraud = verdict === 'confirm_fraud';
  const at = c.closedAt ?? Date.now();
  const note = c.note ?? '';
  const label: Label = {
    txId: c.txId,
    cardId: c.cardId,
    merchantId: c.tx.merchantId,
    txTs: c.tx.ts,
    isFraud: fraud,
    scenario: null,
    source: 'analyst',
    labeledAt: at,
    analyst: who,
    ...(note ? { note } : {}),
  };
  const decision = buildDecision(c, {
    stage: 'review',
    action: fraud ? 'BLOCK' : 'ALLOW',
    reason: `analyst ${who} ${fraud ? 'confirmed fraud' : 'approved it as legitimate'}`,
    rulesFired: [
      ...c.rulesFired,
      { id: 'analyst.verdict', description: fraud ? 'analyst confirmed fraud' : 'analyst approved', effect: fraud ? 'block' : 'allow', value: who },
    ],
    // The time the case waited for a human, so the decision says where its time went.
    timings: { review: Math.max(0, at - c.createdAt) },
    decidedAt: at,
    analyst: who,
    note,
    // The loss the case was queued for (older cases lack it): what the analyst's verdict was weighed against.
    ...(c.loss ? { expectedLoss: c.loss } : {}),
  });
  return { label, decision };
}

/** How long a verdict request waits for its label to reach Kafka before answering "queued". */
const PUBLISH_WAIT_MS = 2_000;

/**
 * Closes a case and publishes its label and final decision. The messages enter a Redis outbox in the same
 * atomic step as the close, then this console flushes it at once (router/ops/outbox.ts); a failed send stays in the
 * outbox and the ops service retries it, so a verdict is never lost between Redis and Kafka, console or not.
 */
export class VerdictService {
  readonly outboxKey: string;
  private readonly outbox: OutboxFlusher;

  constructor(
    private readonly config: Config,
    private readonly redis: Redis,
    private readonly queue: RedisReviewQueue,
    kafka: Kafka,
    private readonly log: Logger,
    instanceId: string,
  ) {
    this.outbox = new OutboxFlusher(config, redis, kafka, instanceId);
    this.outboxKey = this.outbox.outboxKey;
  }

  /**
   * Closes the case and stores its messages in the outbox, then waits up to PUBLISH_WAIT_MS for them to reach
   * Kafka. `waiting` is the outbox length after that wait: 0 means sent; more means they go out on a later flush.
   */
  async decide(caseId: string, verdict: VerdictBody['verdict'], note: string, who: string): Promise<{ closed: Case; decision: Decision; label: Label; waiting: number } | undefined> {
    const done = await this.closeOne(caseId, verdict, note, who);
    if (!done) return undefined;
    const waiting = await this.publishSoon(caseId);
    return { ...done, waiting };
  }

  /**
   * One verdict and note over several cases (linked cases settled together): each is closed on its own, with the same
   * once-only gate and claim check as a single verdict, then their messages are published in one flush. A case that is
   * held by someone else, closed or unknown is reported, not fatal: the others are still decided.
   */
  async decideMany(
    caseIds: readonly string[],
    verdict: VerdictBody['verdict'],
    note: string,
    who: string,
  ): Promise<{ results: Array<{ caseId: string; outcome: 'closed'; closed: Case; decision: Decision; label: Label } | { caseId: string; outcome: 'held'; holder: string } | { caseId: string; outcome: 'not_open' }>; waiting: number }> {
    const results = [];
    for (const caseId of new Set(caseIds)) {
      try {
        const done = await this.closeOne(caseId, verdict, note, who);
        results.push(done ? { caseId, outcome: 'closed' as const, ...done } : { caseId, outcome: 'not_open' as const });
      } catch (err) {
        if (!(err instanceof CaseHeldError)) throw err;
        results.push({ caseId, outcome: 'held' as const, holder: err.holder });
      }
    }
    const waiting = results.some((r) => r.outcome === 'closed') ? await this.publishSoon(caseIds.join(',')) : await this.redis.llen(this.outboxKey);
    return { results, waiting };
  }

  /** Closes the case and stores its label and final decision in the outbox, in one atomic step. */
  private async closeOne(caseId: string, verdict: VerdictBody['verdict'], note: string, who: string): Promise<{ closed: Case; decision: Decision; label: Label } | undefined> {
    const t = this.config.topics;
    let built: { label: Label; decision: Decision } | undefined;
    const closed = await this.queue.close(caseId, verdict === 'approve' ? 'approved' : 'confirmed_fraud', who, note, {
      outbox: {
        key: this.outboxKey,
        items: (c) => {
          built = verdictMessages(c, verdict, who);
          const items: OutMessage[] = [
            { topic: t.labels, key: c.cardId, value: JSON.stringify(built.label) },
            { topic: t.decisions, key: c.cardId, value: encodeDecision(built.decision) },
            // The closed case's record, in the same Kafka transaction as its label and decision (issue 18).
            { topic: t.caseState, key: c.caseId, value: JSON.stringify(c) },
          ];
          return items.map((i) => JSON.stringify(i));
        },
      },
    });
    if (!closed || !built) return undefined;
    return { closed, ...built };
  }

  /**
   * The verdict is durable once it is in the outbox; the analyst waits for Kafka only a moment (PUBLISH_WAIT_MS), not
   * for a broker that is slow (its first transactional producer creates __transaction_state) or down. Returns the
   * outbox length after that wait: 0 means sent.
   */
  private async publishSoon(what: string): Promise<number> {
    const sending = this.flush().catch((err: unknown) => {
      this.log.warn({ err, caseId: what }, 'verdict stored; publishing will be retried');
      return 0;
    });
    await Promise.race([sending, new Promise((resolve) => setTimeout(resolve, PUBLISH_WAIT_MS).unref())]);
    return this.redis.llen(this.outboxKey);
  }

  /** Sends what is in the outbox now (the ops service also does, every few seconds). */
  flush(): Promise<number> {
    return this.outbox.flush();
  }
}
