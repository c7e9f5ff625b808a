/**
 * The case view writer (issue 18: Kafka is the record, Redis a view): a consumer group of its own on the case-state
 * topic (read_committed) applies every committed case record to the review queue (state/review.ts applyCaseRecords).
 * Escalate no longer writes a case into Redis before its transaction commits: a batch aborted after that write (a
 * kill, a Redis loss, a fenced producer) left a case the record never had, and its retry recorded the case again with
 * another `createdAt` than the view showed (chaos redis-kill9). Escalate writes its committed cases itself after the
 * commit (the queue's size bounds how many cases open, so it should not wait); this writer is what makes the view
 * follow the record when that process dies between its commit and its write.
 *
 * Offsets are committed after the batch is written (at least once); a redelivered batch writes nothing new. Runs beside
 * every escalate member (router/stages.ts), one group for all of them.
 */
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.ts';
import { logger, type Logger } from '../core/logger.ts';
import { applyCaseRecords, forgetCases } from '../state/review.ts';
import { startViewConsumer } from './view-consumer.ts';

/** The writer's consumer group: one per case-state topic (a test's isolated topic gets its own group). */
export const caseViewGroup = (config: Config): string => `fraudstream-case-view.${config.topics.caseState}`;

export interface CaseViewWriterOptions {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  log?: Logger;
}

export interface CaseViewWriter {
  readonly groupId: string;
  /** Records read, and how many of them changed the view. */
  progress(): { read: number; applied: number };
  stop(): Promise<void>;
}

export async function startCaseViewWriter(opts: CaseViewWriterOptions): Promise<CaseViewWriter> {
  const { config, kafka, redis } = opts;
  const log = opts.log ?? logger('case-view');
  const groupId = caseViewGroup(config);
  const counts = { read: 0, applied: 0 };
  // A new group reads the compacted topic from its start: open records then their verdicts end closed (applyCaseRecords).
  const { stop } = await startViewConsumer({
    kafka,
    groupId,
    topic: config.topics.caseState,
    name: 'case view writer',
    log,
    maxWaitTimeInMs: 250,
    apply: async (messages) => {
      const values = messages.flatMap((m) => (m.value === null ? [] : [m.value.toString('utf8')]));
      counts.applied += await applyCaseRecords(redis, config.redis.keyPrefix, values);
      // Tombstones (router/ops/case-records.ts): closed cases past their time, gone from the record.
      const gone = messages.flatMap((m) => (m.value === null && m.key !== null ? [m.key.toString('utf8')] : []));
      counts.applied += await forgetCases(redis, config.redis.keyPrefix, gone);
      counts.read += values.length + gone.length;
    },
  });
  return {
    groupId,
    progress: () => ({ ...counts }),
    stop,
  };
}
