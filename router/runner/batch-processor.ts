/**
 * The batch processor: what the stage runner does with one consumed partition batch. Skip what a previous owner
 * committed, parse, claim each key, decide (a message that makes the logic throw is isolated by splitting the
 * batch and dead-lettered after bounded attempts), publish outputs and offsets in one Kafka transaction, then the
 * post-commit work in order behind the batches. A failed batch is retried with backoff on a fresh producer; a
 * fenced one hands over to the member supervisor.
 *
 * Its I/O comes through ports (the outcome store, the partition's transactional producer, the producer pool), so
 * unit tests run it against fakes; the runner passes the real ones (state/outcomes.ts, runner/producers.ts).
 */
import type { KafkaMessage } from 'kafkajs';
import type { z } from 'zod';
import { InjectedFault, type Faults } from '../../core/faults.ts';
import { CLAIM_HEADER, encodeClaimHeader, type Claims, type OutcomeMarker } from '../../state/outcomes.ts';
import { countKafkaRetry, kafkaRetryReason } from '../../core/kafka-retries.ts';
import { unwrittenPartitions } from '../../core/kafka.ts';
import { metrics } from '../metrics.ts';
import { RUNNER_KAFKA } from './kafka-settings.ts';
import { byTopic, chunkByBytes, CONFLICTING_DUPLICATE, deadLetter, splitBatch, type OutMessage, type ParsedMessage } from './batch.ts';

export interface StageInput<T> {
  value: T;
  /** Kafka timestamp of the consumed message (epoch ms). */
  receivedAt: number;
}

export interface StageLogic<T> {
  /** Stage name, used in metrics, logs, heartbeats and dead letters. */
  name: string;
  schema: z.ZodType<T>;
  /** The dedupe key of an input (its tx id). */
  keyOf(value: T): string;
  /**
   * Decides a batch of new inputs (never seen before). Returns, per input, the messages to publish.
   * Side effects here must be idempotent per key: a crash before commit replays the batch.
   */
  handle(inputs: StageInput<T>[], prefetched?: unknown): Promise<OutMessage[][]>;
  /**
   * Starts the reads `handle` will need for these inputs (detect: its cards' and entities' state), sent with the
   * batch's claims so both take one round trip; the answer reaches the first `handle` call of the batch (which may
   * get a subset: inputs already decided are left out). Reads only: a batch that is not decided loses nothing.
   */
  prefetch?(values: T[]): unknown;
  /** Called after a batch committed, with the fresh outputs (for counters and samples). Off the critical path. */
  afterCommit?(outputs: OutMessage[][]): Promise<void>;
  /** Called once when the stage stops, after the last batch's post-commit work (writes what the logic buffered). */
  close?(): Promise<void>;
}

/** The outcome store's part the processor uses (state/outcomes.ts OutcomeStore). */
export interface OutcomePort {
  /** Claims; `view` on the answer is the generation of the claims' view in Redis they were made in. */
  claim(items: Array<{ key: string } & OutcomeMarker>): Promise<Claims>;
  release(keys: string[]): Promise<void>;
  /** Throws (the batch retries) when the view is no longer generation `view`: Redis lost the claims meanwhile. */
  confirm?(view: string): Promise<void>;
  /** After the commit: these claims' outputs are published, so the same message delivered again is a duplicate. */
  markCommitted?(items: Array<{ key: string } & OutcomeMarker>): Promise<void>;
}

/** One Kafka transaction (kafkajs' Transaction, narrowed to what is used). */
export interface TransactionPort {
  sendBatch(batch: { topicMessages: Array<{ topic: string; messages: Array<{ key: string; value: string; headers?: Record<string, string> }> }> }): Promise<unknown>;
  sendOffsets(offsets: { consumerGroupId: string; topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }): Promise<unknown>;
  commit(): Promise<unknown>;
  abort(): Promise<unknown>;
}

/** A partition's transactional producer and the offset below which its messages are committed already. */
export interface PartitionTxnProducer {
  partition: number;
  producer: { transaction(): Promise<TransactionPort> };
  minOffset: bigint;
}

/** The member's producers (runner/producers.ts PartitionProducers): one per partition, started afresh after a failure. */
export interface ProducerPool {
  acquire(partition: number): Promise<PartitionTxnProducer>;
  release(partition: number): Promise<void>;
}

/** What the processor needs of a consumed batch (kafkajs' Batch). */
export interface BatchLike {
  partition: number;
  messages: KafkaMessage[];
  lastOffset(): string;
}

export interface BatchContext {
  batch: BatchLike;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
  resolveOffset(offset: string): void;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface BatchProcessorOptions<T> {
  logic: StageLogic<T>;
  outcomes: OutcomePort;
  topic: string;
  groupId: string;
  dlqTopic: string;
  instanceId: string;
  faults: Faults;
  log: Logger;
  /**
   * How one chunk of outputs is cut into sendBatch calls (default: one call, by topic). On a cluster of several
   * brokers the runner sends one call per output partition (kafkajs can write a multi-leader sendBatch twice when
   * a leader dies); `forget` is called after a failed batch so the layout is read from the broker again.
   */
  sends?: { of(chunk: OutMessage[]): Promise<Array<ReturnType<typeof byTopic>>>; forget(): void };
  /** Injected for tests (retry backoff, hold before commit). */
  sleep?: (ms: number) => Promise<void>;
  heartbeatEveryMs?: number;
}

/** A dead letter's raw payload is cut here (base64 grows it by a third; the letter stays far below 1 MiB). */
export const MAX_DEAD_LETTER_RAW_BYTES = 64 * 1024;
/** How many times a single message may make the stage logic throw before it goes to the dead-letter topic. */
export const LOGIC_ATTEMPTS = 3;
/** Post-commit work (shrinking outcomes, counters) runs behind the batches; this many may wait before a batch waits. */
const MAX_PENDING_POST_COMMIT = 16;

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The transaction's producer was fenced: another member owns the partition now. */
export function isFenced(err: unknown): boolean {
  for (let e = err as { type?: string; name?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.type === 'INVALID_PRODUCER_EPOCH' || e.type === 'PRODUCER_FENCED' || e.type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED') return true;
  }
  return false;
}

/** Errors of the services (Redis down or loading, a connection dropped), not of the input: retry, never dead-letter. */
export function isServiceError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.name?.startsWith('KafkaJS') || e.name === 'MaxRetriesPerRequestError') return true;
  if (e.code && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTCONN)$/.test(e.code)) return true;
  return /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|READONLY|MASTERDOWN)\b|Connection is closed|Stream isn't writeable/.test(e.message ?? '');
}

interface Work<T> {
  parsed: ParsedMessage<T>;
  out?: OutMessage[];
}

export class BatchProcessor<T> {
  /** When this member last committed a batch (epoch ms). */
  lastCommitAt: number | undefined;
  private postChain: Promise<void> = Promise.resolve();
  private postPending = 0;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly stage: string;
  // Observed once per message: the labelled child skips prom-client's label hashing on each observation.
  private readonly latency;

  constructor(private readonly o: BatchProcessorOptions<T>) {
    this.sleep = o.sleep ?? realSleep;
    this.stage = o.logic.name;
    this.latency = metrics.latency.labels({ stage: this.stage });
  }

  /**
   * One consumed batch, retried until it commits, the member stops or loses the partition, or its producer is fenced
   * (then `onFenced` is called and the batch is left to the partition's new owner).
   */
  async run(ctx: BatchContext, pool: () => ProducerPool, stopping: () => boolean, onFenced: () => void): Promise<void> {
    const { batch, isRunning, isStale } = ctx;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const partition = batch.partition;
    // Keep group membership while a batch waits on Redis or the broker.
    const hb = setInterval(() => void ctx.heartbeat().catch(() => undefined), this.o.heartbeatEveryMs ?? 2_000);
    const owner = pool();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const pp = await owner.acquire(partition);
          await this.process(batch, pp, ctx.resolveOffset);
          return;
        } catch (err) {
          if (isFenced(err)) {
            this.o.log.warn({ partition }, 'fenced: another member owns this partition now; rejoining the group');
            onFenced();
            return;
          }
          // A failed transaction leaves kafkajs' transaction state unknown: start the partition's producer afresh.
          await owner.release(partition);
          this.o.sends?.forget();
          if (stopping() || !isRunning() || isStale() || owner !== pool()) return;
          metrics.batchRetries.inc({ stage: this.stage });
          // A broker's "not now, ask again" (a transaction's markers still being written: an offsets-only
          // transaction's next AddOffsetsToTxn is not retried by kafkajs itself) is a retry like kafkajs' own:
          // counted and logged at debug the first time; warned if it keeps failing.
          const retriable = attempt === 1 ? kafkaRetryReason((err as Error).message ?? '') : undefined;
          if (retriable) {
            countKafkaRetry(retriable.reason);
            this.o.log.debug?.({ partition, attempt, reason: retriable.reason, err: (err as Error).message }, 'batch met a retriable broker answer; retrying it (nothing was committed)');
          } else if (attempt === 1 || attempt % 10 === 0) this.o.log.warn({ partition, attempt, err: (err as Error).message }, 'batch failed; retrying it (nothing was committed)');
          await this.sleep(Math.min(100 * 2 ** (attempt - 1), 5_000));
        }
      }
    } finally {
      clearInterval(hb);
    }
  }

  /** Waits for the post-commit work queued so far. */
  drain(): Promise<void> {
    return this.postChain;
  }

  /** Post-commit work runs in order behind the batches; a failure is logged, never retried into a duplicate. */
  private async afterCommitted(work: () => Promise<void>): Promise<void> {
    this.postPending += 1;
    this.postChain = this.postChain
      .then(work)
      .catch((err: unknown) => this.o.log.warn({ err }, 'post-commit work failed'))
      .finally(() => (this.postPending -= 1));
    if (this.postPending > MAX_PENDING_POST_COMMIT) await this.postChain;
  }

  /** Stage logic on fresh inputs; a message that throws (not a service error) is isolated and dead-lettered. */
  async decide(items: Work<T>[], prefetched?: unknown): Promise<Array<{ item: Work<T>; error: Error }>> {
    const { logic, faults: fault } = this.o;
    const failed: Array<{ item: Work<T>; error: Error }> = [];
    // Only the first call gets the prefetched reads: after a failed one they may be stale.
    let pre = prefetched;
    const run = async (part: Work<T>[]) => {
      const given = pre;
      pre = undefined;
      if (fault.throwOnKey) {
        const bad = part.find((w) => w.parsed.key.includes(fault.throwOnKey!));
        if (bad) throw new InjectedFault(bad.parsed.key);
      }
      const outs = await logic.handle(part.map((w) => ({ value: w.parsed.value, receivedAt: w.parsed.receivedAt })), given);
      part.forEach((w, i) => (w.out = outs[i] ?? []));
    };
    const attempt = async (part: Work<T>[]): Promise<void> => {
      try {
        await run(part);
      } catch (first) {
        if (isServiceError(first)) throw first;
        if (part.length > 1) {
          const mid = Math.ceil(part.length / 2);
          await attempt(part.slice(0, mid));
          await attempt(part.slice(mid));
          return;
        }
        let last = first;
        for (let n = 2; n <= LOGIC_ATTEMPTS; n++) {
          await this.sleep(20 * n);
          try {
            await run(part);
            return;
          } catch (again) {
            if (isServiceError(again)) throw again;
            last = again;
          }
        }
        failed.push({ item: part[0]!, error: last instanceof Error ? last : new Error(String(last)) });
      }
    };
    await attempt(items);
    return failed;
  }

  /** One attempt at a batch: claim, decide, one transaction with outputs and offsets, then post-commit work. */
  async process(batch: BatchLike, pp: PartitionTxnProducer, resolveOffset: (offset: string) => void): Promise<void> {
    const { logic, outcomes, topic, groupId, faults: fault, log } = this.o;
    const stage = this.stage;
    const where = { sourceTopic: topic, stage, dlqTopic: this.o.dlqTopic };
    const started = performance.now();
    const partition = batch.partition;
    const lastOffset = batch.lastOffset();
    const nextOffset = (BigInt(lastOffset) + 1n).toString();
    let messages: KafkaMessage[] = batch.messages;
    if (BigInt(messages[0]!.offset) < pp.minOffset) {
      messages = messages.filter((m) => BigInt(m.offset) >= pp.minOffset);
      metrics.redelivered.inc({ stage }, batch.messages.length - messages.length);
      if (messages.length === 0) {
        resolveOffset(lastOffset);
        return;
      }
    }

    const { parsed, rejected, repeats } = splitBatch(messages, partition, logic);
    const toPublish: OutMessage[] = [];
    const dead = { malformed: 0, conflicting_duplicate: 0, logic_error: 0 };
    for (const r of rejected) {
      toPublish.push(deadLetter(r.message, { ...where, partition }, r.reason, MAX_DEAD_LETTER_RAW_BYTES));
      dead[r.reason.startsWith(CONFLICTING_DUPLICATE) ? 'conflicting_duplicate' : 'malformed'] += 1;
    }
    let duplicates = repeats;
    let mark = performance.now();
    const phase = (name: string) => {
      const now = performance.now();
      metrics.phaseSeconds.inc({ stage, phase: name }, (now - mark) / 1000);
      mark = now;
    };

    // The stage's reads go out with the claims: one round trip for both.
    const prefetched = parsed.length && logic.prefetch ? logic.prefetch(parsed.map((p) => p.value)) : undefined;
    const claims = await outcomes.claim(parsed.map((p) => ({ key: p.key, source: p.source, hash: p.hash })));
    phase('claim');
    const fresh: Work<T>[] = [];
    let again = 0;
    parsed.forEach((p, i) => {
      const c = claims[i]!;
      if (c.mine) {
        fresh.push({ parsed: p });
        if (c.again) again += 1;
      } else if (c.holder.hash === p.hash) duplicates += 1;
      else {
        toPublish.push(deadLetter(p.message, { ...where, partition }, `${CONFLICTING_DUPLICATE}: key ${p.key} was decided from ${c.holder.source} with other content`, MAX_DEAD_LETTER_RAW_BYTES));
        dead.conflicting_duplicate += 1;
      }
    });

    const failures = fresh.length ? await this.decide(fresh, prefetched) : [];
    phase('decide');
    for (const f of failures) {
      toPublish.push(deadLetter(f.item.parsed.message, { ...where, partition }, `stage logic failed ${LOGIC_ATTEMPTS} times: ${f.error.message}`, MAX_DEAD_LETTER_RAW_BYTES));
      dead.logic_error += 1;
    }
    const freshOut: OutMessage[][] = [];
    for (const w of fresh) {
      if (!w.out) continue;
      // Each output carries the claim of its input: the record the claims are rebuilt from after a Redis loss.
      const claim = encodeClaimHeader({ stage, key: w.parsed.key, source: w.parsed.source, hash: w.parsed.hash });
      for (const o of w.out) toPublish.push({ ...o, headers: { ...o.headers, [CLAIM_HEADER]: claim } });
      freshOut.push(w.out);
    }

    const txn = await pp.producer.transaction();
    try {
      for (const chunk of chunkByBytes(toPublish, RUNNER_KAFKA.maxSendBytes)) {
        for (const topicMessages of this.o.sends ? await this.o.sends.of(chunk) : [byTopic(chunk)]) {
          const unwritten = unwrittenPartitions(topicMessages, await txn.sendBatch({ topicMessages }));
          // Abort and retry the batch rather than commit it without these outputs.
          if (unwritten.length > 0) throw new Error(`Kafka answered the send without writing ${unwritten.join(', ')}; aborting the batch to send it again`);
        }
      }
      phase('send');
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }] });
      phase('offsets');
      if (fault.holdBeforeCommitMs) {
        log.warn({ partition, firstOffset: messages[0]!.offset, lastOffset, outputs: toPublish.length, holdMs: fault.holdBeforeCommitMs }, 'fault: holding transaction before commit');
        await this.sleep(fault.holdBeforeCommitMs);
      }
      // Claimed under a view Redis has lost since (wiped, restarted): abort, so the rebuild cannot miss these outputs.
      if (claims.view !== undefined && outcomes.confirm) await outcomes.confirm(claims.view);
      await txn.commit();
      phase('commit');
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    pp.minOffset = BigInt(nextOffset);
    resolveOffset(lastOffset);
    const now = Date.now();
    this.lastCommitAt = now;

    metrics.events.inc({ stage }, messages.length);
    for (const [why, n] of Object.entries(dead)) if (n) metrics.deadLetters.inc({ stage, why }, n);
    if (duplicates) metrics.duplicates.inc({ stage }, duplicates);
    if (again) metrics.republished.inc({ stage }, again);
    for (const p of parsed) this.latency.observe(Math.max(0, now - p.receivedAt) / 1000);
    metrics.batchSeconds.observe({ stage }, (performance.now() - started) / 1000);
    metrics.lastCommit.set({ stage, instance: this.o.instanceId }, now / 1000);
    if (rejected.length || failures.length) log.warn({ partition, ...dead }, 'messages sent to the dead-letter topic');
    const released = failures.map((f) => f.item.parsed.key);
    const decided = fresh.filter((w) => w.out).map((w) => ({ key: w.parsed.key, source: w.parsed.source, hash: w.parsed.hash }));
    if (released.length || decided.length || (logic.afterCommit && freshOut.length)) {
      await this.afterCommitted(async () => {
        await Promise.all([outcomes.release(released), decided.length && outcomes.markCommitted ? outcomes.markCommitted(decided) : undefined]);
        if (logic.afterCommit && freshOut.length) await logic.afterCommit(freshOut);
      });
    }
  }
}
