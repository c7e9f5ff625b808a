import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Partitioners, type KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { DeadLetterSchema } from '../../core/contracts.ts';
import { byPartition, chunkByBytes, contentHash, deadLetter, splitBatch, type OutMessage } from '../../router/runner/batch.ts';
import { partitionFor } from '../../core/partition.ts';
import { decodeMarker, encodeMarker } from '../../state/outcomes.ts';
import { isServiceError } from '../../router/runner/batch-processor.ts';

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

  it('keeps valid messages in order, rejects the malformed with a reason, folds identical repeats, keeps copies with other content for the claim', () => {
    const { parsed, rejected, repeats } = splitBatch(
      [
        msg(0, '{"txId":"a","n":1}'),
        msg(1, 'nope'),
        msg(2, '{"txId":"b","n":"x"}'),
        msg(3, '{"txId":"a","n":2}'),
        msg(4, '{"txId":"c","n":3}'),
        msg(5, '{"txId":"a","n":1}'),
      ],
      7,
      logic,
    );
    expect(parsed.map((p) => [p.key, p.source, p.value.n])).toEqual([
      ['a', '7:0', 1],
      ['a', '7:3', 2],
      ['c', '7:4', 3],
    ]);
    expect(rejected.map((r) => r.message.offset)).toEqual(['1', '2']);
    expect(rejected[0]!.reason).toMatch(/^not JSON/);
    expect(rejected[1]!.reason).toMatch(/^schema: n:/);
    expect(repeats).toBe(1);
    expect(parsed[1]!.hash).toBe(contentHash(Buffer.from('{"txId":"a","n":2}')));
    expect(parsed[0]!.hash).toBe(contentHash(Buffer.from('{"txId":"a","n":1}')));
  });

  it('treats an empty message value as malformed, not as a crash', () => {
    const empty = { offset: '9', value: null, key: null, timestamp: '0', attributes: 0, headers: {} } as unknown as KafkaMessage;
    expect(splitBatch([empty], 0, logic).rejected).toHaveLength(1);
  });
});

describe('contentHash', () => {
  it('is the first 22 base64url characters of the sha256 (claims made before the one-shot digest still match)', () => {
    for (const v of [Buffer.from('hello'), Buffer.from(JSON.stringify({ txId: 't-1', amountMinor: 1 })), Buffer.alloc(0)]) {
      expect(contentHash(v)).toBe(createHash('sha256').update(v).digest('base64url').slice(0, 22));
    }
    expect(contentHash(Buffer.from('hello'))).toBe('LPJNul-wow4m6Dsqxbninh');
    expect(contentHash(null)).toBe(contentHash(Buffer.alloc(0)));
  });
});

describe('deadLetter', () => {
  const where = { sourceTopic: 'transactions', partition: 2, stage: 'detect', dlqTopic: 'transactions.dlq' };

  it('regression: a 900 KB payload makes a letter far below the 1 MiB topic limit, keeping size, sha256 and the first bytes', () => {
    const raw = Buffer.alloc(900 * 1024, 0x41);
    const out = deadLetter({ key: Buffer.from('k'), value: raw, offset: '42' }, where, 'not JSON: Unexpected token', 64 * 1024);
    expect(Buffer.byteLength(out.value)).toBeLessThan(100 * 1024);
    const letter = DeadLetterSchema.parse(JSON.parse(out.value));
    expect(letter).toMatchObject({ truncated: true, rawBytes: raw.length, offset: '42', partition: 2, reason: 'not JSON: Unexpected token' });
    expect(letter.sha256).toBe(createHash('sha256').update(raw).digest('hex'));
    expect(Buffer.from(letter.rawBase64, 'base64')).toEqual(raw.subarray(0, 64 * 1024));
    expect(out.topic).toBe('transactions.dlq');
  });

  it('keeps a small payload whole', () => {
    const raw = Buffer.from('{"broken":');
    const letter = DeadLetterSchema.parse(JSON.parse(deadLetter({ key: null, value: raw, offset: '1' }, where, 'x', 64 * 1024).value));
    expect(letter.truncated).toBe(false);
    expect(Buffer.from(letter.rawBase64, 'base64').toString()).toBe('{"broken":');
  });
});

describe('outcome markers', () => {
  it('round-trip a source and a content hash (base64url holds no bar)', () => {
    const hash = contentHash(Buffer.from('{"txId":"a"}'));
    expect(hash).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(decodeMarker(encodeMarker({ source: '3:17', hash }))).toEqual({ source: '3:17', hash });
  });
});

describe('isServiceError', () => {
  it('tells service failures (retry the batch) from logic errors (isolate and dead-letter)', () => {
    expect(isServiceError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isServiceError(new Error('LOADING Redis is loading the dataset in memory'))).toBe(true);
    expect(isServiceError(Object.assign(new Error('x'), { name: 'KafkaJSConnectionError' }))).toBe(true);
    expect(isServiceError(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(false);
    expect(isServiceError(new Error('injected fault'))).toBe(false);
  });
});

describe('byPartition (issue 19: a multi-leader sendBatch written twice when a leader died)', () => {
  it('one send per topic-partition, each message on the partition kafkajs would choose, order kept', () => {
    const out = Array.from({ length: 60 }, (_, i) => ({ topic: i % 3 === 0 ? 'escalations' : 'decisions', key: `tx-${i}`, value: `v${i}`, action: 'ALLOW' as const }));
    const counts: Record<string, number> = { decisions: 6, escalations: 4 };
    const sends = byPartition(out, (t) => counts[t]!);
    const kafkajsPartition = Partitioners.DefaultPartitioner();
    for (const send of sends) {
      expect(send).toHaveLength(1);
      const [{ topic, messages }] = send as [(typeof send)[number]];
      expect(new Set(messages.map((m) => m.partition)).size).toBe(1);
      for (const m of messages) {
        expect(m.partition).toBe(partitionFor(Buffer.from(m.key), counts[topic]!));
        const partitionMetadata = Array.from({ length: counts[topic]! }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
        expect(m.partition).toBe(kafkajsPartition({ topic, partitionMetadata, message: { key: m.key, value: m.value } }));
      }
      const indexes = messages.map((m) => Number(m.key.slice(3)));
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    }
    expect(sends.flatMap((s) => s[0]!.messages).length).toBe(out.length);
    expect(sends.length).toBeGreaterThan(4);
  });
});
