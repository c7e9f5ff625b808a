import { z } from 'zod';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { chunkByBytes, splitBatch, type OutMessage } from '../../router/stage-runner.ts';

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

describe('splitBatch', () => {
  const schema = z.object({ txId: z.string(), n: z.number() });
  const logic = { schema, keyOf: (v: z.infer<typeof schema>) => v.txId };
  const msg = (offset: number, value: string): KafkaMessage =>
    ({ offset: String(offset), value: Buffer.from(value), key: null, timestamp: String(1_000 + offset), attributes: 0, headers: {} }) as unknown as KafkaMessage;

  it('keeps valid messages in order, rejects the malformed with a reason, and counts repeated keys', () => {
    const { parsed, rejected, repeats } = splitBatch(
      [msg(0, '{"txId":"a","n":1}'), msg(1, 'nope'), msg(2, '{"txId":"b","n":"x"}'), msg(3, '{"txId":"a","n":2}'), msg(4, '{"txId":"c","n":3}')],
      7,
      logic,
    );
    expect(parsed.map((p) => [p.key, p.source, p.value.n])).toEqual([
      ['a', '7:0', 1],
      ['c', '7:4', 3],
    ]);
    expect(rejected.map((r) => r.message.offset)).toEqual(['1', '2']);
    expect(rejected[0]!.reason).toMatch(/^not JSON/);
    expect(rejected[1]!.reason).toMatch(/^schema: n:/);
    expect(repeats).toBe(1);
  });

  it('treats an empty message value as malformed, not as a crash', () => {
    const empty = { offset: '9', value: null, key: null, timestamp: '0', attributes: 0, headers: {} } as unknown as KafkaMessage;
    expect(splitBatch([empty], 0, logic).rejected).toHaveLength(1);
  });
});
