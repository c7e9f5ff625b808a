import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Response } from 'express';
import { CaseSchema, DecisionSchema, LabelSchema, type Case, type Decision, type Label } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { LabelMetrics } from './metrics.ts';
import { seekTail } from './tail.ts';
import { RedisSampleStore } from '../../state/samples.ts';
import { ShadowStore } from '../../state/shadow.ts';
import { SearchIndex } from '../../state/search.ts';
import { CardTxSchema, cardHistoryKeysOf, storeCardHistory, type CardTx } from '../../state/card-history.ts';
import { NEW_CARD_CAP_RULE } from '../../detectors/pure/new-card-cap.ts';


interface SecondBucket {
  t: number;
  ALLOW: number;
  BLOCK: number;
  REVIEW: number;
  latencies: number[];
}

export interface SecondPoint {
  t: number;
  ALLOW: number;
  BLOCK: number;
  REVIEW: number;
  p50: number | null;
  p95: number | null;
}

interface Client {
  res: Response;
  sid: string;
  /** When a write last found the socket's buffer full (undefined once it drained). */
  stalledSince?: number;
}

/**
 * A browser that stops reading (a frozen tab, a stalled proxy) would make its stream buffer every event in this
 * process. Past this many bytes queued, or this long without draining, the stream is closed instead; the page
 * reconnects by itself (retry: 3000) and reloads what it missed.
 */
export const SSE_MAX_BUFFERED_BYTES = 1024 * 1024;
export const SSE_MAX_STALL_MS = 30_000;


const WINDOW_SECONDS = 300;
const RECENT_DECISIONS = 500;

function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null;
}

/** Milliseconds the pipeline spent on a decision: the sum of its per-stage timings. */
export const decisionLatency = (d: Decision): number => Object.values(d.timings).reduce((a, b) => a + b, 0);

export interface LiveFeedOptions {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  log: Logger;
  instanceId: string;
  /** Messages re-read from the end of each topic at start, so the page is not empty after a restart. */
  backfill?: { decisions: number; cases: number; labels: number };
  /** Slow-client bounds (defaults SSE_MAX_BUFFERED_BYTES, SSE_MAX_STALL_MS). */
  sse?: { maxBufferedBytes?: number; maxStallMs?: number };
}

/**
 * The UI's view of the stream: one kafkajs consumer (its own group, so every UI process sees everything)
 * on decisions, cases and labels. Keeps recent decisions, per-second throughput/latency, live counts,
 * precision/recall against labels, each card's recent transactions (Redis), and pushes events to SSE clients.
 */
export class LiveFeed {
  readonly counts = { ALLOW: 0, BLOCK: 0, REVIEW: 0 } as Record<'ALLOW' | 'BLOCK' | 'REVIEW', number>;
  readonly countsByStage: Record<string, number> = {};
  readonly metrics = new LabelMetrics();
  readonly groupId: string;
  malformed = 0;
  private readonly recent: Decision[] = [];
  private readonly seenDecisions = new Set<string>();
  private readonly seenOrder: string[] = [];
  private readonly scenarios = new Map<string, string | null>();
  private readonly buckets: SecondBucket[] = [];
  private readonly clients = new Set<Client>();
  /** Streams closed because their client did not read fast enough (see SSE_MAX_BUFFERED_BYTES). */
  slowClientsDropped = 0;
  private consumer: Consumer | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private extraStats: () => Promise<Record<string, unknown>> = async () => ({});
  private readonly listeners = new Set<(d: Decision) => void>();
  private readonly labelListeners = new Set<(l: Label) => void>();

  private readonly samples: RedisSampleStore;
  private readonly shadow: ShadowStore;
  /** The bounded searchable index of decisions (state/search.ts) this feed keeps up to date. */
  readonly search: SearchIndex;

  constructor(private readonly opts: LiveFeedOptions) {
    this.groupId = `fraudstream-ui-${opts.instanceId}`;
    this.samples = new RedisSampleStore(opts.redis, opts.config.redis.keyPrefix);
    this.shadow = new ShadowStore(opts.redis, opts.config.redis.keyPrefix);
    this.search = new SearchIndex(opts.redis, opts.config.redis.keyPrefix);
  }

  /** The label's scenario of a transaction, when this console has seen its label ('legitimate' is a string too). */
  scenarioOf(txId: string): string | null | undefined {
    return this.scenarios.get(txId);
  }

  /** Resolves once the consumer has joined and positioned itself (or after timeoutMs, logging a warning). */
  async start(timeoutMs = 30_000): Promise<void> {
    const { config, kafka, log } = this.opts;
    const t = config.topics;
    const backfill = this.opts.backfill ?? { decisions: 1000, cases: 200, labels: 2000 };
    const consumer = kafka.consumer({ groupId: this.groupId, sessionTimeout: 15_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 250 });
    this.consumer = consumer;
    const joined = new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        void seekTail(kafka, consumer, e.payload.memberAssignment, {
          [t.decisions]: backfill.decisions,
          [t.cases]: backfill.cases,
          [t.labels]: backfill.labels,
        })
          .catch((err: unknown) => log.warn({ err }, 'could not backfill the live feed'))
          .finally(resolve);
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [t.decisions, t.cases, t.labels], fromBeginning: false });
    await consumer.run({ autoCommit: false, eachBatch: (p) => this.onBatch(p) });
    this.ticker = setInterval(() => void this.tick(), 1000);
    this.keepalive = setInterval(() => this.send(':keepalive\n\n'), 15_000);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      joined,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn({ timeoutMs }, 'live feed has not joined its consumer group yet; continuing');
          resolve();
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Called with every new decision as it reaches the Live page's clients; returns the unsubscribe. */
  onDecision(listener: (d: Decision) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called with every label (backfilled ones included); returns the unsubscribe. */
  onLabels(listener: (l: Label) => void): () => void {
    this.labelListeners.add(listener);
    return () => this.labelListeners.delete(listener);
  }

  setExtraStats(fn: () => Promise<Record<string, unknown>>): void {
    this.extraStats = fn;
  }

  private async onBatch({ batch, heartbeat }: EachBatchPayload): Promise<void> {
    const t = this.opts.config.topics;
    const decisions: Decision[] = [];
    const labels: Label[] = [];
    for (const m of batch.messages) {
      if (!m.value) continue;
      let json: unknown;
      try {
        json = JSON.parse(m.value.toString('utf8'));
      } catch {
        this.malformed++;
        continue;
      }
      if (batch.topic === t.decisions) {
        const d = DecisionSchema.safeParse(json);
        if (d.success) decisions.push(d.data);
        else this.malformed++;
      } else if (batch.topic === t.cases) {
        const c = CaseSchema.safeParse(json);
        if (c.success) this.onCase(c.data);
        else this.malformed++;
      } else if (batch.topic === t.labels) {
        const l = LabelSchema.safeParse(json);
        if (l.success) {
          this.onLabel(l.data);
          labels.push(l.data);
        } else this.malformed++;
      }
    }
    // The policy preview counts a labelled sample as what it was (issue 13).
    if (labels.length > 0) await this.samples.recordLabels(labels);
    // The shadow report joins them too, with their arrival time for the label-delay distribution (issue 13).
    if (labels.length > 0) await this.shadow.recordLabels(labels);
    if (decisions.length > 0) await this.onDecisions(decisions);
    await heartbeat();
  }

  /** Public so tests and the verdict route can feed a decision the UI itself produced. */
  async onDecisions(decisions: Decision[]): Promise<void> {
    const fresh = decisions.filter((d) => !this.remember(d.decisionId));
    if (fresh.length === 0) return;
    for (const d of fresh) {
      this.counts[d.action] += 1;
      this.countsByStage[d.stage] = (this.countsByStage[d.stage] ?? 0) + 1;
      this.bucket(d.decidedAt).latencies.push(decisionLatency(d));
      this.bucket(d.decidedAt)[d.action] += 1;
      this.recent.push(d);
      if (this.recent.length > RECENT_DECISIONS) this.recent.shift();
      this.metrics.onDecision(d);
      this.broadcast('decision', { ...d, scenario: this.scenarios.get(d.txId) });
      for (const l of this.listeners) l(d);
    }
    // A card over the new-card cap keeps no state in the feature store, and no card history here either (issue 19).
    const kept = fresh.filter((d) => !d.rulesFired.some((r) => r.id === NEW_CARD_CAP_RULE));
    await storeCardHistory(this.opts.redis, this.opts.config.redis.keyPrefix, kept).catch((err: unknown) => this.opts.log.warn({ err }, 'could not store card history'));
    await this.search.store(fresh).catch((err: unknown) => this.opts.log.warn({ err }, 'could not index decisions for search'));
  }

  private onCase(c: Case): void {
    this.broadcast('case', c);
  }

  private onLabel(l: Label): void {
    this.scenarios.set(l.txId, l.scenario);
    if (this.scenarios.size > 200_000) {
      const first = this.scenarios.keys().next().value;
      if (first !== undefined) this.scenarios.delete(first);
    }
    this.metrics.onLabel(l);
    this.broadcast('label', { txId: l.txId, isFraud: l.isFraud, scenario: l.scenario, source: l.source });
    for (const fn of this.labelListeners) fn(l);
  }

  private remember(decisionId: string): boolean {
    if (this.seenDecisions.has(decisionId)) return true;
    this.seenDecisions.add(decisionId);
    this.seenOrder.push(decisionId);
    if (this.seenOrder.length > 50_000) this.seenDecisions.delete(this.seenOrder.shift() as string);
    return false;
  }

  private bucket(at: number): SecondBucket {
    const t = Math.floor(Math.min(at, Date.now()) / 1000);
    let b = this.buckets.find((x) => x.t === t);
    if (!b) {
      b = { t, ALLOW: 0, BLOCK: 0, REVIEW: 0, latencies: [] };
      this.buckets.push(b);
      this.buckets.sort((x, y) => x.t - y.t);
      const oldest = Math.floor(Date.now() / 1000) - WINDOW_SECONDS;
      while (this.buckets.length > 0 && (this.buckets[0] as SecondBucket).t < oldest) this.buckets.shift();
    }
    return b;
  }

  series(seconds = 120): SecondPoint[] {
    const now = Math.floor(Date.now() / 1000);
    const out: SecondPoint[] = [];
    for (let t = now - seconds + 1; t <= now; t++) {
      const b = this.buckets.find((x) => x.t === t);
      const sorted = b ? [...b.latencies].sort((a, c) => a - c) : [];
      out.push({ t, ALLOW: b?.ALLOW ?? 0, BLOCK: b?.BLOCK ?? 0, REVIEW: b?.REVIEW ?? 0, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) });
    }
    return out;
  }

  recentDecisions(limit: number): Array<Decision & { scenario?: string | null }> {
    return this.recent.slice(-limit).map((d) => ({ ...d, scenario: this.scenarios.get(d.txId) }));
  }

  private cardKey(cardId: string): string {
    return cardHistoryKeysOf(this.opts.redis, this.opts.config.redis.keyPrefix, cardId).ids;
  }
  private rowsKey(cardId: string): string {
    return cardHistoryKeysOf(this.opts.redis, this.opts.config.redis.keyPrefix, cardId).rows;
  }


  /** The card's most recent transactions the UI has seen, newest first. */
  async cardHistory(cardId: string, limit = 20): Promise<CardTx[]> {
    const ids = await this.opts.redis.zrevrange(this.cardKey(cardId), 0, limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.opts.redis.hmget(this.rowsKey(cardId), ...ids);
    return raws.flatMap((raw) => {
      const r = raw === null ? undefined : CardTxSchema.safeParse(JSON.parse(raw)).data;
      return r ? [r] : [];
    });
  }

  // ------------------------------------------------------------------ SSE

  addClient(res: Response, sid: string): void {
    const client: Client = { res, sid };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    res.on('drain', () => {
      client.stalledSince = undefined;
    });
  }

  /** Ends every stream opened by a session (on logout). */
  dropSession(sid: string): void {
    for (const c of this.clients) {
      if (c.sid === sid) {
        c.res.end();
        this.clients.delete(c);
      }
    }
  }

  /** Ends streams whose session has expired or was destroyed elsewhere (another console process). */
  async pruneClients(isLive: (sid: string) => Promise<boolean>): Promise<void> {
    const sids = new Set([...this.clients].map((c) => c.sid));
    for (const sid of sids) if (!(await isLive(sid))) this.dropSession(sid);
  }

  /** Streams open for one session in this process. */
  streamsOf(sid: string): number {
    let n = 0;
    for (const c of this.clients) if (c.sid === sid) n += 1;
    return n;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    this.send(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private send(frame: string): void {
    const maxBytes = this.opts.sse?.maxBufferedBytes ?? SSE_MAX_BUFFERED_BYTES;
    const maxStall = this.opts.sse?.maxStallMs ?? SSE_MAX_STALL_MS;
    const now = Date.now();
    for (const c of this.clients) {
      if (c.res.writableLength > maxBytes || (c.stalledSince !== undefined && now - c.stalledSince > maxStall)) {
        this.dropSlow(c);
        continue;
      }
      if (!c.res.write(frame)) c.stalledSince ??= now;
    }
  }

  private dropSlow(c: Client): void {
    this.clients.delete(c);
    this.slowClientsDropped += 1;
    this.opts.log.warn({ buffered: c.res.writableLength, stalledMs: c.stalledSince ? Date.now() - c.stalledSince : 0, dropped: this.slowClientsDropped }, 'live stream closed: the client does not read');
    // destroy, not end: end() would queue behind the very bytes the client is not reading.
    c.res.destroy();
  }

  private async tick(): Promise<void> {
    if (this.clients.size === 0) return;
    try {
      const extra = await this.extraStats();
      this.broadcast('stats', { counts: this.counts, byStage: this.countsByStage, series: this.series(120), ...extra });
    } catch (err) {
      this.opts.log.debug({ err }, 'stats tick failed');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    clearInterval(this.keepalive);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    if (this.consumer) {
      await this.consumer.disconnect().catch(() => undefined);
      const admin = this.opts.kafka.admin();
      // The group exists only for this process; remove it instead of leaving it for the broker to expire.
      await admin
        .connect()
        .then(() => admin.deleteGroups([this.groupId]))
        .catch(() => undefined)
        .finally(() => void admin.disconnect().catch(() => undefined));
    }
  }
}
