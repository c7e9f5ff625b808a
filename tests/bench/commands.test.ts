import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../core/errors.ts';
import { commands } from '../../bench/commands.ts';
import { findCommand } from '../../cli/commands.ts';

const cmd = (name: string) => commands.find((c) => c.name === name)!;

describe('bench command: bad flags say what to fix', () => {
  const bench = commands.find((c) => c.name === 'bench')!;
  it.each([
    [['--events', '10'], /--events must be an integer >= 1000/],
    [['--rate', 'fast'], /--rate must be a number >= 1/],
    [['--share', '2'], /--share must be a number >= 0.01 <= 1/],
    [['--soak', '500'], /--soak must be 0 \(off\) or at least 10000/],
    [['--samples', '10'], /--samples must be an integer >= 100/],
    [['--repeat', '0'], /--repeat must be an integer >= 1/],
    [['--seconds', '10'], /Unknown option '--seconds'/],
    [['--ceiling', 'fast'], /--ceiling must be per-partition or serial, got "fast"/],
    [['--chart', 'out.png'], /--chart must name an \.svg file/],
    [['--model', ''], /--model must be a model version folder, latest or none/],
    [['--model', '/nonexistent/v1'], /--model \/nonexistent\/v1: not a model version folder/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['pipeline2'], /unexpected argument "pipeline2"/],
  ])('%j', async (argv, message) => {
    await expect(bench.run(argv)).rejects.toThrow(UserInputError);
    await expect(bench.run(argv)).rejects.toThrow(message);
  });

  it('`bench pipeline` (the old alias) is gone: the CLI finds `bench`, which refuses the extra word', async () => {
    const hit = findCommand(['bench', 'pipeline'])!;
    expect(hit.command).toBe(bench);
    await expect(hit.command.run(hit.rest)).rejects.toThrow(/unexpected argument "pipeline"/);
  });
});

describe('bench producers: bad flags name the flag', () => {
  it('--events below the minimum', async () => {
    await expect(cmd('bench producers').run(['--events', '5'])).rejects.toThrow(UserInputError);
    await expect(cmd('bench producers').run(['--events', '5'])).rejects.toThrow(/--events must be an integer >= 1000/);
  });
});
