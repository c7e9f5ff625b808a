/** The search indexer's batch parsing (router/search-indexer.ts): what it writes and what it skips. */
import { describe, expect, it } from 'vitest';
import { decisionsToIndex, searchIndexerGroup } from '../../router/search-indexer.ts';
import { baselineWorld } from '../helpers/baseline-world.ts';

describe('decisionsToIndex', () => {
  it('keeps readable decisions inside the index age, counts the unreadable and the too old', () => {
    const [old, fresh] = baselineWorld().cardDecisions;
    const now = fresh!.decidedAt + 1_000;
    const ttl = (now - old!.decidedAt) / 1000 - 1; // the older one falls just outside
    const out = decisionsToIndex([Buffer.from(JSON.stringify(old)), Buffer.from(JSON.stringify(fresh)), Buffer.from('{not json'), Buffer.from('{"txId":"x"}'), null], now, ttl);
    expect(out.decisions.map((d) => d.txId)).toEqual([fresh!.txId]);
    expect(out).toMatchObject({ unreadable: 2, tooOld: 1 });
  });

  it('has one consumer group per decisions topic', () => {
    const config = { topics: { decisions: 'decisions.t1' } } as Parameters<typeof searchIndexerGroup>[0];
    expect(searchIndexerGroup(config)).toBe('fraudstream-search-index.decisions.t1');
  });
});
