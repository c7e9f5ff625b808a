import { createRequire } from 'node:module';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { JavaCompatiblePartitioner, murmur2, partitionFor } from '../../core/partition.ts';

const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;

describe('partitionFor', () => {
  it('matches kafkajs DefaultPartitioner hashing for every key length', () => {
    for (let i = 0; i < 3000; i++) {
      const key = Buffer.from(`card-${i.toString(36)}${'x'.repeat(i % 9)}`);
      expect(murmur2(key)).toBe(kafkajsMurmur2(key));
    }
  });

  it('spreads card keys over all partitions', () => {
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[partitionFor(Buffer.from(`card-abc-${i}`), 6)]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe('JavaCompatiblePartitioner', () => {
  const metadata = (n: number, leaderless: number[] = []) => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: leaderless.includes(i) ? -1 : 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  const ours = JavaCompatiblePartitioner();
  const theirs = Partitioners.DefaultPartitioner();

  it("puts every key where kafkajs' DefaultPartitioner puts it (string and Buffer keys, ASCII or not)", () => {
    const keys: Array<string | Buffer> = [];
    for (let i = 0; i < 2000; i++) keys.push(`card-${i.toString(36)}${'x'.repeat(i % 11)}`);
    keys.push('', 'é', 'carte-été-ü', '日本のカード-17', 'emoji-🙂-1', 'x'.repeat(600));
    for (let i = 0; i < 200; i++) keys.push(Buffer.from(`buf-${i}`));
    for (const partitions of [1, 3, 6, 7, 64]) {
      const partitionMetadata = metadata(partitions);
      for (const key of keys) {
        const args = { topic: 't', partitionMetadata, message: { key, value: 'v' } };
        expect(ours(args), `key ${String(key)} over ${partitions}`).toBe(theirs(args));
      }
    }
  });

  it('keeps a partition the message names, and spreads keyless messages over partitions that have a leader', () => {
    const partitionMetadata = metadata(6, [2, 4]);
    expect(ours({ topic: 't', partitionMetadata, message: { key: 'card-1', value: 'v', partition: 5 } })).toBe(5);
    const seen = new Map<number, number>();
    for (let i = 0; i < 600; i++) {
      const p = ours({ topic: 'keyless', partitionMetadata, message: { value: 'v' } });
      seen.set(p, (seen.get(p) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual([0, 1, 3, 5]);
    for (const n of seen.values()) expect(n).toBe(150);
  });
});
