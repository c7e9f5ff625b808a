/**
 * The member supervisor: builds the stage member (a consumer plus a fresh set of partition producers), and rebuilds
 * it with backoff when its consumer crashes for good, its producer is fenced or the health watch finds it stalled,
 * so a stage is never silently dead in a live process. The consumer comes through a port (a factory that connects,
 * subscribes and runs it), so tests hand it fakes; the runner passes kafkajs' (kafkaMemberConsumer).
 */
import type { Kafka } from 'kafkajs';
import { metrics } from '../metrics.ts';
import type { BatchContext, Logger, ProducerPool } from './batch-processor.ts';
import { StageStatus } from './health.ts';
import { stageConsumerConfig, stageRunConfig } from './kafka-settings.ts';

export interface MemberHandlers {
  eachBatch(ctx: BatchContext): Promise<void>;
  /** The partitions of the input topic this member was given at a (re)join. */
  onJoin(partitions: number[]): void;
  /** kafkajs gave up on the consumer (restart false) or restarts it itself (restart true). */
  onCrash(err: Error, restart: boolean): void;
}

export interface MemberConsumer {
  disconnect(): Promise<void>;
}

/** Builds, connects, subscribes and runs a consumer; a failure on the way disconnects it and throws. */
export type MemberConsumerFactory = (handlers: MemberHandlers) => Promise<MemberConsumer>;

export type MemberProducers = ProducerPool & { releaseAll(): Promise<void> };

export interface MemberSupervisorOptions {
  stage: string;
  consumers: MemberConsumerFactory;
  /** A new set of partition producers: one consumer's lifetime, so batches of an old consumer stop. */
  newProducers(): MemberProducers;
  eachBatch(ctx: BatchContext): Promise<void>;
  /** The first join (the runner's `ready`). */
  onJoined(): void;
  /** A rebuild started (the health watch reports it). */
  onRebuild(why: string, statusMeanwhile: StageStatus): void;
  log: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** How long a disconnect or producer release of the old member may take before the rebuild goes on. */
  closeTimeoutMs?: number;
  firstBackoffMs?: number;
  maxBackoffMs?: number;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export class MemberSupervisor {
  consumer: MemberConsumer | undefined;
  producers: MemberProducers;
  assigned: number[] = [];
  rebuilds = 0;
  lastBuiltAt = Date.now();
  assignedAt = Date.now();
  stopping = false;
  private rebuildingNow: Promise<void> | undefined;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: MemberSupervisorOptions) {
    this.producers = o.newProducers();
    this.sleep = o.sleep ?? realSleep;
  }

  get rebuilding(): Promise<void> | undefined {
    return this.rebuildingNow;
  }

  async build(): Promise<void> {
    const owner = this.o.newProducers();
    this.producers = owner;
    const c = await this.o.consumers({
      eachBatch: (ctx) => this.o.eachBatch(ctx),
      onJoin: (mine) => {
        for (const p of this.assigned) if (!mine.includes(p)) void owner.release(p);
        this.assigned = [...mine].sort((a, b) => a - b);
        this.assignedAt = Date.now();
        this.o.log.info({ partitions: this.assigned }, 'partitions assigned');
        this.o.onJoined();
      },
      onCrash: (err, restart) => {
        if (this.stopping) return;
        if (restart) this.o.log.warn({ err: err.message }, 'consumer crashed; kafkajs restarts it');
        else void this.rebuild(`consumer crashed: ${err.message}`);
      },
    });
    this.consumer = c;
    this.lastBuiltAt = Date.now();
  }

  /** Drops the consumer and producers and builds anew with backoff; one rebuild at a time, none while stopping. */
  rebuild(why: string, statusMeanwhile: StageStatus = StageStatus.DOWN): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (this.rebuildingNow) return this.rebuildingNow;
    const closeMs = this.o.closeTimeoutMs ?? 15_000;
    this.rebuildingNow = (async () => {
      this.rebuilds += 1;
      metrics.rebuilds.inc({ stage: this.o.stage, why: why.split(':')[0]! });
      this.o.log.warn({ why }, 'rebuilding the stage member');
      this.o.onRebuild(why, statusMeanwhile);
      const old = this.consumer;
      const oldProducers = this.producers;
      this.consumer = undefined;
      this.assigned = [];
      await withTimeout(old?.disconnect() ?? Promise.resolve(), closeMs);
      await withTimeout(oldProducers.releaseAll(), closeMs);
      for (let delay = this.o.firstBackoffMs ?? 1_000; !this.stopping; delay = Math.min(delay * 2, this.o.maxBackoffMs ?? 30_000)) {
        try {
          await this.build();
          this.o.log.info({ rebuilds: this.rebuilds }, 'stage member rebuilt');
          return;
        } catch (err) {
          this.o.log.warn({ err: (err as Error).message, retryInMs: delay }, 'could not rebuild the stage member yet');
          await this.sleep(delay);
        }
      }
    })().finally(() => (this.rebuildingNow = undefined));
    return this.rebuildingNow;
  }

  /** Stops rebuilding and disconnects the consumer (the runner then drains post-commit work and releases producers). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.rebuildingNow?.catch(() => undefined);
    await this.consumer?.disconnect().catch((err: unknown) => this.o.log.warn({ err }, 'consumer disconnect'));
  }
}

/** The kafkajs consumer of a stage member, with the runner's settings (runner/kafka-settings.ts). */
export function kafkaMemberConsumer(kafka: Kafka, groupId: string, topic: string, partitions: number): MemberConsumerFactory {
  return async (h) => {
    const c = kafka.consumer(stageConsumerConfig(groupId));
    c.on(c.events.GROUP_JOIN, (e) => h.onJoin(e.payload.memberAssignment[topic] ?? []));
    c.on(c.events.CRASH, (e) => h.onCrash(e.payload.error, e.payload.restart));
    try {
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({ ...stageRunConfig(partitions), eachBatch: (ctx) => h.eachBatch(ctx) });
    } catch (err) {
      await c.disconnect().catch(() => undefined);
      throw err;
    }
    return c;
  };
}
