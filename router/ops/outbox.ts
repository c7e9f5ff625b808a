/**
 * The verdict outbox's sender. A console closes a case and stores its label and final decision in a Redis outbox in
 * one atomic step (review-ui/server/verdict.ts), then asks for a flush at once; the ops service flushes every few
 * seconds, so what a console could not send (Kafka down, the console gone) still goes out without a console.
 *
 * Published once, with several consoles and ops members and Kafka down: one process flushes at a time (a Redis lock,
 * renewed while it works), and it sends in a Kafka transaction whose transactional id every flusher shares,
 * initialised afresh after taking the lock. A holder that stalled past its lock (a send hanging while the broker is
 * down) is fenced by the next one: its transaction aborts instead of publishing the items a second time.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { decisionStatsKeyOf } from '../../state/decision-stats.ts';
import { familyPrefix } from '../../core/redis.ts';
import { OUTBOX_FAMILY, OUTBOX_LOCK_TTL_MS, outboxKey, outboxLockKey } from '../../state/ui.ts';
import { byTopic, type OutMessage } from '../runner/batch.ts';

/** Extends the flush lock only while this process still holds it. */
const RENEW_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export class OutboxFlusher {
  readonly outboxKey: string;
  private flushing: Promise<number> | undefined;

  constructor(
    private readonly config: Config,
    private readonly redis: Redis,
    private readonly kafka: Kafka,
    private readonly instanceId: string,
  ) {
    this.outboxKey = outboxKey(familyPrefix(redis, config.redis.keyPrefix, OUTBOX_FAMILY));
  }

  /** Messages waiting. */
  waiting(): Promise<number> {
    return this.redis.llen(this.outboxKey);
  }

  /** Sends what is in the outbox; one process at a time (a short Redis lock) so nothing is trimmed unsent. Returns how many it sent. */
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
    const lock = outboxLockKey(familyPrefix(this.redis, this.config.redis.keyPrefix, OUTBOX_FAMILY));
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
            if (action) p.hincrby(decisionStatsKeyOf(this.redis, this.config.redis.keyPrefix), action, 1);
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
