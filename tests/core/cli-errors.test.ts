import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { classifyError, ErrorCodes, FraudstreamError, UserInputError } from '../../core/errors.ts';

const run = promisify(execFile);

/** The real CLI in a child process, as a person runs it; no service is needed for these failures. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...env };
  delete childEnv.VITEST;
  return run(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { env: childEnv }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('the CLI on a mistake', () => {
  it('a bad flag: one line naming the flag and the code, no stack, exit code 2', async () => {
    const r = await cli(['generate', '--bogus']);
    expect(r.code).toBe(2);
    expect(lines(r.err)).toHaveLength(1);
    expect(r.err).toMatch(/^fraudstream: generate: .*--bogus.* \(BAD_INPUT\)\n$/);
    expect(r.err).not.toMatch(/^\s+at /m);
  }, 60_000);

  it('a missing file: one line, exit code 2', async () => {
    const r = await cli(['replay', '--file', '/nonexistent/tx.jsonl']);
    expect(r.code).toBe(2);
    expect(lines(r.err)).toEqual([expect.stringMatching(/^fraudstream: --file \/nonexistent\/tx\.jsonl: no such file .*\(BAD_INPUT\)$/)]);
  }, 60_000);

  it('Redis not answering at start: one line with the retryable code, exit code 75', async () => {
    const r = await cli(['drift'], { REDIS_URL: 'redis://127.0.0.1:1', MODEL_DIR: '/nonexistent/models' });
    expect(r.code).toBe(75);
    expect(lines(r.err)).toEqual([expect.stringMatching(/^fraudstream: cannot reach Redis at REDIS_URL redis:\/\/127\.0\.0\.1:1 .*\(SERVICE_UNAVAILABLE\)$/)]);
  }, 60_000);

  it('LOG_LEVEL=debug adds the stack trace', async () => {
    const r = await cli(['generate', '--bogus'], { LOG_LEVEL: 'debug' });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^fraudstream: generate: .*\(BAD_INPUT\)$/m);
    expect(r.err).toMatch(/at .*command\.ts/);
  }, 60_000);
});

describe('classifyError', () => {
  it('keeps our errors, calls a refused connection retryable and anything else a bug', () => {
    const ours = new UserInputError('--x must be a number');
    expect(classifyError(ours)).toBe(ours);
    expect(ours.retryable).toBe(false);

    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    const down = classifyError(refused);
    expect(down.code).toBe(ErrorCodes.SERVICE_UNAVAILABLE);
    expect(down.retryable).toBe(true);
    expect(down.cause).toBe(refused);

    const bug = classifyError(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(bug).toBeInstanceOf(FraudstreamError);
    expect(bug.code).toBe(ErrorCodes.INTERNAL);
    expect(bug.retryable).toBe(false);
    expect(classifyError('a string').message).toBe('a string');
  });
});

describe('the CLI against a Kafka that does not answer', () => {
  it('replay to an unreachable broker: exit 75 with the documented one-line message once KAFKA_WAIT_SECONDS has passed', async () => {
    // Port 1 on loopback refuses every connection. Without the start-up wait, kafkajs retried for about 3 minutes
    // (printing each retry); with KAFKA_WAIT_SECONDS=2 the command ends long before the test's timeout.
    const file = join(mkdtempSync(join(tmpdir(), 'fs-unreachable-')), 'tx.jsonl');
    const r = await cli(['generate', '--events', '5', '--seed', '1', '--out', file]);
    expect(r.code).toBe(0);
    const t = await cli(['replay', '--file', file], { KAFKA_BROKERS: '127.0.0.1:1', KAFKA_WAIT_SECONDS: '2' });
    expect(t.code).toBe(75);
    expect(lines(t.err)).toEqual([
      expect.stringMatching(/^fraudstream: no Kafka broker answered at KAFKA_BROKERS=127\.0\.0\.1:1 within 2 s \(KAFKA_WAIT_SECONDS\); start one \(fraudstream kafka start\) or point KAFKA_BROKERS at yours\. Last error: .*ECONNREFUSED.* \(SERVICE_UNAVAILABLE\)$/),
    ]);
  }, 60_000);
});
