/**
 * Outcomes (router/runner/outcomes.ts): one string per decided message key, `<prefix>outcome:<stage>:<key>`.
 * TTL: the stage's dedupe window (config, 24 h by default), passed to the store by the runner.
 */
export const outcomeKeyPrefix = (prefix: string, stage: string): string => `${prefix}outcome:${stage}:`;
