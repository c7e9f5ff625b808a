/**
 * Fault injection for the chaos suite, off unless FRAUDSTREAM_FAULTS is set. Read once per process.
 *
 *   FRAUDSTREAM_FAULTS="holdBeforeCommitMs=3000,throwOnKey=poison-"
 *
 * - holdBeforeCommitMs: the stage runner waits this long after a batch's outputs are sent and before its
 *   Kafka transaction commits (logging "fault: holding transaction before commit" with the partition and
 *   offsets), so a kill -9 lands on a batch that is provably uncommitted.
 * - throwOnKey: stage logic throws for every input whose dedupe key (tx id) contains this text, as a bug in
 *   a stage would; the runner must dead-letter that message and decide the rest of its batch.
 */
import { z } from 'zod';
import { FraudstreamError, ErrorCodes } from './errors.ts';

const FaultsSchema = z
  .object({
    holdBeforeCommitMs: z.coerce.number().int().min(0).max(600_000).optional(),
    throwOnKey: z.string().min(1).optional(),
  })
  .strict();

export type Faults = z.infer<typeof FaultsSchema>;

export function parseFaults(spec: string | undefined): Faults {
  if (!spec) return {};
  const entries = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new FraudstreamError(ErrorCodes.CONFIG_INVALID, `FRAUDSTREAM_FAULTS: "${pair}" is not name=value`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    });
  const r = FaultsSchema.safeParse(Object.fromEntries(entries));
  if (!r.success) {
    const what = r.error.issues.map((i) => `${i.path.join('.') || i.code}: ${i.message}`).join('; ');
    throw new FraudstreamError(ErrorCodes.CONFIG_INVALID, `FRAUDSTREAM_FAULTS: ${what} (known: holdBeforeCommitMs=MS, throwOnKey=TEXT)`);
  }
  return r.data;
}

let cached: Faults | undefined;

export function faults(): Faults {
  cached ??= parseFaults(process.env.FRAUDSTREAM_FAULTS);
  return cached;
}

/** The error stage logic throws under throwOnKey: recognisable in dead letters and logs. */
export class InjectedFault extends Error {
  constructor(key: string) {
    super(`injected fault: stage logic throws for key ${key}`);
    this.name = 'InjectedFault';
  }
}
