import type { Kafka, Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Case, Decision, Label, VerdictBody } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { CaseHeldError, type RedisReviewQueue } from '../../state/review.ts';
import { decisionStatsKey } from '../../state/decision-stats.ts';
import { OUTBOX_LOCK_TTL_MS, outboxKey, outboxLockKey } from '../../state/ui.ts';
import { buildDecision } from '../../router/pure/decision.ts';
import { byTopic, type OutMessage } from '../../router/runner/batch.ts';

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

/** Extends the flush lock only while this process still holds it. */
/** How long a verdict request waits for its label to reach Kafka before answering "queued". */
const PUBLISH_WAIT_MS = 2_000;

const RENEW_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * Closes a case and publishes its label and final decision. The messages enter a Redis outbox in the same
 * atomic step as the close, then are sent; a failed send stays in the outbox and is retried, so a verdict is
 * never lost between Redis and Kafka.
 *
 * Published once, even with several UI processes and Kafka down: one process flushes at a time (a Redis lock,
 * renewed while it works), and it sends in a Kafka transaction whose transactional id every UI process shares,
 * initialised afresh after taking the lock. A holder that stalled past its lock (a send hanging while the broker
 * is down) is fenced by the next one: its transaction aborts instead of publishing the items a second time.
 */
export class VerdictService {
  readonly outboxKey: string;
  private flushing: Promise<number> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Config,
    private readonly redis: Redis,
    private readonly queue: RedisReviewQueue,
    private readonly kafka: Kafka,
    private readonly log: Logger,
    private readonly instanceId: string,
  ) {
    this.outboxKey = outboxKey(config.redis.keyPrefix);
  }

  startRetrying(intervalMs = 5_000): void {
    this.timer = setInterval(() => void this.flush().catch((err: unknown) => this.log.warn({ err }, 'outbox flush failed; will retry')), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
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
            { topic: t.decisions, key: c.cardId, value: JSON.stringify(built.decision) },
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

  /** Sends what is in the outbox; one process at a time (a short Redis lock) so nothing is trimmed unsent. */
  flush(): Promise<number> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** A transactional producer initialised now: any earlier holder's open transaction is aborted, its next refused. */
  private async freshProducer(): Promise<Producer> {
    const producer = this.kafka.producer({
      transactionalId: `fraudstream.${this.config.redis.keyPrefix}verdict-outbox`,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { initialRetryTime: 20, maxRetryTime: 2_000, retries: 12 },
    });
    try {
      await producer.connect();
      const init = await producer.transaction();
      await init.abort();
      return producer;
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
  }

  private async flushOnce(): Promise<number> {
    const lock = outboxLockKey(this.config.redis.keyPrefix);
    if ((await this.redis.set(lock, this.instanceId, 'PX', OUTBOX_LOCK_TTL_MS, 'NX')) !== 'OK') return 0;
    const renew = setInterval(() => void this.redis.eval(RENEW_LUA, 1, lock, this.instanceId, OUTBOX_LOCK_TTL_MS).catch(() => undefined), 5_000);
    let sent = 0;
    let producer: Producer | undefined;
    try {
      if ((await this.redis.llen(this.outboxKey)) === 0) return 0;
      producer = await this.freshProducer();
      for (let round = 0; round < 50; round++) {
        const raws = await this.redis.lrange(this.outboxKey, 0, 99);
        if (raws.length === 0) break;
        const items = raws.flatMap((r) => {
          try {
            return [JSON.parse(r) as OutMessage];
          } catch {
            return [];
          }
        });
        const txn = await producer.transaction();
        try {
          await txn.sendBatch({ topicMessages: byTopic(items) });
          await txn.commit();
        } catch (err) {
          await txn.abort().catch(() => undefined);
          throw err;
        }
        const p = this.redis.multi().ltrim(this.outboxKey, raws.length, -1);
        for (const i of items) {
          if (i.topic === this.config.topics.decisions) {
            const action = (JSON.parse(i.value) as { action?: string }).action;
            if (action) p.hincrby(decisionStatsKey(this.config.redis.keyPrefix), action, 1);
          }
        }
        await p.exec();
        sent += raws.length;
      }
    } finally {
      clearInterval(renew);
      await producer?.disconnect().catch(() => undefined);
      const holder = await this.redis.get(lock);
      if (holder === this.instanceId) await this.redis.del(lock);
    }
    return sent;
  }
}
