import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

/** One structured logger per process; one line per event worth seeing, never per transaction at info. */
export function logger(name?: string): Logger {
  // Logs go to stderr: stdout is for what a command prints (tables, addresses), so it can be piped.
  root ??= pino(
    {
      level: process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination(2),
  );
  return name ? root.child({ component: name }) : root;
}
