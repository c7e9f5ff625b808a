import { describe, expect, it } from 'vitest';
import { decisionStatsKey } from '../../state/decision-stats.ts';
import { driftKey } from '../../state/drift.ts';
import { featureCardKey } from '../../state/features.ts';
import { heartbeatIndexKey, heartbeatKey } from '../../state/heartbeats.ts';
import { outcomeKeyPrefix, outcomeRebuildKey, outcomeViewKey } from '../../state/outcomes.ts';
import { policyChannel, policyKeys } from '../../state/policy.ts';
import { reviewKeys } from '../../state/review.ts';
import { samplesKey } from '../../state/samples.ts';
import * as ui from '../../state/ui.ts';

// The spellings of data already in Redis: a change here makes existing policies, cases, accounts and counts unreadable.
describe('Redis key families keep their spelling', () => {
  const p = 'fs:';

  it('router and detector families', () => {
    expect(outcomeKeyPrefix(p, 'detect')).toBe('fs:outcome:detect:');
    expect(outcomeViewKey(p, 'detect')).toBe('fs:outcome-view:detect');
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
