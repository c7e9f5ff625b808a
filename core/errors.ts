export const ErrorCodes = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  BAD_INPUT: 'BAD_INPUT',
  MISSING_PREREQUISITE: 'MISSING_PREREQUISITE',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  MODEL_NOT_FOUND: 'MODEL_NOT_FOUND',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class FraudstreamError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = 'FraudstreamError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Bad user input (CLI flag, file row, HTTP body): the message says what to fix. */
export class UserInputError extends FraudstreamError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCodes.BAD_INPUT, message, options);
    this.name = 'UserInputError';
  }
}

export function toFraudstreamError(err: unknown): FraudstreamError {
  if (err instanceof FraudstreamError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const transient = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|LOADING|not available/i.test(message);
  return new FraudstreamError(transient ? ErrorCodes.SERVICE_UNAVAILABLE : ErrorCodes.INTERNAL, message, {
    cause: err,
    retryable: transient,
  });
}
