import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionFor } from '../../core/partition.ts';

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
