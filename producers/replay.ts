import type { Label, Transaction } from '../core/contracts.ts';
import { UserInputError } from '../core/errors.ts';
import { csvDecoder, decodeLabelLine, formatFromPath, jsonlDecoder, labelsPathFor, type CsvMappingOptions, type FileFormat, type RowDecoder } from '../core/codec.ts';
import { parseCsvLine } from '../core/csv.ts';
import { exists, LineWriter, readLines, requireFile } from '../core/files.ts';
import type { OutMessage, Sink } from './kafka-sink.ts';
import { realClock, SpeedPacer, TokenBucket, type Clock } from './pacing.ts';
import { Progress } from './report.ts';
import { TimeHeap } from '../core/heap.ts';

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

/** Bad rows: counted by cause and written with their line and raw text to the rejects file (created on the first). */
class RejectLog {
  readonly reasons = new Map<string, number>();
  rejected = 0;
  labelsRejected = 0;
  writer: LineWriter | undefined;

  constructor(readonly path: string) {}

  async add(row: number, reason: string, raw: string, source: 'transactions' | 'labels' = 'transactions'): Promise<void> {
    if (source === 'transactions') this.rejected++;
    else this.labelsRejected++;
    // Group by cause, not by value: keep what precedes the first ": " (it names the column) and mask quoted values after it.
    const cut = reason.indexOf(': ');
    const key = (cut < 0 ? reason : reason.slice(0, cut + 2) + reason.slice(cut + 2).replace(/"[^"]*"/g, '"…"')).slice(0, 120);
    this.reasons.set(key, (this.reasons.get(key) ?? 0) + 1);
    this.writer ??= new LineWriter(this.path);
    await this.writer.write(JSON.stringify({ source, line: row, reason, raw: raw.slice(0, 4000) }));
  }

  topReasons(): Array<{ reason: string; count: number }> {
    return [...this.reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([reason, count]) => ({ reason, count }));
  }
}

/** Labels from the file beside the input (or the one named); undefined = beside it when it exists, null = none. */
async function readFileLabels(file: string, labelsFile: string | null | undefined, rejects: RejectLog): Promise<Label[]> {
  const labels: Label[] = [];
  const labelsPath = labelsFile === undefined ? ((await exists(labelsPathFor(file))) ? labelsPathFor(file) : null) : labelsFile;
  if (labelsPath === null) return labels;
  await requireFile(labelsPath, '--labels');
  for await (const chunk of readLines(labelsPath)) {
    for (let i = 0; i < chunk.lines.length; i++) {
      const line = chunk.lines[i] as string;
      if (line.trim() === '') continue;
      const d = decodeLabelLine(line);
      if (d.ok) labels.push(d.label);
      else await rejects.add(chunk.firstLine + i, `labels file: ${d.reason}`, line, 'labels');
    }
  }
  return labels;
}

/**
 * Batches transactions to the sink at the requested pace, with the queued labels that fell due (a label is due once
 * the replayed stream's time, `cursorTs`, passes its labeledAt).
 */
class PacedSender {
  private readonly labelQueue = new TimeHeap<QueuedLabel>();
  private labelSeq = 0;
  private readonly bucket: TokenBucket | undefined;
  private readonly pacer: SpeedPacer | undefined;
  /** Transactions per batch: at a set rate ~50 small batches a second, so the stream is smooth rather than bursty. */
  private readonly limit: number;
  private batch: OutMessage[] = [];
  private batchBytes = 0;
  private inflight: Promise<void> | undefined;
  cursorTs = -Infinity;
  sent = 0;
  labelsSent = 0;
  started: number | undefined;
  lastTxAt = 0;

  constructor(
    private readonly sink: Sink,
    pace: Pace,
    private readonly clock: Clock,
    private readonly batchSize: number,
    private readonly maxBytes: number,
    private readonly progress: Progress,
    private readonly rejects: RejectLog,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.bucket = pace.kind === 'rate' ? new TokenBucket(pace.eps, Math.max(1, pace.eps / 20), clock) : undefined;
    this.pacer = pace.kind === 'speed' ? new SpeedPacer(pace.factor, clock) : undefined;
    this.limit = pace.kind === 'rate' ? Math.max(1, Math.min(batchSize, Math.round(pace.eps / 50))) : batchSize;
  }

  get labelsPending(): number {
    return this.labelQueue.size;
  }

  queueLabel(label: Label): void {
    this.labelQueue.push({ t: label.labeledAt, seq: this.labelSeq++, label });
  }

  async flush(): Promise<void> {
    const labels: OutMessage[] = [];
    for (let q = this.labelQueue.peek(); q !== undefined && q.t <= this.cursorTs && labels.length < this.batchSize; q = this.labelQueue.peek()) {
      this.labelQueue.pop();
      labels.push(toMessage(q.label.cardId ?? q.label.txId, JSON.stringify(q.label)));
    }
    if (this.batch.length === 0 && labels.length === 0) return;
    const txs = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    if (this.bucket && txs.length > 0) await this.bucket.take(txs.length);
    if (this.inflight) await this.inflight;
    this.started ??= this.clock.now();
    // Overlap: the next batch is decoded while this one is on the wire.
    this.inflight = this.sink.send(txs, labels);
    this.sent += txs.length;
    if (txs.length > 0) this.lastTxAt = this.clock.now();
    this.labelsSent += labels.length;
    this.progress.update(this.sent, this.progressNote());
  }

  progressNote(): string {
    return `labels ${this.labelsSent}${this.rejects.rejected ? `  rejected ${this.rejects.rejected}` : ''}`;
  }

  /** Queues one transaction, waiting first when --speed says it is not due yet. Returns false once aborted. */
  async push(tx: Transaction, json: string): Promise<boolean> {
    if (this.pacer) {
      const delay = this.pacer.delayFor(tx.ts);
      if (delay > 1) {
        await this.flush();
        this.cursorTs = tx.ts;
        await this.sleepUntilDue(delay);
        if (this.signal?.aborted) return false;
      }
    }
    const msg = toMessage(tx.cardId, json);
    this.batch.push(msg);
    this.batchBytes += msg.value.length + msg.key.length + 64;
    if (tx.ts > this.cursorTs) this.cursorTs = tx.ts;
    if (this.batch.length >= this.limit || this.batchBytes >= this.maxBytes) {
      await this.flush();
      if (this.signal?.aborted) return false;
    }
    return true;
  }

  /** End of the file: every remaining chargeback eventually arrives. */
  async drainLabels(): Promise<void> {
    this.cursorTs = Infinity;
    while (this.labelQueue.size > 0) await this.flush();
  }

  async settle(): Promise<void> {
    if (this.inflight) await this.inflight;
  }

  async settleQuietly(): Promise<void> {
    if (this.inflight) await this.inflight.catch(() => undefined);
  }

  private async sleepUntilDue(delay: number): Promise<void> {
    while (delay > 1 && !this.signal?.aborted) {
      await this.clock.sleep(Math.min(delay, 250));
      delay = this.pacer?.delayFor(this.cursorTs) ?? 0;
    }
  }
}

/** What the first pass learns of the file: valid rows and their time span (later passes shift by it). */
interface FileSpan {
  rows: number;
  firstTs: number;
  lastTs: number;
}

/** One pass over the file. Pass k > 0 suffixes txIds with ~k and shifts times by k x period; only pass 0 rejects. */
async function playPass(
  opts: ReplayOptions,
  format: FileFormat,
  decoderRef: { decoder: RowDecoder | undefined },
  pass: number,
  period: number,
  span: FileSpan,
  sender: PacedSender,
  rejects: RejectLog,
): Promise<void> {
  const idPrefix = (opts.file.split('/').pop() ?? 'row').replace(/\.[^.]*$/, '');
  const shift = pass * period;
  for await (const chunk of readLines(opts.file)) {
    for (let i = 0; i < chunk.lines.length; i++) {
      const line = chunk.lines[i] as string;
      const row = chunk.firstLine + i;
      if (decoderRef.decoder === undefined) {
        let header: string[];
        try {
          header = parseCsvLine(line);
        } catch (err) {
          throw new UserInputError(`${opts.file} line 1: the CSV header cannot be read: ${(err as Error).message}`);
        }
        decoderRef.decoder = csvDecoder(header, { ...opts.csv, idPrefix: opts.csv?.idPrefix ?? idPrefix });
        continue;
      }
      if (format === 'csv' && row === 1) continue;
      if (line.trim() === '') continue;
      const d = decoderRef.decoder.decode(line, row);
      if (!d.ok) {
        if (pass === 0) await rejects.add(row, d.reason, line);
        continue;
      }
      let tx: Transaction = d.tx;
      let json = d.json;
      if (pass === 0) {
        span.rows++;
        if (tx.ts < span.firstTs) span.firstTs = tx.ts;
        if (tx.ts > span.lastTs) span.lastTs = tx.ts;
      } else {
        tx = { ...tx, txId: `${tx.txId}~${pass}`, ts: tx.ts + shift };
        json = JSON.stringify(tx);
      }
      if (d.label) sender.queueLabel(pass === 0 ? d.label : { ...d.label, txId: tx.txId, labeledAt: d.label.labeledAt + shift });
      if (!(await sender.push(tx, json))) return;
    }
  }
}

/**
 * Sends a transactions file to the sink at the requested pace, with its labels interleaved when they fall due
 * (a label is due once the replayed stream's time passes its labeledAt, so chargeback delays scale with the pace).
 */
export async function replayFile(opts: ReplayOptions, sink: Sink): Promise<ReplaySummary> {
  await requireFile(opts.file, '--file');
  const clock = opts.clock ?? realClock;
  const format = opts.format ?? formatFromPath(opts.file);
  const loops = opts.loops ?? 1;
  const signal = opts.signal;
  const rejects = new RejectLog(opts.rejectsFile ?? rejectsPathFor(opts.file));
  const fileLabels = await readFileLabels(opts.file, opts.labelsFile, rejects);
  const progress = new Progress('replay', undefined, opts.progress ?? true);
  const sender = new PacedSender(sink, opts.pace, clock, opts.batchSize ?? 4000, opts.maxBatchBytes ?? 4_000_000, progress, rejects, signal);

  const span: FileSpan = { rows: 0, firstTs: Infinity, lastTs: -Infinity };
  const decoderRef: { decoder: RowDecoder | undefined } = { decoder: format === 'jsonl' ? jsonlDecoder() : undefined };
  let period = 0;
  let pass = 0;
  try {
    for (; pass < loops && !signal?.aborted; pass++) {
      if (pass === 1 && span.rows === 0) break;
      if (pass === 1) period = span.lastTs - span.firstTs + Math.max(1000, Math.round((span.lastTs - span.firstTs) / Math.max(1, span.rows)));
      for (const l of fileLabels) sender.queueLabel(pass === 0 ? l : { ...l, txId: `${l.txId}~${pass}`, labeledAt: l.labeledAt + pass * period });
      await playPass(opts, format, decoderRef, pass, period, span, sender, rejects);
      if (decoderRef.decoder === undefined) throw new UserInputError(`${opts.file} is empty: expected a CSV header line`);
      await sender.flush();
    }
    const stopped = signal?.aborted === true;
    if (!stopped) await sender.drainLabels();
    await sender.settle();
    await rejects.writer?.commit();
    progress.done(sender.sent, sender.progressNote());
    return summarize(sender, rejects, span.rows, Math.min(pass, loops), stopped, clock);
  } catch (err) {
    await sender.settleQuietly();
    await rejects.writer?.commit().catch(() => undefined);
    throw err;
  }
}

function summarize(sender: PacedSender, rejects: RejectLog, rows: number, passes: number, stopped: boolean, clock: Clock): ReplaySummary {
  const { started, sent } = sender;
  const seconds = started === undefined ? 0 : (clock.now() - started) / 1000;
  // Throughput counts transactions only: the end-of-file label flush is not part of the replayed stream.
  const txSeconds = started === undefined ? 0 : (Math.max(sender.lastTxAt, started) - started) / 1000;
  return {
    rows,
    sent,
    rejected: rejects.rejected,
    rejectReasons: rejects.topReasons(),
    rejectsFile: rejects.writer ? rejects.path : null,
    labelsSent: sender.labelsSent,
    labelsPending: sender.labelsPending,
    labelsRejected: rejects.labelsRejected,
    passes,
    seconds,
    eventsPerSec: txSeconds > 0 ? sent / txSeconds : 0,
    stopped,
  };
}
