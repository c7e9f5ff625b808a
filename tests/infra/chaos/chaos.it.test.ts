/**
 * The short subset of `npm run chaos` (broker restart after 5 s, poison pill, conflicting duplicate), on the same
 * code: real stage processes, the suite's own broker and redis-server on free ports (it kills them, so never the
 * shared ones), invariants read back with read_committed.
 */
import { describe, expect, it } from 'vitest';
import { freePort, freePorts } from '../../../infra/ports.ts';
import { runChaos } from '../../../infra/chaos/runner.ts';
import { TEST_SUBSET } from '../../../infra/chaos/scenarios.ts';

/** The broker listens on port (clients) and port + 1 (controller). */
const brokerPort = () => freePorts(2);

describe('chaos subset', () => {
  it('broker restart, poison pill, conflicting duplicate: ok, no violation, nothing lost or decided twice', { timeout: 1_200_000 }, async () => {
    const report = await runChaos({
      only: [...TEST_SUBSET],
      rate: 50,
      kafkaPort: await brokerPort(),
      redisPort: await freePort(),
      instance: `chaos-it-${process.pid}`,
      partitions: 3,
      model: 'none',
      logDir: 'test-artifacts/chaos-logs',
      quick: true,
      log: (l) => process.env.CHAOS_LOG && console.error(l),
    });
    // The scenarios really ran: traffic went in (each acknowledged message read back), was decided, and decisions came
    // again after the fault; every invariant held (ok, no violation), not only lost and decided twice.
    const summary = report.scenarios.map((s) => ({
      name: s.name,
      ran: s.in > 100 && s.decided > 0 && (s.acknowledged ?? 0) > 100,
      lost: s.lost,
      decidedTwice: s.decidedTwice,
      unread: s.unread,
      resumed: s.recoverySeconds !== null,
      violations: s.violations,
      ok: s.ok,
    }));
    expect(summary).toEqual(TEST_SUBSET.map((name) => ({ name, ran: true, lost: 0, decidedTwice: 0, unread: 0, resumed: true, violations: [], ok: true })));
  });
});

describe('chaos console-down', () => {
  it('no console while a runaway version is served: the ops service rolls it back once', { timeout: 900_000 }, async () => {
    const report = await runChaos({
      only: ['console-down'],
      rate: 50,
      kafkaPort: await brokerPort(),
      redisPort: await freePort(),
      instance: `chaos-it-cd-${process.pid}`,
      partitions: 3,
      model: 'none',
      logDir: 'test-artifacts/chaos-logs',
      quick: true,
      consoleDownSeconds: 20,
      log: (l) => process.env.CHAOS_LOG && console.error(l),
    });
    const s = report.scenarios[0]!;
    expect(s.violations).toEqual([]);
    expect(s).toMatchObject({ name: 'console-down', ok: true, lost: 0, decidedTwice: 0, unread: 0 });
    expect(s.in).toBeGreaterThan(100);
    expect(s.proof).toMatchObject({ consoleHeartbeatsSeen: 0, opsMembers: 2, restoredFrom: (s.proof?.runawayVersion as number) - 1 });
    expect(s.proof?.rolledBackAfterSeconds).not.toBeNull();
  });
});
