/** What one scenario reports, the table printed at the end, and the exit code. */

/** Decisions must resume within this long after a fault ends, on their own. */
export const RECOVERY_LIMIT_SECONDS = 60;

export interface ScenarioResult {
  name: string;
  in: number;
  decided: number;
  lost: number;
  decidedTwice: number;
  deadLettered: number;
  /** From the end of the fault to the first fresh decision a read_committed reader saw; null when none came. */
  recoverySeconds: number | null;
  /** Every invariant held and the fault did what it was meant to (e.g. the kill landed on an uncommitted batch). */
  ok: boolean;
  /** Messages on the input topic, copies included. */
  messages: number;
  /** Distinct messages the broker acknowledged to the suite's producer (reconciled against what the reader read back). */
  acknowledged?: number;
  /** Of those, never read back from the input topic: counted in `in` and `lost`. */
  unread?: number;
  seconds: number;
  violations: string[];
  notes: string[];
  /** Scenario-specific evidence (e.g. the offsets a kill -9 provably left uncommitted). */
  proof?: Record<string, unknown>;
}

export interface ChaosReport {
  at: string;
  broker: string;
  redis: string;
  rate: number;
  partitions: number;
  model: string;
  /** The small model trained for the scenarios that run with one (when `model` is none). */
  trainedModel?: { version: string; seconds: number; train: string };
  scenarios: ScenarioResult[];
}

/** Non-zero when any scenario lost or double-decided something, or broke another invariant. */
export function exitCode(results: readonly ScenarioResult[]): number {
  return results.some((r) => r.lost > 0 || r.decidedTwice > 0 || !r.ok) ? 1 : 0;
}

export function table(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'in', 'decided', 'lost', 'decidedTwice', 'deadLettered', 'recovery s', 'ok'];
  const rows = results.map((r) => [
    r.name,
    String(r.in),
    String(r.decided),
    String(r.lost),
    String(r.decidedTwice),
    String(r.deadLettered),
    r.recoverySeconds === null ? '-' : r.recoverySeconds.toFixed(1),
    r.ok ? 'yes' : 'NO',
  ]);
  const cells = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const lines = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)];
  const failed = results.filter((r) => !r.ok || r.violations.length > 0);
  if (failed.length) {
    lines.push('');
    for (const r of failed) {
      lines.push(`${r.name}:`);
      for (const v of r.violations) lines.push(`  - ${v}`);
    }
  }
  return lines.join('\n');
}
