import type { Config } from '../core/config.ts';
import type { Label } from '../core/contracts.ts';
import { UserInputError } from '../core/errors.ts';
import { ensureTopics } from '../core/kafka.ts';
import { logger } from '../core/logger.ts';
import { createKafkaSink, type OutMessage, type Sink } from './kafka-sink.ts';
import { realClock, TokenBucket, type Clock } from './pacing.ts';
import { TimeHeap } from '../core/heap.ts';
import { continueWorld, isScenarioName, SCENARIO_NAMES, World, type LiveWorldOptions, type WorldHistory, type WorldOptions } from './world/index.ts';

export interface SimulatorOptions {
  /** Target transactions per second. */
  rate: number;
  seed?: number;
  /** Any other world option (cards, merchants, rates, drift...). events is always unbounded. */
  world?: Omit<Partial<WorldOptions>, 'seed' | 'events'>;
  /**
   * Continue the world a model was trained on (its model card's `source`, parsed by parseWorldHistory): the same
   * cards, merchants and mix, simulated time going on from the end of the training history. `world` may then only
   * hold drift, driftAfterEvents (counted from the first live transaction), labelDelayScale and legitLabelShare.
   * Live transaction ids get a suffix per simulator (`~<run>`), so a second run from the same point is new traffic
   * to dedupe. The stages' feature store should hold the history's card state (`fraudstream warm`, or the demo).
   */
  continueFrom?: WorldHistory;
  /** Where to send; default a Kafka sink on config's topics (created if missing). */
  sink?: Sink;
  clock?: Clock;
}

export interface SimulatorStats {
  sent: number;
  /** Measured transactions per second over the last few seconds. */
  rate: number;
  targetRate: number;
  running: boolean;
  /** Fraud transactions sent, per scenario. */
  byScenario: Record<string, number>;
  labelsSent: number;
  /** Labels whose chargeback has not "happened" yet in simulated time. */
  labelsPending: number;
  /** Simulated time (ms): transactions carry it as ts. */
  simulatedNow: number;
  /** Set when continuing a trained world: its history's length and where the live stream took over. */
  continuing?: { seed: number; historyEvents: number; from: number; idSuffix: string };
  /** Merchants breached by an injected compromised-merchant attack, newest last (at most MAX_BREACHES). */
  breaches: BreachStats[];
  error?: string;
}

/** One injected merchant breach: where, when (simulated time), and its fraud so far. */
export interface BreachStats {
  merchantId: string;
  injectedAt: number;
  /** Fraud transactions scheduled at the merchant over the breach's 2 to 4 simulated weeks. */
  scheduled: number;
  /** Of those, sent so far. */
  sent: number;
}

/** Breaches followed at once; the oldest is forgotten past this. */
export const MAX_BREACHES = 8;

export interface Simulator {
  start(): Promise<void>;
  /** Stops after the batch in flight; resolves with the final stats. */
  stop(): Promise<SimulatorStats>;
  setRate(eps: number): void;
  /** Starts `count` attacks of a scenario now; returns the number of fraud transactions scheduled. */
  inject(scenario: string, count: number): number;
  stats(): SimulatorStats;
  /** The injected breach a sent transaction is fraud of (its merchant and injection time), if any. */
  breachOf(txId: string): { merchantId: string; injectedAt: number } | undefined;
}

/** Live label delays default to 1/50 of real chargebacks, so a demo sees ground truth within a minute or two. */
export const SIMULATOR_LABEL_DELAY_SCALE = 0.02;
const MAX_RATE = 1_000_000;

function checkRate(eps: number): void {
  if (!(Number.isFinite(eps) && eps > 0 && eps <= MAX_RATE)) throw new UserInputError(`rate must be a number of events per second in (0, ${MAX_RATE}], got ${eps}`);
}

const LIVE_OPTIONS: ReadonlySet<string> = new Set<keyof LiveWorldOptions>(['drift', 'driftAfterEvents', 'labelDelayScale', 'legitLabelShare']);

/** The world to simulate, and the suffix of live transaction ids ('' for a fresh world: its seed makes its ids new). */
function simulatedWorld(opts: SimulatorOptions): { world: World; idSuffix: string } {
  const h = opts.continueFrom;
  if (!h) {
    const world = new World({
      labelDelayScale: SIMULATOR_LABEL_DELAY_SCALE,
      ...opts.world,
      seed: opts.seed ?? Date.now() % 2_147_483_647,
      events: Infinity,
      startTs: opts.world?.startTs ?? Date.now(),
    });
    return { world, idSuffix: '' };
  }
  if (opts.seed !== undefined && opts.seed !== h.seed) {
    throw new UserInputError(`seed ${opts.seed}: a continued world keeps the seed it was trained with (${h.seed}); drop the seed or start a fresh world`);
  }
  const other = Object.keys(opts.world ?? {}).filter((k) => !LIVE_OPTIONS.has(k));
  if (other.length) {
    throw new UserInputError(`world option ${other.join(', ')}: a continued world keeps the options it was trained with; only ${[...LIVE_OPTIONS].join(', ')} may change`);
  }
  const world = continueWorld(h, { labelDelayScale: SIMULATOR_LABEL_DELAY_SCALE, ...(opts.world as LiveWorldOptions | undefined) });
  return { world, idSuffix: `~${Date.now().toString(36)}` };
}

/**
 * Live generation into Kafka at a controllable rate, for `simulate`, the demo and the review UI's replay page.
 * Transactions carry simulated time: it starts at the wall clock (or, continuing a trained world, where its
 * history ended) and advances as fast as the world's cardholders would at the target rate (so velocity features
 * mean what they mean in training). Labels are sent once simulated time passes their labeledAt.
 */
export function createSimulator(config: Config, opts: SimulatorOptions): Simulator {
  checkRate(opts.rate);
  const clock = opts.clock ?? realClock;
  const { world, idSuffix } = simulatedWorld(opts);
  const continuing = opts.continueFrom ? { seed: opts.continueFrom.seed, historyEvents: opts.continueFrom.events, from: world.now, idSuffix } : undefined;
  const log = logger('simulator');
  const bucket = new TokenBucket(opts.rate, Math.max(1, opts.rate / 20), clock);
  const labels = new TimeHeap<{ t: number; seq: number; label: Label }>();
  let labelSeq = 0;
  let sink: Sink | undefined = opts.sink;
  let ownSink = false;
  let running = false;
  let loop: Promise<void> | undefined;
  let sent = 0;
  let labelsSent = 0;
  let error: string | undefined;
  const byScenario: Record<string, number> = Object.fromEntries(SCENARIO_NAMES.map((s) => [s, 0]));
  const breaches: Array<BreachStats & { txIds: Set<string> }> = [];
  const breachByMerchant = (merchantId: string) => breaches.find((b) => b.merchantId === merchantId);
  const samples: Array<[number, number]> = [];

  const measuredRate = (): number => {
    const now = clock.now();
    while (samples.length > 2 && now - (samples[0] as [number, number])[0] > 5000) samples.shift();
    const first = samples[0];
    if (!first || now - first[0] < 200) return 0;
    return ((sent - first[1]) * 1000) / (now - first[0]);
  };

  const run = async (): Promise<void> => {
    samples.length = 0;
    samples.push([clock.now(), sent]);
    while (running) {
      const n = Math.max(1, Math.min(5000, Math.round(bucket.currentRate / 50)));
      await bucket.take(n);
      if (!running) break;
      const txs: OutMessage[] = [];
      for (let i = 0; i < n; i++) {
        const e = world.next();
        if (!e) break;
        if (idSuffix) {
          e.tx.txId += idSuffix;
          if (e.label) e.label.txId = e.tx.txId;
        }
        txs.push({ key: Buffer.from(e.tx.cardId), value: Buffer.from(JSON.stringify(e.tx)) });
        if (e.label) {
          labels.push({ t: e.label.labeledAt, seq: labelSeq++, label: e.label });
          if (e.label.isFraud && e.label.scenario) byScenario[e.label.scenario] = (byScenario[e.label.scenario] ?? 0) + 1;
          if (e.label.isFraud && e.label.scenario === 'compromised_merchant') {
            const b = breachByMerchant(e.tx.merchantId);
            if (b) {
              b.sent++;
              b.txIds.add(e.tx.txId);
            }
          }
        }
      }
      const due: OutMessage[] = [];
      for (let q = labels.peek(); q !== undefined && q.t <= world.now && due.length < 10_000; q = labels.peek()) {
        labels.pop();
        due.push({ key: Buffer.from(q.label.cardId ?? q.label.txId), value: Buffer.from(JSON.stringify(q.label)) });
      }
      await (sink as Sink).send(txs, due);
      sent += txs.length;
      labelsSent += due.length;
      samples.push([clock.now(), sent]);
    }
  };

  const stats = (): SimulatorStats => ({
    sent,
    rate: running ? measuredRate() : 0,
    targetRate: bucket.currentRate,
    running,
    byScenario: { ...byScenario },
    labelsSent,
    labelsPending: labels.size,
    simulatedNow: world.now,
    ...(continuing ? { continuing } : {}),
    breaches: breaches.map(({ merchantId, injectedAt, scheduled, sent: n }) => ({ merchantId, injectedAt, scheduled, sent: n })),
    ...(error !== undefined ? { error } : {}),
  });

  return {
    async start() {
      if (running) return;
      if (!sink) {
        await ensureTopics(config);
        sink = await createKafkaSink(config, '-simulator');
        ownSink = true;
      }
      running = true;
      error = undefined;
      log.info({ rate: bucket.currentRate, seed: world.options.seed, cards: world.options.cards, ...(continuing ? { continuing } : {}) }, 'simulator started');
      loop = run().catch((err: unknown) => {
        error = err instanceof Error ? err.message : String(err);
        running = false;
        log.error({ err }, 'simulator stopped on error');
      });
    },
    async stop() {
      running = false;
      await loop;
      loop = undefined;
      if (ownSink && sink) {
        await sink.close();
        sink = undefined;
        ownSink = false;
      }
      log.info({ sent, labelsSent }, 'simulator stopped');
      return stats();
    },
    setRate(eps) {
      checkRate(eps);
      bucket.setRate(eps);
    },
    inject(scenario, count) {
      if (!isScenarioName(scenario)) throw new UserInputError(`unknown scenario "${scenario}"; one of ${SCENARIO_NAMES.join(', ')}`);
      if (!(Number.isInteger(count) && count >= 1 && count <= 1000)) throw new UserInputError(`inject count must be an integer from 1 to 1000, got ${count}`);
      const injectedAt = world.now;
      const r = world.injectEpisodes(scenario, count);
      if (r.breaches.length) {
        for (const { merchantId, scheduled } of r.breaches) {
          const known = breachByMerchant(merchantId);
          if (known) known.scheduled += scheduled;
          else breaches.push({ merchantId, injectedAt, scheduled, sent: 0, txIds: new Set() });
        }
        breaches.splice(0, Math.max(0, breaches.length - MAX_BREACHES));
      }
      return r.scheduled;
    },
    stats,
    breachOf(txId) {
      const b = breaches.find((x) => x.txIds.has(txId));
      return b ? { merchantId: b.merchantId, injectedAt: b.injectedAt } : undefined;
    },
  };
}
