/**
 * A user's own history, offline: a CSV read with the same `--map` as `replay --map`, into transactions in time
 * order and their labels (arriving `labelDelayMs` after the transaction, or at a mapped labeledAt column). The
 * trainer and `score` replay these through the memory store exactly as detect would meet them after a replay, so
 * the features are the streaming ones, not the file's raw columns.
 */
import type { Label, Transaction } from '../core/contracts.ts';
import { csvDecoder, type CsvMappingOptions, type RowDecoder } from '../core/codec.ts';
import { parseCsvLine } from '../core/csv.ts';
import { UserInputError } from '../core/errors.ts';
import { readLines, requireFile } from '../core/files.ts';
import { readFile } from 'node:fs/promises';
import { DEFAULT_FEATURE_SPEC, parseFeatureSpec, type FeatureSpec } from './pure/feature-spec.ts';

export interface MappedFile {
  /** Time-ordered (stable for equal times). */
  txs: Transaction[];
  /** Labels by txId (from a mapped label column). */
  labels: Map<string, Label>;
  rows: number;
  rejected: number;
  /** The commonest reasons rows were rejected, with counts. */
  reasons: Array<{ reason: string; count: number }>;
  hasLabels: boolean;
}

export const DAY_MS = 86_400_000;

/** Reads and decodes a mapped CSV. Bad rows are counted with their reasons (the first 5 kinds are reported). */
export async function readMappedCsv(file: string, csv: CsvMappingOptions, onProgress?: (rows: number) => void): Promise<MappedFile> {
  await requireFile(file, '--data');
  let decoder: RowDecoder | undefined;
  const txs: Transaction[] = [];
  const labels = new Map<string, Label>();
  const reasons = new Map<string, number>();
  let rejected = 0;
  let hasLabels = false;
  const idPrefix = (file.split('/').pop() ?? 'row').replace(/\.[^.]*$/, '');
  for await (const chunk of readLines(file)) {
    for (let i = 0; i < chunk.lines.length; i++) {
      const line = chunk.lines[i] as string;
      const row = chunk.firstLine + i;
      if (decoder === undefined) {
        let header: string[];
        try {
          header = parseCsvLine(line);
        } catch (err) {
          throw new UserInputError(`${file} line 1: the CSV header cannot be read: ${(err as Error).message}`);
        }
        decoder = csvDecoder(header, { ...csv, idPrefix: csv.idPrefix ?? idPrefix });
        hasLabels = /(^|,)\s*label\s*=/.test(csv.map ?? '');
        continue;
      }
      if (line.trim() === '') continue;
      const d = decoder.decode(line, row);
      if (!d.ok) {
        rejected++;
        const key = d.reason.replace(/"[^"]*"/g, '"…"').slice(0, 120);
        reasons.set(key, (reasons.get(key) ?? 0) + 1);
        continue;
      }
      txs.push(d.tx);
      if (d.label) labels.set(d.tx.txId, d.label);
    }
    onProgress?.(txs.length + rejected);
  }
  if (decoder === undefined) throw new UserInputError(`${file} is empty: expected a CSV header line`);
  // Files are often sorted by id or by customer: time order is what a stream (and point-in-time features) means.
  const order = txs.map((_, i) => i).sort((a, b) => txs[a].ts - txs[b].ts || a - b);
  return {
    txs: order.map((i) => txs[i]),
    labels,
    rows: txs.length,
    rejected,
    reasons: [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([reason, count]) => ({ reason, count })),
    hasLabels,
  };
}

/** `--features FILE.json` or the default spec; `labelDelayDays` (when given) replaces the spec's. */
export async function loadFeatureSpec(file: string | undefined, labelDelayDays?: number): Promise<FeatureSpec> {
  let spec = DEFAULT_FEATURE_SPEC;
  if (file !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new UserInputError(`--features ${file}: cannot read it as JSON (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      spec = parseFeatureSpec(raw);
    } catch (err) {
      throw new UserInputError(`--features ${file}: ${(err as Error).message}`);
    }
  }
  return labelDelayDays === undefined ? spec : { ...spec, labelDelayDays: Math.ceil(labelDelayDays) };
}

export interface DateWindows {
  /** Rows before this only build entity state. */
  trainFrom: number;
  /** Validation: the end of the training window. */
  valFrom: number;
  trainUntil: number;
  testFrom: number;
  testUntil: number;
}

/**
 * The delayed-feedback evaluation windows: train [trainFrom, trainUntil) with its last `valShare` as validation,
 * nothing learned from [trainUntil, testFrom) (the label-delay gap), test [testFrom, testUntil).
 */
export function dateWindows(o: { trainFrom?: number; trainUntil: number; testFrom: number; testUntil?: number; valShare?: number; first: number; last: number }): DateWindows {
  const trainFrom = o.trainFrom ?? o.first;
  const testUntil = o.testUntil ?? o.last + 1;
  const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
  if (!(trainFrom < o.trainUntil)) throw new UserInputError(`--train-from ${iso(trainFrom)} must be before --train-until ${iso(o.trainUntil)}`);
  if (o.testFrom < o.trainUntil) throw new UserInputError(`--test-from ${iso(o.testFrom)} is before --train-until ${iso(o.trainUntil)}: the test window must follow training (leave the label delay as a gap between them)`);
  if (!(o.testFrom < testUntil)) throw new UserInputError(`--test-until ${iso(testUntil)} must be after --test-from ${iso(o.testFrom)}`);
  const valShare = o.valShare ?? 0.25;
  const valFrom = Math.round(o.trainUntil - (o.trainUntil - trainFrom) * valShare);
  return { trainFrom, valFrom, trainUntil: o.trainUntil, testFrom: o.testFrom, testUntil };
}

/** Whether a transaction at `ts` is a training/validation/test row under `w` (else it only builds state). */
export const inWindows = (w: DateWindows, ts: number): boolean => (ts >= w.trainFrom && ts < w.trainUntil) || (ts >= w.testFrom && ts < w.testUntil);
