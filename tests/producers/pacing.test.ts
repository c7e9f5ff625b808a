import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memorySink } from '../../producers/kafka-sink.ts';
import { SpeedPacer, TokenBucket, type Clock } from '../../producers/pacing.ts';
import { replayFile } from '../../producers/replay.ts';
import { generateStream } from '../../producers/world/index.ts';

function fakeClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += Math.max(0, ms);
    },
  };
  return c;
}

describe('TokenBucket', () => {
  it('holds the long-run rate for any batch size', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(1000, 50, clock);
    for (let i = 0; i < 100; i++) await bucket.take(i % 2 === 0 ? 7 : 193);
    // 10,000 tokens at 1000/s from an empty bucket: exactly 10 s.
    expect(clock.t).toBeCloseTo(10_000, 6);
  });

  it('changes rate on the fly and caps saved-up tokens at the burst', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(100, 10, clock);
    clock.t += 60_000;
    expect(bucket.waitFor(10)).toBe(0);
    expect(bucket.waitFor(20)).toBeCloseTo(100, 5);
    bucket.setRate(1000);
    await bucket.take(1010);
    expect(clock.t - 60_000).toBeCloseTo(1000, 5);
  });
});

describe('SpeedPacer', () => {
  it('scales recorded gaps by the speed', () => {
    const clock = fakeClock();
    const p = new SpeedPacer(60, clock);
    expect(p.delayFor(1_000_000)).toBe(0);
    expect(p.delayFor(1_060_000)).toBe(1000);
    clock.t = 400;
    expect(p.delayFor(1_060_000)).toBe(600);
  });
});

describe('replay rate control (real clock)', () => {
  it('holds --rate within 10% over ~2.5 s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fs-pace-'));
    const file = join(dir, 'tx.jsonl');
    await writeFile(file, [...generateStream({ seed: 2, events: 5000, cards: 100, merchants: 60 })].map((e) => JSON.stringify(e.tx)).join('\n') + '\n');
    const sink = memorySink();
    const t0 = performance.now();
    const s = await replayFile({ file, pace: { kind: 'rate', eps: 2000 }, labelsFile: null, progress: false }, sink);
    const seconds = (performance.now() - t0) / 1000;
    expect(sink.txs).toHaveLength(5000);
    expect(s.eventsPerSec).toBeGreaterThan(1800);
    expect(s.eventsPerSec).toBeLessThan(2200);
    expect(seconds).toBeGreaterThan(2.2);
    // ~50 sends a second keeps the stream smooth rather than one burst per second.
    expect(sink.calls).toBeGreaterThan(100);
  });
});
