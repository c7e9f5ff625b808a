import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

/**
 * Fields that hold secrets wherever they appear in a log line (top level or one object down): printed as
 * "[redacted]". URLs with credentials are redacted where they are logged (redactUrl in core/config.ts).
 */
export const REDACT_PATHS = ['password', 'keyPassword', 'passphrase', 'sessionSecret', 'reviewerSeed', 'SESSION_SECRET', 'REVIEWER_SEED', 'KAFKA_SASL_PASSWORD', 'KAFKA_SSL_KEY_PASSWORD', 'cookie', 'authorization']
  .flatMap((k) => [k, `*.${k}`])
  .concat([
    'req.headers.cookie',
    'req.headers.authorization',
    'config.ui.sessionSecret',
    'config.ui.reviewerSeed',
    'config.kafka.security.sasl.password',
    'config.kafka.security.tls.keyPassword',
    'sasl.password',
    'ssl.passphrase',
  ]);

/** One structured logger per process; one line per event worth seeing, never per transaction at info. */
export function logger(name?: string): Logger {
  // Logs go to stderr: stdout is for what a command prints (tables, addresses), so it can be piped.
  root ??= pino(
    {
      level: process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    pino.destination(2),
  );
  return name ? root.child({ component: name }) : root;
}
