/**
 * Steady traffic into the transactions topic, keyed by card, as a card processor would send it: generated
 * transactions at a fixed rate, plus whatever a scenario injects (fuzz, poison pills, duplicates). While the
 * broker is down the sender keeps what it could not send and retries, so the rate resumes when the broker does.
 * Every distinct value sent is recorded in the ledger with what the pipeline owes it.
 */
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { Transaction } from '../../core/contracts.ts';
import { partitionFor } from '../../core/partition.ts';
import { unwrittenPartitions } from '../../core/kafka.ts';
import { generateStream } from '../../producers/world/index.ts';
import { sha256, type Expectation } from './pure/invariants.ts';
import { sleep } from './services.ts';

interface Outgoing {
  key: Buffer | null;
  value: Buffer | null;
  /** sha256 of value: recorded as acknowledged once the broker acks the send. */
  hash: string;
  /** Chosen before the first send (Kafka's key partitioning; keyless: round robin) and kept for resends. */
  partition?: number;
  /** Set on generated transactions: acknowledged ones become candidates for duplicates. */
  tx?: Transaction;
  /** Injected alone; told the partition and offset once written. */
  onSent?: (at: { partition: number; offset: string }) => void;
}

export interface Injected {
  key: Buffer | string | null;
  value: Buffer | string | null;
  expect: Expectation;
}

const buf = (v: Buffer | string | null): Buffer | null => (typeof v === 'string' ? Buffer.from(v) : v);

/** Below the broker's 1 MiB record-batch limit, with room for headers. */
const MAX_SEND_BYTES = 600 * 1024;

export interface TrafficOptions {
  kafka: Kafka;
  topic: string;
  rate: number;
  seed: number;
  cards: number;
  log: (line: string) => void;
}

export class Traffic {
  readonly ledger = new Map<string, Expectation>();
  private readonly gen: Iterator<{ tx: Transaction }>;
  private producer: Producer;
  private readonly queue: Outgoing[] = [];
  private readonly acked: Transaction[] = [];
  private readonly ackedHashes = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private running = false;
  private started = 0;
  private generated = 0;
  private sent = 0;
  private failures = 0;
  private lastError = '';
  private partitions = 0;
  private roundRobin = 0;
  private unwrittenSends = 0;
  private unwrittenMessages = 0;

  constructor(private readonly opts: TrafficOptions) {
    this.gen = generateStream({ seed: opts.seed, events: Infinity, cards: opts.cards })[Symbol.iterator]();
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    return this.opts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  /**
   * A fresh producer (a new producer id, sequences from 0). kafkajs' idempotent producer can leave a partition's
   * sequence ahead of what the broker holds when a leader dies mid-send, and then every send is refused as out of
   * order: what was unacknowledged is sent again (the ledger counts a copy of the same bytes once).
   */
  private async replaceProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.newProducer();
    await old.disconnect().catch(() => undefined);
    await this.producer.connect().catch(() => undefined);
  }

  async start(): Promise<void> {
    const admin = this.opts.kafka.admin();
    await admin.connect();
    try {
      this.partitions = (await admin.fetchTopicMetadata({ topics: [this.opts.topic] })).topics[0]?.partitions.length ?? 0;
    } finally {
      await admin.disconnect();
    }
    if (this.partitions < 1) throw new Error(`traffic: no partitions found for ${this.opts.topic}`);
    await this.producer.connect();
    this.running = true;
    this.started = Date.now();
    this.timer = setInterval(() => this.tick(), 100);
    this.loop = this.sendLoop();
  }

  /** Stops generating; resolves once everything queued was written (or throws after timeoutMs). */
  async stop(timeoutMs = 180_000): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline) await sleep(100);
    this.running = false;
    await this.loop;
    await this.producer.disconnect().catch(() => undefined);
    if (this.queue.length > 0) throw new Error(`traffic: ${this.queue.length} messages still unsent after ${timeoutMs / 1000} s (last error: ${this.lastError})`);
  }

  get stats() {
    return { generated: this.generated, sent: this.sent, queued: this.queue.length, sendFailures: this.failures, unwrittenSends: this.unwrittenSends, unwrittenMessages: this.unwrittenMessages };
  }

  /** Generated transactions the broker acknowledged, oldest first. */
  acknowledged(): readonly Transaction[] {
    return this.acked;
  }

  /**
   * The sha256 of every distinct message the broker acknowledged (generated, injected, copies once): the invariants
   * count one the reader never read back from the input topic as lost.
   */
  acknowledgedHashes(): ReadonlySet<string> {
    return this.ackedHashes;
  }

  /** Queues a message after the traffic generated so far. */
  inject(m: Injected): void {
    const value = buf(m.value);
    this.queue.push({ key: buf(m.key), value, hash: this.record(value, m.expect) });
  }

  /** Queues a message and resolves with the partition and offset it was written at. */
  injectTracked(m: Injected): Promise<{ partition: number; offset: string }> {
    const value = buf(m.value);
    const hash = this.record(value, m.expect);
    return new Promise((resolve) => this.queue.push({ key: buf(m.key), value, hash, onSent: resolve }));
  }

  private record(value: Buffer | null, expect: Expectation): string {
    const h = sha256(value);
    const known = this.ledger.get(h);
    // The same bytes twice is one input sent twice: the first expectation stands.
    if (!known) this.ledger.set(h, expect);
    return h;
  }

  private tick(): void {
    const due = Math.floor(((Date.now() - this.started) / 1000) * this.opts.rate);
    for (; this.generated < due; this.generated++) {
      const { tx } = this.gen.next().value as { tx: Transaction };
      const value = Buffer.from(JSON.stringify(tx));
      const hash = this.record(value, { kind: 'valid', txId: tx.txId, cardId: tx.cardId, tx });
      this.queue.push({ key: Buffer.from(tx.cardId), value, hash, tx });
    }
  }

  private async sendLoop(): Promise<void> {
    while (this.running) {
      if (this.queue.length === 0) {
        await sleep(20);
        continue;
      }
      // A tracked message travels alone, so the broker's answer names its partition and offset.
      const batch: Outgoing[] = [];
      let bytes = 0;
      for (const m of this.queue) {
        const size = (m.value?.length ?? 0) + (m.key?.length ?? 0) + 70;
        if (batch.length > 0 && (m.onSent || bytes + size > MAX_SEND_BYTES || batch.length >= 1_000)) break;
        batch.push(m);
        bytes += size;
        if (m.onSent) break;
      }
      for (const m of batch) m.partition ??= m.key ? partitionFor(m.key, this.partitions) : this.roundRobin++ % this.partitions;
      try {
        const meta = await this.producer.send({ topic: this.opts.topic, messages: batch.map((m) => ({ key: m.key, value: m.value, partition: m.partition })) });
        // kafkajs 2.2.4 can resolve a send that never wrote one partition's messages: when a leader dies mid-send and
        // the partition moves to a broker that already answered for its own partitions, the retry sends nothing to
        // it (producer/sendMessages.js keeps one answer per broker). Only partitions named in the answer were written.
        const missing = unwrittenPartitions([{ topic: this.opts.topic, messages: batch }], meta);
        const unwritten = batch.filter((m) => missing.includes(`${this.opts.topic}:${m.partition}`));
        this.queue.splice(0, batch.length, ...unwritten);
        this.sent += batch.length - unwritten.length;
        for (const m of batch) {
          if (missing.includes(`${this.opts.topic}:${m.partition}`)) continue;
          this.ackedHashes.add(m.hash);
          if (m.tx) this.acked.push(m.tx);
        }
        if (unwritten.length) {
          this.unwrittenSends += 1;
          this.unwrittenMessages += unwritten.length;
          this.opts.log(`traffic: a send resolved without writing partition(s) ${[...new Set(unwritten.map((m) => m.partition))].join(', ')} (${unwritten.length} messages); sending them again`);
          await sleep(100);
          continue;
        }
        const tracked = batch[0]?.onSent;
        const r = meta[0];
        if (tracked && r) tracked({ partition: r.partition, offset: String(r.baseOffset ?? r.offset ?? '') });
      } catch (err) {
        // Broker down or restarting: keep the batch and try again (a partly written batch comes back as copies,
        // which the pipeline must treat as the same input).
        this.failures += 1;
        this.lastError = (err as Error).message;
        if (this.failures % 10 === 1) this.opts.log(`traffic: send failed (${this.lastError}); ${this.queue.length} queued, retrying`);
        const outOfOrder = (err as { type?: string }).type === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || /out of order sequence/i.test(this.lastError);
        if (outOfOrder) {
          this.opts.log('traffic: sequence out of order: a fresh producer');
          await this.replaceProducer();
        }
        await sleep(500);
      }
    }
  }
}
