/**
 * router/post-commit-stats.ts with a fake sink: batches merge into one write per interval, nothing is lost at close,
 * a failed write is reported and later data is still written, samples stay bounded.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PendingDrift } from '../../detectors/drift.ts';
import { PostCommitStats, type StatsSink } from '../../router/post-commit-stats.ts';
import type { ScoredSample } from '../../state/types.ts';

function sample(txId: string): ScoredSample {
  return { txId, cardId: 'c', merchantId: 'm', mcc: '5411', country: 'FR', amountMinor: 100, scores: {}, rulesFired: [], action: 'ALLOW', ts: 1 };
}

function fakeSink(fail = 0) {
  const writes: Array<{ counts?: Record<string, number>; drift: PendingDrift[]; samples?: string[] }> = [];
  let current: (typeof writes)[number] | undefined;
  const warnings: unknown[] = [];
  let failing = fail;
  // One flush calls the sink's methods in the same turn; group them into one "write".
  const open = () => {
    if (!current) {
      current = { drift: [] };
      writes.push(current);
      queueMicrotask(() => (current = undefined));
    }
    return current;
  };
  const sink: StatsSink = {
    countDecisions: async (counts) => {
      open().counts = { ...counts };
      if (failing > 0) {
        failing -= 1;
        throw new Error('redis says no');
      }
    },
    recordDrift: async (d) => open().drift.push({ modelVersion: d.modelVersion, counts: structuredClone(d.counts) }),
    recordSamples: async (s) => {
      open().samples = s.map((x) => x.txId);
    },
    warn: (err) => warnings.push(err),
  };
  return { sink, writes, warnings };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('PostCommitStats', () => {
  it('merges the batches of one interval into one write: counts summed, drift bins summed per version, samples in order', async () => {
    vi.useFakeTimers();
    const { sink, writes } = fakeSink();
    const stats = new PostCommitStats(sink, 200);
    stats.add({ counts: { ALLOW: 3, ESCALATE: 1 }, drift: [{ modelVersion: 'v1', counts: { amount: [1, 2, 0] } }], samples: [sample('a'), sample('b')] });
    stats.add({ counts: { ALLOW: 2, BLOCK: 1 }, drift: [{ modelVersion: 'v1', counts: { amount: [0, 1, 4], hour: [5] } }, { modelVersion: 'v2', counts: { amount: [7] } }], samples: [sample('c')] });
    expect(writes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(199);
    expect(writes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(writes).toHaveLength(1);
    expect(writes[0]!.counts).toEqual({ ALLOW: 5, ESCALATE: 1, BLOCK: 1 });
    expect(writes[0]!.drift).toEqual([
      { modelVersion: 'v1', counts: { amount: [1, 3, 4], hour: [5] } },
      { modelVersion: 'v2', counts: { amount: [7] } },
    ]);
    expect(writes[0]!.samples).toEqual(['a', 'b', 'c']);
    // Nothing more to write: no empty writes on later ticks.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(writes).toHaveLength(1);
    stats.add({ counts: { ALLOW: 1 }, drift: [], samples: [] });
    await vi.advanceTimersByTimeAsync(200);
    expect(writes).toHaveLength(2);
    expect(writes[1]!.counts).toEqual({ ALLOW: 1 });
  });

  it('close writes what is gathered before the interval ends, and a later add is written at once', async () => {
    const { sink, writes } = fakeSink();
    const stats = new PostCommitStats(sink, 60_000);
    stats.add({ counts: { ALLOW: 4 }, drift: [], samples: [sample('x')] });
    await stats.close();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.counts).toEqual({ ALLOW: 4 });
    stats.add({ counts: { BLOCK: 1 }, drift: [], samples: [] });
    await vi.waitFor(() => expect(writes).toHaveLength(2));
    expect(writes[1]!.counts).toEqual({ BLOCK: 1 });
  });

  it('a failed write is reported and dropped; what comes after is still written', async () => {
    vi.useFakeTimers();
    const { sink, writes, warnings } = fakeSink(1);
    const stats = new PostCommitStats(sink, 100);
    stats.add({ counts: { ALLOW: 1 }, drift: [], samples: [] });
    await vi.advanceTimersByTimeAsync(100);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0])).toMatch(/redis says no/);
    stats.add({ counts: { ALLOW: 2 }, drift: [], samples: [] });
    await vi.advanceTimersByTimeAsync(100);
    expect(writes.map((w) => w.counts)).toEqual([{ ALLOW: 1 }, { ALLOW: 2 }]);
  });

  it('data added while a write hangs merges into the next write, which follows the hung one', async () => {
    vi.useFakeTimers();
    let release!: () => void;
    const seen: Array<Record<string, number>> = [];
    const sink: StatsSink = {
      countDecisions: (c) => {
        seen.push({ ...c });
        return seen.length === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
      },
      recordDrift: async () => undefined,
      warn: () => undefined,
    };
    const stats = new PostCommitStats(sink, 50);
    stats.add({ counts: { ALLOW: 1 }, drift: [], samples: [] });
    await vi.advanceTimersByTimeAsync(50);
    stats.add({ counts: { ALLOW: 2 }, drift: [], samples: [] });
    stats.add({ counts: { BLOCK: 3 }, drift: [], samples: [] });
    await vi.advanceTimersByTimeAsync(500);
    expect(seen).toEqual([{ ALLOW: 1 }]);
    release();
    await vi.advanceTimersByTimeAsync(50);
    expect(seen).toEqual([{ ALLOW: 1 }, { ALLOW: 2, BLOCK: 3 }]);
  });

  it('keeps only the newest samples when more than its bound arrive between writes', async () => {
    const { sink, writes } = fakeSink();
    const stats = new PostCommitStats(sink, 60_000, 3);
    stats.add({ counts: {}, drift: [], samples: ['a', 'b', 'c', 'd'].map(sample) });
    stats.add({ counts: {}, drift: [], samples: [sample('e')] });
    await stats.flush();
    expect(writes[0]!.samples).toEqual(['c', 'd', 'e']);
  });
});
