import { describe, expect, it } from 'vitest';
import { analysePhases, eventsCounted, longestGap, perMemberRates, type Seen } from '../../bench/scale-out/analysis.ts';
import { parseAssignment } from '../../bench/scale-out/run.ts';

describe('scale-out bench arithmetic', () => {
  it('finds the longest gap between visible decisions, edges included', () => {
    expect(longestGap([10, 12, 20, 21], 0, 30)).toBe(10); // 0 -> 10 and 10 -> 20 ... 21 -> 30 is 9
    expect(longestGap([10, 12, 20, 21], 11, 22)).toBe(8); // 12 -> 20
    expect(longestGap([], 5, 9)).toBe(4);
    expect(longestGap([1, 2], 5, 5)).toBe(0);
  });

  it('splits each phase into the change (with its pause) and the steady part', () => {
    // 100 tx/s for 10 s, decided 20 ms later, except a 3 s stall after the join at t = 4 s: those sent in the stall
    // become visible together at 7 s.
    const seen: Seen[] = [];
    for (let t = 0; t < 10_000; t += 10) {
      const stalled = t >= 4_000 && t < 7_000;
      seen.push({ sentAt: t, visibleAt: stalled ? 7_000 : t + 20 });
    }
    seen.push({ sentAt: 9_000 }); // never decided: counted as sent, not decided
    const [start, join] = analysePhases(
      seen,
      [
        { members: 1, change: 'start', changeAt: 0, stableAt: 0, endAt: 4_000 },
        { members: 2, change: 'join', changeAt: 4_000, stableAt: 6_500, endAt: 10_000 },
      ],
      1_000,
    );
    expect(start!.longestPauseSeconds).toBeLessThan(0.1);
    expect(start!.visibleP99Ms).toBe(20);
    expect(join!.rebalanceSeconds).toBe(2.5);
    expect(join!.longestPauseSeconds).toBeCloseTo(3.0, 1); // 3,990 + 20 -> 7,000
    expect(join!.transitionVisibleP99Ms).toBeGreaterThan(2_900);
    expect(join!.transitionVisibleMaxMs).toBe(3_000); // sent at 4,000, visible at 7,000
    expect(join!.steadySent).toBe(251); // sent from 7,500 to 10,000, plus the undecided one
    expect(join!.steadyDecided).toBe(250);
    expect(join!.visibleP99Ms).toBe(20);
    expect(join!.decisionsPerSec).toBeCloseTo(100, 0);
  });

  it('reads a stage\'s event counter from a /metrics page and turns two scrapes into rates', () => {
    const page = ['# HELP fraudstream_events_total Messages consumed by a stage', '# TYPE fraudstream_events_total counter', 'fraudstream_events_total{stage="escalate"} 7', 'fraudstream_events_total{stage="detect"} 1234'].join('\n');
    expect(eventsCounted(page, 'detect')).toBe(1234);
    expect(eventsCounted(page, 'labels')).toBe(0);
    const rates = perMemberRates(new Map([['a', 100]]), new Map([['a', 600], ['b', 250]]), 5);
    expect(rates).toEqual([
      { member: 'a', events: 500, eventsPerSec: 100 },
      { member: 'b', events: 250, eventsPerSec: 50 },
    ]);
  });

  it('counts the partitions of a consumer-protocol assignment', () => {
    // version 0, 2 topics: "tx" with partitions 0, 3; "ab" with partition 1; user data empty
    const parts: Buffer[] = [Buffer.from([0, 0]), int32(2)];
    for (const [topic, ps] of [['tx', [0, 3]], ['ab', [1]]] as const) {
      parts.push(int16(topic.length), Buffer.from(topic), int32(ps.length), ...ps.map(int32));
    }
    parts.push(int32(0));
    expect(parseAssignment(Buffer.concat(parts))).toBe(3);
  });
});

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}
