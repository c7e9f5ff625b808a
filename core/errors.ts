/**
 * Errors with a code callers act on. A person sees `fraudstream: <message> (<code>)` (cli/main.ts); a caller retries
 * a retryable code (a service that may come back) and reports the others.
 */
export const ErrorCodes = {
  /** An environment variable is invalid (the message names it). */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A CLI flag, file row or HTTP body is wrong (the message says what to fix). */
  BAD_INPUT: 'BAD_INPUT',
  /** Something the command needs is missing: a topic, a tool, a build. */
  MISSING_PREREQUISITE: 'MISSING_PREREQUISITE',
  /** Kafka or Redis does not answer; retrying once it is up can succeed. */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** Kafka or Redis answered but refused us (credentials, an untrusted certificate): fix the configuration. */
  SERVICE_REFUSED: 'SERVICE_REFUSED',
  /** No such model version, or a version lacks a file. */
  MODEL_NOT_FOUND: 'MODEL_NOT_FOUND',
  /** A write based on a version that is no longer current (someone changed it meanwhile): reload and redo. */
  CONFLICT: 'CONFLICT',
  /** A bug: the stack trace is worth reading. */
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const RETRYABLE: ReadonlySet<ErrorCode> = new Set([ErrorCodes.SERVICE_UNAVAILABLE]);

export class FraudstreamError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'FraudstreamError';
    this.code = code;
  }

  /** Whether the same call may succeed later without anyone changing anything. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** Bad user input (CLI flag, file row, HTTP body): the message says what to fix. */
export class UserInputError extends FraudstreamError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCodes.BAD_INPUT, message, options);
    this.name = 'UserInputError';
  }
}

/** A write refused because what it edits changed meanwhile; `details` says what is current now (HTTP 409). */
export class ConflictError extends FraudstreamError {
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(ErrorCodes.CONFLICT, message);
    this.name = 'ConflictError';
  }
}

/** Kafka or Redis did not answer. */
export class ServiceUnavailableError extends FraudstreamError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCodes.SERVICE_UNAVAILABLE, message, options);
    this.name = 'ServiceUnavailableError';
  }
}

/** A service answered and refused the connection: the same call fails again until someone fixes the settings. */
export class ServiceRefusedError extends FraudstreamError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCodes.SERVICE_REFUSED, message, options);
    this.name = 'ServiceRefusedError';
  }
}

const TRANSIENT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|EPIPE|Connection is closed|KafkaJSConnectionError|KafkaJSNumberOfRetriesExceeded/;

/**
 * Any thrown value as a FraudstreamError: ours unchanged; a refused or dropped connection (from ioredis or kafkajs)
 * as SERVICE_UNAVAILABLE; anything else INTERNAL. The original is kept as the cause.
 */
export function classifyError(err: unknown): FraudstreamError {
  if (err instanceof FraudstreamError) return err;
  const text = err instanceof Error ? `${err.name} ${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}` : String(err);
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && err.name === 'KafkaJSSASLAuthenticationError') return new ServiceRefusedError(`Kafka refused the credentials: ${message}`, { cause: err });
  return new FraudstreamError(TRANSIENT.test(text) ? ErrorCodes.SERVICE_UNAVAILABLE : ErrorCodes.INTERNAL, message, { cause: err });
}
