import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { UserInputError } from '../../core/errors.ts';
import { commands } from '../../producers/commands.ts';

const cmd = (name: string) => commands.find((c) => c.name === name)!;

describe('producer commands: bad flags name the flag', () => {
  it.each([
    ['generate', ['--out', 'x.jsonl'], /--events is required/],
    ['generate', ['--events', 'ten', '--out', 'x.jsonl'], /--events must be an integer/],
    ['generate', ['--events', '10'], /--out is required/],
    ['generate', ['--events', '10', '--out', 'x.jsonl', '--format', 'xml'], /--format must be jsonl or csv/],
    ['generate', ['--events', '10', '--out', 'x.jsonl', '--cards', '2'], /--cards must be an integer >= 10/],
    ['generate', ['--events', '10', '--out', 'x.jsonl', '--rates', 'card_testing=lots'], /--rates: rate for card_testing/],
    ['generate', ['--events', '10', '--out', 'x.jsonl', '--exclude', 'phishing'], /--exclude: unknown scenario "phishing"/],
    ['generate', ['--events', '10', '--out', 'x.jsonl', '--start', 'soon'], /--start "soon": expected a date \(2025-03-01\), an ISO 8601 time/],
    ['generate', ['--events', '10', '--out', 'x.jsonl', '--bogus'], /Unknown option '--bogus'/],
    ['replay', [], /--file is required/],
    ['replay', ['--file', 'f.jsonl', '--rate', '5', '--speed', '2'], /--rate and --speed cannot be used together/],
    ['replay', ['--file', 'f.jsonl', '--rate', 'fast'], /--rate must be a number/],
    ['replay', ['--file', 'f.jsonl', '--loop', '--loops', '2'], /--loop and --loops/],
    ['replay', ['--file', '/nonexistent/f.jsonl'], /--file \/nonexistent\/f\.jsonl: no such file/],
    ['simulate', [], /--rate is required/],
    ['simulate', ['--rate=-1'], /--rate must be a number >= 0.01/],
    ['simulate', ['--rate', '5', '--continue', 'v1', '--fresh'], /--continue repeats the model's world as it was trained: drop --fresh/],
    ['simulate', ['--rate', '5', '--continue', 'v1', '--cards', '100', '--seed', '2'], /drop --seed, --cards/],
    ['simulate', ['--rate', '5', '--continue', '../x'], /--continue must be a model version folder name/],
    ['simulate', ['--rate', '5', '--continue', 'v20991231T000000000Z'], /model version v20991231T000000000Z: no model-card.json/],
  ])('%s %j', async (name, argv, message) => {
    const run = cmd(name).run(argv);
    await expect(run).rejects.toThrow(UserInputError);
    await expect(cmd(name).run(argv)).rejects.toThrow(message);
  });
});

describe('generate command', () => {
  it('writes transactions and labels beside them, and prints a per-scenario summary', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fs-gen-'));
    const out = join(dir, 'tx.csv');
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((x: unknown) => void lines.push(String(x)));
    try {
      await cmd('generate').run(['--events', '2000', '--out', out, '--cards', '100', '--merchants', '60', '--fraud-rate', '0.05', '--seed', '3', '--quiet']);
    } finally {
      log.mockRestore();
    }
    const printed = lines.join('\n');
    expect(printed).toMatch(/card_testing/);
    expect(printed).toMatch(/novel_night_atm_cashout \(novel\)/);
    expect(printed).toMatch(/2,000/);
    const csv = (await readFile(out, 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('txId,cardId,merchantId,merchantName,mcc,amountMinor,currency,ts,channel,country,lat,lon,deviceId');
    expect(csv).toHaveLength(2001);
    const labels = (await readFile(join(dir, 'tx.labels.jsonl'), 'utf8')).trim().split('\n');
    expect(labels).toHaveLength(2000);
  });
});
