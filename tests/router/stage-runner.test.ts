import { describe, expect, it } from 'vitest';
import { chunkByBytes, type OutMessage } from '../../router/stage-runner.ts';

describe('chunkByBytes', () => {
  const msg = (i: number, size: number): OutMessage => ({ topic: 't', key: `k${i}`, value: 'x'.repeat(size) });

  it('regression: a batch of decisions larger than message.max.bytes is split below the limit, in order, losing nothing', () => {
    const messages = Array.from({ length: 900 }, (_, i) => msg(i, 1_500));
    const chunks = chunkByBytes(messages, 512 * 1024);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.reduce((s, m) => s + m.value.length + m.key.length + 64, 0)).toBeLessThanOrEqual(512 * 1024);
    expect(chunks.flat()).toEqual(messages);
  });

  it('keeps a single oversized message as its own chunk instead of dropping it', () => {
    const chunks = chunkByBytes([msg(0, 10), msg(1, 2_000), msg(2, 10)], 1_000);
    expect(chunks.map((c) => c.map((m) => m.key))).toEqual([['k0'], ['k1'], ['k2']]);
  });

  it('returns nothing for nothing', () => {
    expect(chunkByBytes([], 100)).toEqual([]);
  });
});
