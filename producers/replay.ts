import type { Label, Transaction } from '../core/contracts.ts';
import { UserInputError } from '../core/errors.ts';
import { csvDecoder, decodeLabelLine, formatFromPath, jsonlDecoder, labelsPathFor, type CsvMappingOptions, type FileFormat, type RowDecoder } from '../core/codec.ts';
import { parseCsvLine } from '../core/csv.ts';
import { exists, LineWriter, readLines, requireFile } from '../core/files.ts';
import type { OutMessage, Sink } from './kafka-sink.ts';
import { realClock, SpeedPacer, TokenBucket, type Clock } from './pacing.ts';
import { Progress } from './report.ts';
import { TimeHeap } from './world/heap.ts';

export type Pace = { kind: 'max' } | { kind: 'rate'; eps: number } | { kind: 'speed'; factor: number };

export interface ReplayOptions {
  file: string;
  format?: FileFormat;
  pace: Pace;
  /** How many times to play the file (Infinity with --loop). Pass k > 0 suffixes txIds with ~k and shifts times. */
  loops?: number;
  csv?: CsvMappingOptions;
  /** Labels to schedule: undefined = the labels file beside `file` when it exists; null = none. */
  labelsFile?: string | null;
  /** Where bad rows go (line, reason, raw text); default NAME.rejects.jsonl beside the input. */
  rejectsFile?: string;
  /** Most messages in one request. */
  batchSize?: number;
  /** Most bytes in one request (keeps each partition's batch under the broker's message limit). */
  maxBatchBytes?: number;
  signal?: AbortSignal;
  progress?: boolean;
  clock?: Clock;
}

export interface ReplaySummary {
  /** Valid rows in the file (one pass). */
  rows: number;
  /** Transactions sent, all passes. */
  sent: number;
  rejected: number;
  rejectReasons: Array<{ reason: string; count: number }>;
  rejectsFile: string | null;
  labelsSent: number;
  /** Labels not yet due when the replay was stopped (never sent, as their chargebacks had not happened yet). */
  labelsPending: number;
  labelsRejected: number;
  passes: number;
  seconds: number;
  eventsPerSec: number;
  stopped: boolean;
}

interface QueuedLabel {
  t: number;
  seq: number;
  label: Label;
}

export function rejectsPathFor(file: string): string {
  return file.replace(/\.(jsonl|json|csv|ndjson)$/i, '') + '.rejects.jsonl';
}

/** Checks what can be checked before connecting to Kafka: the files exist and a CSV header maps. */
export async function checkReplayInput(opts: Pick<ReplayOptions, 'file' | 'format' | 'csv' | 'labelsFile'>): Promise<void> {
  await requireFile(opts.file, '--file');
  if (opts.labelsFile) await requireFile(opts.labelsFile, '--labels');
  if ((opts.format ?? formatFromPath(opts.file)) !== 'csv') return;
  for await (const chunk of readLines(opts.file)) {
    const first = chunk.lines[0];
    if (first === undefined) break;
    let header: string[];
    try {
      header = parseCsvLine(first);
    } catch (err) {
      throw new UserInputError(`${opts.file} line 1: the CSV header cannot be read: ${(err as Error).message}`);
    }
    csvDecoder(header, opts.csv);
    return;
  }
  throw new UserInputError(`${opts.file} is empty: expected a CSV header line`);
}

const toMessage = (key: string, json: string): OutMessage => ({ key: Buffer.from(key), value: Buffer.from(json) });

/**
 * Sends a transactions file to the sink at the requested pace, with its labels interleaved when they fall due
 * (a label is due once the replayed stream's time passes its labeledAt, so chargeback delays scale with the pace).
 */
export async function replayFile(opts: ReplayOptions, sink: Sink): Promise<ReplaySummary> {
  await requireFile(opts.file, '--file');
  const clock = opts.clock ?? realClock;
  const format = opts.format ?? formatFromPath(opts.file);
  const loops = opts.loops ?? 1;
  const batchSize = opts.batchSize ?? 4000;
  const maxBytes = opts.maxBatchBytes ?? 4_000_000;
  const signal = opts.signal;
  const rejectsPath = opts.rejectsFile ?? rejectsPathFor(opts.file);
  let rejects: LineWriter | undefined;
  const reasons = new Map<string, number>();
  let rejected = 0;
  let labelsRejected = 0;
  const reject = async (row: number, reason: string, raw: string, source = 'transactions') => {
    rejected += source === 'transactions' ? 1 : 0;
    // Group by cause, not by value: keep what precedes the first ": " (it names the column) and mask quoted values after it.
    const cut = reason.indexOf(': ');
    const key = (cut < 0 ? reason : reason.slice(0, cut + 2) + reason.slice(cut + 2).replace(/"[^"]*"/g, '"…"')).slice(0, 120);
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
    rejects ??= new LineWriter(rejectsPath);
    await rejects.write(JSON.stringify({ source, line: row, reason, raw: raw.slice(0, 4000) }));
  };

  // Labels from the file beside (or named), ordered by arrival time.
  const fileLabels: Label[] = [];
  const labelsPath = opts.labelsFile === undefined ? ((await exists(labelsPathFor(opts.file))) ? labelsPathFor(opts.file) : null) : opts.labelsFile;
  if (labelsPath !== null) {
    await requireFile(labelsPath, '--labels');
    for await (const chunk of readLines(labelsPath)) {
      for (let i = 0; i < chunk.lines.length; i++) {
        const line = chunk.lines[i] as string;
        if (line.trim() === '') continue;
        const d = decodeLabelLine(line);
        if (d.ok) fileLabels.push(d.label);
        else {
          labelsRejected++;
          await reject(chunk.firstLine + i, `labels file: ${d.reason}`, line, 'labels');
        }
      }
    }
  }
  const labelQueue = new TimeHeap<QueuedLabel>();
  let labelSeq = 0;
  const queueLabel = (label: Label) => labelQueue.push({ t: label.labeledAt, seq: labelSeq++, label });

  const bucket = opts.pace.kind === 'rate' ? new TokenBucket(opts.pace.eps, Math.max(1, opts.pace.eps / 20), clock) : undefined;
  const pacer = opts.pace.kind === 'speed' ? new SpeedPacer(opts.pace.factor, clock) : undefined;
  // At a set rate, send ~50 small batches a second so the stream is smooth rather than bursty.
  const limit = opts.pace.kind === 'rate' ? Math.max(1, Math.min(batchSize, Math.round(opts.pace.eps / 50))) : batchSize;
  const progress = new Progress('replay', undefined, opts.progress ?? true);

  let batch: OutMessage[] = [];
  let batchBytes = 0;
  let cursorTs = -Infinity;
  let inflight: Promise<void> | undefined;
  let sent = 0;
  let labelsSent = 0;
  let started: number | undefined;
  let lastTxAt = 0;

  const flush = async () => {
    const labels: OutMessage[] = [];
    for (let q = labelQueue.peek(); q !== undefined && q.t <= cursorTs && labels.length < batchSize; q = labelQueue.peek()) {
      labelQueue.pop();
      labels.push(toMessage(q.label.cardId ?? q.label.txId, JSON.stringify(q.label)));
    }
    if (batch.length === 0 && labels.length === 0) return;
    const txs = batch;
    batch = [];
    batchBytes = 0;
    if (bucket && txs.length > 0) await bucket.take(txs.length);
    if (inflight) await inflight;
    started ??= clock.now();
    // Overlap: the next batch is decoded while this one is on the wire.
    inflight = sink.send(txs, labels);
    sent += txs.length;
    if (txs.length > 0) lastTxAt = clock.now();
    labelsSent += labels.length;
    progress.update(sent, `labels ${labelsSent}${rejected ? `  rejected ${rejected}` : ''}`);
  };

  const sleepUntilDue = async (delay: number) => {
    while (delay > 1 && !signal?.aborted) {
      await clock.sleep(Math.min(delay, 250));
      delay = pacer?.delayFor(cursorTs) ?? 0;
    }
  };

  let rows = 0;
  let firstTs = Infinity;
  let lastTs = -Infinity;
  let period = 0;
  let pass = 0;
  let decoder: RowDecoder | undefined = format === 'jsonl' ? jsonlDecoder() : undefined;
  const idPrefix = (opts.file.split('/').pop() ?? 'row').replace(/\.[^.]*$/, '');

  try {
    for (; pass < loops && !signal?.aborted; pass++) {
      if (pass === 1 && rows === 0) break;
      if (pass === 1) period = lastTs - firstTs + Math.max(1000, Math.round((lastTs - firstTs) / Math.max(1, rows)));
      for (const l of fileLabels) queueLabel(pass === 0 ? l : { ...l, txId: `${l.txId}~${pass}`, labeledAt: l.labeledAt + pass * period });
      const shift = pass * period;
      outer: for await (const chunk of readLines(opts.file)) {
        for (let i = 0; i < chunk.lines.length; i++) {
          const line = chunk.lines[i] as string;
          const row = chunk.firstLine + i;
          if (decoder === undefined) {
            let header: string[];
            try {
              header = parseCsvLine(line);
            } catch (err) {
              throw new UserInputError(`${opts.file} line 1: the CSV header cannot be read: ${(err as Error).message}`);
            }
            decoder = csvDecoder(header, { ...opts.csv, idPrefix: opts.csv?.idPrefix ?? idPrefix });
            continue;
          }
          if (format === 'csv' && row === 1) continue;
          if (line.trim() === '') continue;
          const d = decoder.decode(line, row);
          if (!d.ok) {
            if (pass === 0) await reject(row, d.reason, line);
            continue;
          }
          let tx: Transaction = d.tx;
          let json = d.json;
          if (pass === 0) {
            rows++;
            if (tx.ts < firstTs) firstTs = tx.ts;
            if (tx.ts > lastTs) lastTs = tx.ts;
          } else {
            tx = { ...tx, txId: `${tx.txId}~${pass}`, ts: tx.ts + shift };
            json = JSON.stringify(tx);
          }
          if (d.label) queueLabel(pass === 0 ? d.label : { ...d.label, txId: tx.txId, labeledAt: d.label.labeledAt + shift });
          if (pacer) {
            const delay = pacer.delayFor(tx.ts);
            if (delay > 1) {
              await flush();
              cursorTs = tx.ts;
              await sleepUntilDue(delay);
              if (signal?.aborted) break outer;
            }
          }
          const msg = toMessage(tx.cardId, json);
          batch.push(msg);
          batchBytes += msg.value.length + msg.key.length + 64;
          if (tx.ts > cursorTs) cursorTs = tx.ts;
          if (batch.length >= limit || batchBytes >= maxBytes) {
            await flush();
            if (signal?.aborted) break outer;
          }
        }
      }
      if (decoder === undefined) throw new UserInputError(`${opts.file} is empty: expected a CSV header line`);
      await flush();
    }
    const stopped = signal?.aborted === true;
    if (!stopped) {
      // End of the file: every remaining chargeback eventually arrives.
      cursorTs = Infinity;
      while (labelQueue.size > 0) await flush();
    }
    if (inflight) await inflight;
    await rejects?.commit();
    const seconds = started === undefined ? 0 : (clock.now() - started) / 1000;
    // Throughput counts transactions only: the end-of-file label flush is not part of the replayed stream.
    const txSeconds = started === undefined ? 0 : (Math.max(lastTxAt, started) - started) / 1000;
    progress.done(sent, `labels ${labelsSent}${rejected ? `  rejected ${rejected}` : ''}`);
    return {
      rows,
      sent,
      rejected,
      rejectReasons: [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([reason, count]) => ({ reason, count })),
      rejectsFile: rejects ? rejectsPath : null,
      labelsSent,
      labelsPending: labelQueue.size,
      labelsRejected,
      passes: Math.min(pass, loops),
      seconds,
      eventsPerSec: txSeconds > 0 ? sent / txSeconds : 0,
      stopped,
    };
  } catch (err) {
    if (inflight) await inflight.catch(() => undefined);
    await rejects?.commit().catch(() => undefined);
    throw err;
  }
}
