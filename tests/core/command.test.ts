import { describe, expect, it } from 'vitest';
import { timeFlag } from '../../core/command.ts';
import { UserInputError } from '../../core/errors.ts';

describe('timeFlag (every date and time flag: generate --start, train --train-until, ...)', () => {
  it('reads a date as UTC midnight, an ISO time, and epoch milliseconds', () => {
    expect(timeFlag('test-from', '2025-06-14')).toBe(Date.UTC(2025, 5, 14));
    expect(timeFlag('start', '2025-01-06T12:30:00Z')).toBe(Date.UTC(2025, 0, 6, 12, 30));
    expect(timeFlag('start', '1700000000000')).toBe(1_700_000_000_000);
    expect(timeFlag('start', undefined)).toBeUndefined();
  });

  it('refuses what is not a time, naming the flag and the forms it takes', () => {
    for (const bad of ['', 'yesterday', '2025-13-45', '-5']) {
      expect(() => timeFlag('train-until', bad)).toThrow(UserInputError);
      expect(() => timeFlag('train-until', bad)).toThrow(/--train-until .*expected a date \(2025-03-01\)/);
    }
  });
});
