/**
 * The produce-while-consuming harness both sides of `bench` run through: one keyed producer writes inputs,
 * one read_committed reader follows the output topic and keeps, per tx id, the first output's Kafka timestamp
 * and the moment the reader saw it. Phases: a burst (throughput, CPU, event-loop use, GC) and paced sends
 * (latency percentiles). A memory sampler runs through the whole command.
 */
import os from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Transaction } from '../../core/contracts.ts';
import { createProducer } from '../../core/kafka.ts';
import { cpuMicrosPerEvent, dueBy, eventsPerSecond, round, summarize, type BurstResult, type PacedResult } from './stats.ts';

const SEND_CHUNK = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => bytes / (1024 * 1024);

/** RSS (and heap) sampled on a timer; `mark()` starts a new window whose maximum `windowMax()` reports. */
export class MemorySampler {
  maxRssMb = 0;
  private windowRssMb = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(intervalMs = 200) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }
  sample(): { rssMb: number; heapMb: number } {
    const m = process.memoryUsage();
    const rssMb = mb(m.rss);
    this.maxRssMb = Math.max(this.maxRssMb, rssMb);
    this.windowRssMb = Math.max(this.windowRssMb, rssMb);
    return { rssMb, heapMb: mb(m.heapUsed) };
  }
  mark(): void {
    this.windowRssMb = 0;
    this.sample();
  }
  windowMax(): number {
    this.sample();
    return this.windowRssMb;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** Total garbage-collection pause time seen in this process, for per-phase differences. */
export class GcClock {
  totalMs = 0;
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.totalMs += e.duration;
  });
  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }
  stop(): void {
    this.observer.disconnect();
  }
}

/**
 * The first `"name":"value"` string field of a JSON text, without parsing all of it: the reader runs in the
 * measured process. The first occurrence is the top-level field in both outputs (a decision's `tx` carries no
 * txId since issue 20; before, it repeated it with the same value).
 */
export function stringField(text: string, name: string): string | undefined {
  const key = `"${name}":"`;
  const i = text.indexOf(key);
  if (i < 0) return undefined;
  const j = text.indexOf('"', i + key.length);
  return j < 0 ? undefined : text.slice(i + key.length, j);
}

/** The first `"name":{...}` object of numbers in a JSON text (a decision's timings), or undefined. */
export function flatObjectField(text: string, name: string): Record<string, number> | undefined {
  const key = `"${name}":{`;
  const i = text.indexOf(key);
  if (i < 0) return undefined;
  const j = text.indexOf('}', i + key.length);
  if (j < 0) return undefined;
  try {
    return JSON.parse(text.slice(i + key.length - 1, j + 1)) as Record<string, number>;
  } catch {
    return undefined;
  }
}

interface Seen {
  ts: number;
  seenAt: number;
  /** The deciding stage of a decision ("detect", "escalate"); undefined for a ceiling's output. */
  stage?: string;
}

export interface HarnessOptions {
  kafka: Kafka;
  inputTopic: string;
  outputTopic: string;
  readerGroup: string;
  /** Pulls the next n transactions (each side has its own seeded stream). */
  next: (n: number) => Transaction[];
  log: (line: string) => void;
  signal: AbortSignal;
  /** Called with every new output's text and size while `observe` is on (the pipeline collects its stage timings here). */
  onOutput?: (text: string, bytes: number) => void;
  /** Seconds without a new output before a phase gives up. */
  stallSeconds?: number;
}

export class Harness {
  private readonly producer: Producer;
  private readonly reader: Consumer;
  private readonly seen = new Map<string, Seen>();
  private expected: Set<string> | null = null;
  private expectedDone = 0;
  /** Count-only mode for the soak: no per-transaction state, so the harness's own memory stays flat. */
  private countOnly = false;
  outputs = 0;
  observe = false;
  /** Bytes and count of the first outputs per tx id seen while observing (the burst): the mean output size. */
  observedBytes = 0;
  observedOutputs = 0;
  onCount?: (outputs: number) => void;

  constructor(private readonly o: HarnessOptions) {
    this.producer = createProducer(o.kafka);
    this.reader = o.kafka.consumer({ groupId: o.readerGroup, allowAutoTopicCreation: false });
  }

  async start(): Promise<void> {
    await this.producer.connect();
    await this.reader.connect();
    await this.reader.subscribe({ topic: this.o.outputTopic, fromBeginning: true });
    await this.reader.run({
      // No commit per batch: kafkajs' autoCommit commits after every batch and waits for it before the next fetch,
      // one OffsetCommit round trip per partition per fetch (about 30 ms per cycle over 6 partitions here), which
      // would be the reader's own delay, not the pipeline's. The harness keeps what it saw in memory; a restarted
      // bench reads its topics again from the start.
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const seenAt = Date.now();
        if (this.countOnly) {
          this.outputs += batch.messages.length;
          this.onCount?.(this.outputs);
          return;
        }
        for (const m of batch.messages) {
          const text = m.value?.toString('utf8') ?? '';
          const txId = stringField(text, 'txId');
          if (!txId) continue;
          this.outputs += 1;
          if (this.seen.has(txId)) continue;
          this.seen.set(txId, { ts: Number(m.timestamp), seenAt, stage: stringField(text, 'stage') });
          if (this.expected?.has(txId)) this.expectedDone += 1;
          if (this.observe) {
            this.observedBytes += m.value?.length ?? 0;
            this.observedOutputs += 1;
            this.o.onOutput?.(text, m.value?.length ?? 0);
          }
        }
      },
    });
  }

  async stop(): Promise<void> {
    await this.reader.disconnect().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
  }

  private check(): void {
    if (this.o.signal.aborted) throw new Error('interrupted');
  }

  private async send(txs: Transaction[], stamp?: Map<string, number>): Promise<void> {
    this.check();
    if (stamp) {
      const now = Date.now();
      for (const t of txs) stamp.set(t.txId, now);
    }
    await this.producer.send({ topic: this.o.inputTopic, messages: txs.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
  }

  /** Waits until every expected tx id has an output; progress every few seconds; fails after a stall. */
  private async waitAll(label: string, total: number, pollMs: number): Promise<void> {
    const stallMs = (this.o.stallSeconds ?? 60) * 1000;
    let last = -1;
    let lastChange = Date.now();
    let lastLog = Date.now();
    const started = Date.now();
    while (this.expectedDone < total) {
      this.check();
      const now = Date.now();
      if (this.expectedDone !== last) {
        last = this.expectedDone;
        lastChange = now;
      } else if (now - lastChange > stallMs) {
        throw new Error(`${label}: no new output for ${stallMs / 1000} s; ${this.expectedDone.toLocaleString()} of ${total.toLocaleString()} arrived`);
      }
      if (now - lastLog >= 3_000) {
        lastLog = now;
        const rate = this.expectedDone / ((now - started) / 1000);
        this.o.log(`  ${label}: ${this.expectedDone.toLocaleString()} / ${total.toLocaleString()} out (${Math.round(rate).toLocaleString()}/s)`);
      }
      await sleep(pollMs);
    }
  }

  private expect(txs: Transaction[]): void {
    this.seen.clear();
    this.expected = new Set(txs.map((t) => t.txId));
    this.expectedDone = 0;
  }

  /** Unmeasured traffic so connections, JIT and the models are warm before the burst. */
  async warmup(events: number): Promise<void> {
    if (events <= 0) return;
    const txs = this.o.next(events);
    this.expect(txs);
    for (let i = 0; i < txs.length; i += SEND_CHUNK) await this.send(txs.slice(i, i + SEND_CHUNK));
    await this.waitAll('warm-up', txs.length, 100);
  }

  async burst(label: string, events: number, gc: GcClock): Promise<BurstResult> {
    const txs = this.o.next(events);
    this.expect(txs);
    this.o.log(`${label}: burst of ${events.toLocaleString()} events`);
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const gc0 = gc.totalMs;
    const t0 = Date.now();
    this.observe = true;
    try {
      for (let i = 0; i < txs.length; i += SEND_CHUNK) await this.send(txs.slice(i, i + SEND_CHUNK));
      const produceSeconds = (Date.now() - t0) / 1000;
      await this.waitAll(`${label} burst`, txs.length, 20);
      const cpu1 = process.cpuUsage();
      const wallSeconds = (Date.now() - t0) / 1000;
      const elu = performance.eventLoopUtilization(elu0);
      let lastTs = 0;
      for (const t of txs) lastTs = Math.max(lastTs, this.seen.get(t.txId)!.ts);
      return {
        events,
        produceSeconds,
        seconds: (lastTs - t0) / 1000,
        eventsPerSec: eventsPerSecond(events, t0, lastTs),
        cpuMicrosPerEvent: cpuMicrosPerEvent(cpu0, cpu1, events),
        cpuCores: (cpuMicrosPerEvent(cpu0, cpu1, events) * events) / 1e6 / wallSeconds,
        loadAvg1m: os.loadavg()[0]!,
        eventLoopUtilization: elu.utilization,
        gcMicrosPerEvent: ((gc.totalMs - gc0) * 1000) / events,
      };
    } finally {
      this.observe = false;
    }
  }

  /**
   * Sends `events` at `rate` per second, each message at its own moment (start + i / rate; whatever fell due
   * while the previous send was in flight goes in the next one), not in ticks, and measures per event: the output's
   * Kafka CreateTime minus the moment its input was handed to the producer, and the moment the read_committed
   * reader received the output minus that same moment (visible).
   */
  async paced(label: string, name: string, rate: number, events: number): Promise<PacedResult> {
    const txs = this.o.next(Math.max(1, Math.round(events)));
    this.expect(txs);
    const sentAt = new Map<string, number>();
    this.o.log(`${label}: ${name}, ${txs.length.toLocaleString()} events at ${rate.toLocaleString()}/s, sent evenly`);
    const start = performance.now();
    let lastSend = start;
    let lastLog = start;
    let sends = 0;
    for (let i = 0; i < txs.length; ) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const now = performance.now();
      const due = dueBy(now - start, rate, i, txs.length);
      lastSend = now;
      if (now - lastLog >= 3_000) {
        lastLog = now;
        this.o.log(`  ${label} ${name}: ${i.toLocaleString()} / ${txs.length.toLocaleString()} sent, ${this.expectedDone.toLocaleString()} out`);
      }
      await this.send(txs.slice(i, due), sentAt);
      sends += 1;
      i = due;
    }
    await this.waitAll(`${label} ${name}`, txs.length, 20);
    const latency: number[] = [];
    const visible: number[] = [];
    const byStage = new Map<string, number[]>();
    for (const t of txs) {
      const s = this.seen.get(t.txId)!;
      const at = sentAt.get(t.txId)!;
      latency.push(s.ts - at);
      visible.push(s.seenAt - at);
      if (s.stage !== undefined) {
        let v = byStage.get(s.stage);
        if (!v) byStage.set(s.stage, (v = []));
        v.push(s.seenAt - at);
      }
    }
    const issueSeconds = (lastSend - start) / 1000;
    return {
      label: name,
      targetRate: rate,
      sentRate: issueSeconds > 0 ? Math.round((txs.length - 1) / issueSeconds) : rate,
      events: txs.length,
      messagesPerSend: round(txs.length / sends, 2),
      latencyMs: summarize(latency),
      visibleLatencyMs: summarize(visible),
      ...(byStage.size ? { visibleByStageMs: Object.fromEntries([...byStage].map(([k, v]) => [k, summarize(v)])) } : {}),
    };
  }

  /**
   * Pushes `events` through as fast as the other side keeps up (at most `window` in flight) without keeping any
   * per-transaction state, and calls `onCount` as outputs arrive, so memory can be sampled against progress.
   */
  async soak(events: number, window: number, onCount: (outputs: number) => void): Promise<void> {
    this.seen.clear();
    this.expected = null;
    this.countOnly = true;
    this.outputs = 0;
    this.onCount = onCount;
    const stallMs = (this.o.stallSeconds ?? 60) * 1000;
    let produced = 0;
    let last = 0;
    let lastChange = Date.now();
    const waitBelow = async (limit: number) => {
      while (produced - this.outputs > limit) {
        this.check();
        if (this.outputs !== last) {
          last = this.outputs;
          lastChange = Date.now();
        } else if (Date.now() - lastChange > stallMs) {
          throw new Error(`soak: no new output for ${stallMs / 1000} s; ${this.outputs.toLocaleString()} of ${produced.toLocaleString()} sent arrived`);
        }
        await sleep(20);
      }
    };
    try {
      while (produced < events) {
        await waitBelow(window);
        const n = Math.min(SEND_CHUNK, events - produced);
        await this.send(this.o.next(n));
        produced += n;
      }
      await waitBelow(0);
    } finally {
      this.countOnly = false;
      this.onCount = undefined;
    }
  }
}
