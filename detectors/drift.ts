/**
 * Drift at the edges: the version's reference file, and the live bin counts in Redis
 * (hash `<prefix>drift:<modelVersion>`, fields `<entry>:<bin>` plus `_rows`).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { ErrorCodes, FraudstreamError } from '../core/errors.ts';
import type { ModelBundle } from './types.ts';
import {
  DRIFT_TOTAL_FIELD,
  DriftAccumulator,
  driftField,
  driftReport,
  parseDriftHash,
  parseDriftReference,
  type DriftReference,
  type DriftRow,
  type ObservedScores,
} from './pure/drift.ts';
import { DRIFT_TTL_SECONDS, driftKey } from '../state/drift.ts';

export const DRIFT_REFERENCE_FILE = 'drift-reference.json';

export { driftKey };

/** The version's drift reference; undefined for versions trained before it existed. A broken file is an error. */
export async function loadDriftReference(versionDir: string): Promise<DriftReference | undefined> {
  const p = path.join(versionDir, DRIFT_REFERENCE_FILE);
  let text: string;
  try {
    text = await readFile(p, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return parseDriftReference(JSON.parse(text));
  } catch (err) {
    throw new FraudstreamError(ErrorCodes.BAD_INPUT, `model version ${versionDir}: ${DRIFT_REFERENCE_FILE}: ${(err as Error).message}`, { cause: err });
  }
}

// KEYS[1]: the version's drift hash. ARGV: TTL seconds, then field, increment pairs. One command for a batch's bins
// (a pipeline of one HINCRBY per bin cost the detect process more CPU than the counting itself).
const DRIFT_ADD_LUA = `
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1`;
const DRIFT_ADD = 'fraudstreamDriftAddV1';

/**
 * Adds one batch's counts (DriftAccumulator.drain()) to the version's hash: one script call, one HINCRBY per non-zero
 * bin plus the row counter. The row count is the sum of the first entry's bins (every entry sees every row).
 */
export async function recordDrift(redis: Redis, prefix: string, modelVersion: string, counts: Record<string, ArrayLike<number>>): Promise<number> {
  const names = Object.keys(counts);
  if (names.length === 0) return 0;
  const key = driftKey(prefix, modelVersion);
  const first = counts[names[0] as string] as ArrayLike<number>;
  let rows = 0;
  for (let i = 0; i < first.length; i++) rows += first[i] as number;
  if (rows === 0) return 0;
  const args: Array<string | number> = [DRIFT_TTL_SECONDS];
  for (const name of names) {
    const c = counts[name] as ArrayLike<number>;
    for (let bin = 0; bin < c.length; bin++) if (c[bin]) args.push(driftField(name, bin), c[bin] as number);
  }
  args.push(DRIFT_TOTAL_FIELD, rows);
  if (!(DRIFT_ADD in redis)) redis.defineCommand(DRIFT_ADD, { numberOfKeys: 1, lua: DRIFT_ADD_LUA });
  await (redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[DRIFT_ADD]!(key, ...args);
  return rows;
}

/** Live counts for a version: rows observed and counts per entry and bin (zeros where no field exists). */
export async function readDrift(redis: Redis, prefix: string, modelVersion: string): Promise<{ rows: number; counts: Record<string, number[]> }> {
  return parseDriftHash(await redis.hgetall(driftKey(prefix, modelVersion)));
}

/** Starts a version's live counts over (e.g. after a known, accepted shift). */
export async function resetDrift(redis: Redis, prefix: string, modelVersion: string): Promise<void> {
  await redis.del(driftKey(prefix, modelVersion));
}

export interface DriftSnapshot {
  version: string;
  /** False when the version has no drift-reference.json (trained before drift monitoring). */
  hasReference: boolean;
  bins: number | null;
  /** Rows counted live for this version (all stage members together). */
  liveRows: number;
  rows: DriftRow[];
}

/** PSI per feature and score for one version: its reference file against its live counts in Redis. */
export async function driftSnapshot(redis: Redis, prefix: string, versionDir: string): Promise<DriftSnapshot> {
  const version = path.basename(versionDir);
  const [reference, live] = await Promise.all([loadDriftReference(versionDir), readDrift(redis, prefix, version)]);
  if (!reference) return { version, hasReference: false, bins: null, liveRows: live.rows, rows: [] };
  return { version, hasReference: true, bins: reference.bins, liveRows: live.rows, rows: driftReport(reference, live.counts) };
}

/** One batch's counts for one model version, to record once the batch is committed. */
export interface PendingDrift {
  modelVersion: string;
  counts: Record<string, number[]>;
}

/**
 * For the detect stage: `count()` while handling a batch (synchronous, in memory), `record()` after its commit,
 * so a batch that fails and is redelivered is not counted twice. One accumulator per loaded reference, so a model
 * swap starts counting under the new version at once.
 */
export class DriftRecorder {
  private readonly accumulators = new WeakMap<DriftReference, DriftAccumulator>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Undefined when there is no model or the version has no reference (nothing to compare with). */
  count(model: ModelBundle | undefined, vectors: ReadonlyArray<Float64Array | undefined>, scores: ReadonlyArray<ObservedScores | undefined> | undefined): PendingDrift | undefined {
    const reference = (model as { driftReference?: DriftReference } | undefined)?.driftReference;
    if (!model || !reference) return undefined;
    let acc = this.accumulators.get(reference);
    if (!acc) {
      acc = new DriftAccumulator(reference, model.featureNames);
      this.accumulators.set(reference, acc);
    }
    acc.observe(vectors, scores ?? []);
    const counts = acc.drain();
    return Object.keys(counts).length ? { modelVersion: model.version, counts } : undefined;
  }

  /** Adds the batch's counts to Redis (one pipeline); resolves to the rows recorded. */
  async record(pending: PendingDrift | undefined): Promise<number> {
    return pending ? recordDrift(this.redis, this.prefix, pending.modelVersion, pending.counts) : 0;
  }
}
