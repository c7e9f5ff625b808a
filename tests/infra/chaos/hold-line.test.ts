import { describe, expect, it } from 'vitest';
import { HOLD_MESSAGE, openAtKill, parseHoldLine } from '../../../infra/chaos/pure/hold-line.ts';

describe('hold line', () => {
  it('reads the held partition and offsets from the runner\'s log line', () => {
    const line = JSON.stringify({ level: 40, partition: 2, firstOffset: '3', lastOffset: '87', outputs: 85, msg: HOLD_MESSAGE });
    expect(parseHoldLine(line)).toEqual({ partition: 2, first: 3n, last: 87n });
    expect(parseHoldLine(JSON.stringify({ msg: 'something else', partition: 2 }))).toBeUndefined();
  });
});

describe('openAtKill', () => {
  const killedAt = 1_000_000;
  it('counts a record at or above the last stable offset, sent before the kill, as open at the kill', () => {
    expect(openAtKill({ offset: 40n, timestamp: killedAt - 5 }, 40n, killedAt)).toBe(true);
    expect(openAtKill({ offset: 41n, timestamp: killedAt }, 40n, killedAt)).toBe(true);
  });
  it('does not count a record below the last stable offset (committed at the kill)', () => {
    expect(openAtKill({ offset: 39n, timestamp: killedAt - 5 }, 40n, killedAt)).toBe(false);
  });
  it('does not count a record written after the kill (a peer\'s or the replacement\'s)', () => {
    expect(openAtKill({ offset: 45n, timestamp: killedAt + 1 }, 40n, killedAt)).toBe(false);
  });
  it('does not count a record of a partition whose offset was not read', () => {
    expect(openAtKill({ offset: 45n, timestamp: killedAt - 1 }, undefined, killedAt)).toBe(false);
  });
});
