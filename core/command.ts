import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserInputError } from './errors.ts';

export interface Command {
  /** Words that select it, e.g. "generate" or "kafka start". */
  name: string;
  summary: string;
  /** Flags help, shown by `fraudstream help NAME` (a bad flag's message points there). */
  usage: string;
  /** Returns the process exit code (0 when omitted). Long-running commands resolve on shutdown. */
  run(argv: string[]): Promise<number | void>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict flag parsing: an unknown flag or a missing value becomes a one-line UserInputError that says what to fix.
 */
export function parseFlags<O extends Options>(command: Pick<Command, 'name' | 'usage'>, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UserInputError(`${command.name}: ${(err as Error).message} (flags: fraudstream help ${command.name})`, { cause: err });
  }
}

/** Parses a numeric flag, naming it when it is not a number in range. */
export function numberFlag(
  name: string,
  raw: string | undefined,
  fallback: number,
  { min = -Infinity, max = Infinity, integer = false } = {},
): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    const range = `${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`;
    throw new UserInputError(`--${name} must be ${range}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * Resolves on the first SIGINT/SIGTERM, so a long-running command can finish its batch and clean up.
 * Under `npm run`, Ctrl-C reaches the process twice (from the terminal and relayed by npm/tsx): repeats within
 * two seconds are ignored; a later one forces the exit for someone who does not want to wait.
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first = 0;
    const handler = (sig: NodeJS.Signals) => {
      if (first === 0) {
        first = Date.now();
        resolve(sig);
      } else if (Date.now() - first > 2_000) {
        console.error(`${sig} again: exiting without finishing the shutdown`);
        process.exit(130);
      }
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

/**
 * A date or time flag: YYYY-MM-DD (UTC midnight), an ISO 8601 time, or epoch milliseconds. undefined when the flag
 * is absent; a clear error naming the flag otherwise.
 */
export function timeFlag(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const s = raw.trim();
  // Only these forms: Date.parse alone reads "-5" as a day in 2001.
  const t = /^\d+$/.test(s) ? Number(s) : /^\d{4}-\d{2}-\d{2}$/.test(s) ? Date.parse(`${s}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(s) ? Date.parse(s) : NaN;
  if (s === '' || !Number.isFinite(t) || t < 0) throw new UserInputError(`--${flag} ${JSON.stringify(raw)}: expected a date (2025-03-01), an ISO 8601 time such as 2025-01-06T00:00:00Z, or epoch milliseconds`);
  return t;
}
