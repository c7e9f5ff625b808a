import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { familyPrefix, keySlot } from '../../core/redis.ts';
import { cardHistoryKeysOf } from '../../state/card-history.ts';
import { ruleTxShardKey } from '../../state/rule-evidence.ts';
import { decisionStatsKey } from '../../state/decision-stats.ts';
import { driftKey } from '../../state/drift.ts';
import { featureCardKey } from '../../state/features.ts';
import { heartbeatIndexKey, heartbeatKey } from '../../state/heartbeats.ts';
import { outcomeExpiryIndexKey, outcomeExpiryKey, outcomeKeyPrefix, outcomeRebuildKey, outcomeSweepLockKey, outcomeViewKey } from '../../state/outcomes.ts';
import { policyChannel, policyKeys, policyKeysOf } from '../../state/policy.ts';
import { reviewKeys, reviewKeysOf } from '../../state/review.ts';
import { samplesKey } from '../../state/samples.ts';
import * as ui from '../../state/ui.ts';
import { OUTBOX_FAMILY, outboxKey } from '../../state/ui.ts';

// The spellings of data already in Redis: a change here makes existing policies, cases, accounts and counts unreadable.
describe('Redis key families keep their spelling', () => {
  const p = 'fs:';

  it('router and detector families', () => {
    expect(outcomeKeyPrefix(p, 'detect')).toBe('fs:outcome:detect:');
    expect(outcomeViewKey(p, 'detect')).toBe('fs:outcome-view:detect');
    // the claims' expiry buckets (no TTL), their index, the sweep's lock (TTL 2 min)
    expect(outcomeExpiryKey(p, 'detect', 2_949_120, 31)).toBe('fs:outcome-expiry:detect:2949120:31');
    expect(outcomeExpiryKey(p, 'detect', 2_949_120)).toBe('fs:outcome-expiry:detect:2949120');
    expect(outcomeExpiryIndexKey(p, 'detect')).toBe('fs:outcome-expiry:detect:buckets');
    expect(outcomeSweepLockKey(p, 'detect')).toBe('fs:outcome-expiry:detect:sweeping');
    // transient (TTL 1 h), tagged with the marker's name: one slot on Redis Cluster
    expect(outcomeRebuildKey(p, 'detect')).toBe('fs:outcome-view:detect:rebuilding{fs:outcome-view:detect}');
    expect(decisionStatsKey(p)).toBe('fs:stats:decisions');
    expect(policyKeys(p)).toMatchObject({ current: 'fs:policy:current', history: 'fs:policy:versions', counter: 'fs:policy:counter' });
    expect(policyKeys(p).doc(7)).toBe('fs:policy:v:7');
    expect(policyChannel(p)).toBe('fs:policy:changed');
    expect(reviewKeys(p)).toMatchObject({ open: 'fs:review:open', closed: 'fs:review:closed' });
    expect(reviewKeys(p).case('c1')).toBe('fs:review:case:c1');
    expect(samplesKey(p)).toBe('fs:samples');
    expect(driftKey(p, 'v1')).toBe('fs:drift:v1');
    expect(featureCardKey(p, 'card-9')).toBe('fs:feat:{card-9}');
  });

  it('heartbeats: a key per process (instance ids may hold colons) and the index that finds them', () => {
    expect(heartbeatKey(p, 'detect', 'host:1234:a')).toBe('fs:heartbeat:detect:host:1234:a');
    expect(heartbeatIndexKey(p)).toBe('fs:heartbeats');
  });

  it('review UI families', () => {
    expect(ui.userKey(p, 'ana')).toBe('fs:ui:user:ana');
    expect(ui.userPattern(p)).toBe('fs:ui:user:*');
    expect(ui.userNameOf(p, ui.userKey(p, 'ana'))).toBe('ana');
    expect(ui.sessionKey(p, 'abc')).toBe('fs:ui:session:abc');
    expect(ui.loginFailKey(p, '10.0.0.1', 'Ana')).toBe('fs:ui:login-fail:10.0.0.1:ana');
    expect(ui.auditKey(p)).toBe('fs:ui:audit');
    expect(ui.outboxKey(p)).toBe('fs:ui:outbox');
    expect(ui.outboxLockKey(p)).toBe('fs:ui:outbox:lock');
    expect(ui.cardHistoryKey(p, 'c')).toBe('fs:ui:card:c');
    expect(ui.cardRowsKey(p, 'c')).toBe('fs:ui:card-rows:c');
    expect(ui.auditHeadKey(p)).toBe('fs:ui:audit:head');
    expect(ui.authEventsKey(p)).toBe('fs:ui:auth-events');
  });
});

describe('Redis Cluster spellings (only on a Cluster client: a single Redis keeps the names above)', () => {
  const p = 'fs:';
  const cluster = { isCluster: true } as unknown as Redis;
  const single = {} as unknown as Redis;

  it('families a script or MULTI uses together share one hash tag; per-card history is tagged by card', () => {
    expect(reviewKeysOf(single, p).open).toBe(reviewKeys(p).open);
    expect(reviewKeysOf(single, p).claim('c1')).toBe('fs:review:claim:c1');
    expect(reviewKeysOf(cluster, p).open).toBe('fs:{review}:review:open');
    expect(reviewKeysOf(cluster, p).case('c1')).toBe('fs:{review}:review:case:c1');
    expect(outboxKey(familyPrefix(cluster, p, OUTBOX_FAMILY))).toBe('fs:{review}:ui:outbox');
    expect(policyKeysOf(cluster, p).doc(7)).toBe('fs:{policy}:policy:v:7');
    expect(policyKeysOf(single, p).doc(7)).toBe('fs:policy:v:7');
    expect(cardHistoryKeysOf(cluster, p, 'c')).toEqual({ ids: 'fs:ui:card:{c}', rows: 'fs:ui:card-rows:{c}' });
    expect(cardHistoryKeysOf(single, p, 'c')).toEqual({ ids: 'fs:ui:card:c', rows: 'fs:ui:card-rows:c' });
    expect(ruleTxShardKey(p, 'tx-1')).toMatch(/^fs:ops:rules:\{r\d+\}:tx:tx-1$/);
    expect(keySlot(ruleTxShardKey(p, 'tx-1'))).toBe(keySlot(ruleTxShardKey(p, 'tx-1').replace(/:tx:.*/, '')));
  });
});
