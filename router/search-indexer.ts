/**
 * The search index's writer where the decisions flow (issue 21, search): a consumer group of its own on the decisions
 * topic writes every decision into state/search.ts, so `GET /api/search` finds decisions made while no console was
 * open. A service, not a stage: it decides nothing and produces nothing. Offsets are committed after the batch is
 * written (at least once); a redelivered batch writes the same rows again, keyed by tx id, so the index does not
 * change. A final decision replaces its provisional REVIEW because both are keyed by card and arrive in order.
 *
 * Started today by the `stages` command in a process that runs escalate, and by `demo`. Meant to be registered
 * in the stage-registry service as it is: `startSearchIndexer({ config, kafka, redis })` returns its stop and
 * progress. The console's live feed still writes the same rows (harmless, idempotent) and can stop once every
 * deployment runs this.
 */
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { DecisionSchema, type Decision } from '../core/contracts.ts';
import type { Config } from '../core/config.ts';
import { logger, type Logger } from '../core/logger.ts';
import { SEARCH_TTL_SECONDS, SearchIndex } from '../state/search.ts';
import { startViewConsumer } from './view-consumer.ts';

/** The indexer's consumer group: one per decisions topic (a test's isolated topic gets its own group). */
export const searchIndexerGroup = (config: Config): string => `fraudstream-search-index.${config.topics.decisions}`;

export interface SearchIndexerOptions {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  log?: Logger;
  /** Wall clock (tests move it); decisions older than the index's age bound are skipped, not written then evicted. */
  now?: () => number;
}

export interface SearchIndexer {
  readonly groupId: string;
  /** Decisions written, and messages skipped as unreadable or past the index's age. */
  progress(): { indexed: number; unreadable: number; tooOld: number };
  stop(): Promise<void>;
}

/** Parses one batch of the decisions topic: the decisions to index and how many were skipped. */
export function decisionsToIndex(values: ReadonlyArray<Buffer | null>, now: number, ttlSeconds = SEARCH_TTL_SECONDS): { decisions: Decision[]; unreadable: number; tooOld: number } {
  const decisions: Decision[] = [];
  let unreadable = 0;
  let tooOld = 0;
  for (const v of values) {
    if (!v) continue;
    let parsed: ReturnType<typeof DecisionSchema.safeParse>;
    try {
      parsed = DecisionSchema.safeParse(JSON.parse(v.toString('utf8')));
    } catch {
      unreadable++;
      continue;
    }
    if (!parsed.success) unreadable++;
    else if (parsed.data.decidedAt < now - ttlSeconds * 1000) tooOld++;
    else decisions.push(parsed.data);
  }
  return { decisions, unreadable, tooOld };
}

export async function startSearchIndexer(opts: SearchIndexerOptions): Promise<SearchIndexer> {
  const { config, kafka, redis } = opts;
  const log = opts.log ?? logger('search-indexer');
  const now = opts.now ?? Date.now;
  const index = new SearchIndex(redis, config.redis.keyPrefix);
  const groupId = searchIndexerGroup(config);
  const counts = { indexed: 0, unreadable: 0, tooOld: 0 };
  // A new group starts at the topic's beginning: what is older than the index keeps is skipped without a write.
  const { stop } = await startViewConsumer({
    kafka,
    groupId,
    topic: config.topics.decisions,
    name: 'search indexer',
    log,
    maxWaitTimeInMs: 500,
    apply: async (messages) => {
      const { decisions, unreadable, tooOld } = decisionsToIndex(
        messages.map((m) => m.value),
        now(),
      );
      await index.store(decisions, now());
      counts.indexed += decisions.length;
      counts.unreadable += unreadable;
      counts.tooOld += tooOld;
    },
  });
  return {
    groupId,
    progress: () => ({ ...counts }),
    stop,
  };
}
