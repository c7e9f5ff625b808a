/**
 * The compacted changelog topics that hold what operators and analysts created (issue 18), opened together: every
 * process that changes one of them, or restores its Redis view, uses these. The audit topic (append-only, one
 * chain) has its own reader and writer (review-ui/server/audit.ts).
 */
import type { Kafka } from 'kafkajs';
import { kafkaChangelog, type Changelog, type ChangelogOptions } from './changelog.ts';
import type { Config } from './config.ts';

export interface Records {
  policy: Changelog;
  accounts: Changelog;
  caseState: Changelog;
  shadow: Changelog;
  close(): Promise<void>;
}

export function openRecords(kafka: Kafka, config: Config, opts: ChangelogOptions = {}): Records {
  const t = config.topics;
  const policy = kafkaChangelog(kafka, t.policy, opts);
  const accounts = kafkaChangelog(kafka, t.accounts, opts);
  const caseState = kafkaChangelog(kafka, t.caseState, opts);
  const shadow = kafkaChangelog(kafka, t.shadow, opts);
  return {
    policy,
    accounts,
    caseState,
    shadow,
    close: async () => {
      await Promise.all([policy, accounts, caseState, shadow].map((c) => c.close()));
    },
  };
}
