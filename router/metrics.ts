import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { kafkaRetryCounts } from '../core/kafka-retries.ts';
import { countDecisions } from '../state/decision-stats.ts';
import type { PipelineStage } from '../core/contracts.ts';

const retriesSeen = new Map<string, number>();

/** One registry per process; every stage in the process registers here. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'fraudstream_process_' });

export const metrics = {
  events: new Counter({ name: 'fraudstream_events_total', help: 'Messages consumed by a stage', labelNames: ['stage'], registers: [registry] }),
  decisions: new Counter({ name: 'fraudstream_decisions_total', help: 'Decisions produced, by action and deciding stage', labelNames: ['action', 'stage'], registers: [registry] }),
  escalations: new Counter({ name: 'fraudstream_escalations_total', help: 'Transactions sent from detect to escalate', registers: [registry] }),
  deadLetters: new Counter({
    name: 'fraudstream_dead_letters_total',
    help: 'Messages sent to the dead-letter topic, by why: malformed, conflicting_duplicate, logic_error',
    labelNames: ['stage', 'why'],
    registers: [registry],
  }),
  duplicates: new Counter({ name: 'fraudstream_duplicates_total', help: 'Identical copies of an already-decided message (not decided again)', labelNames: ['stage'], registers: [registry] }),
  redelivered: new Counter({
    name: 'fraudstream_redelivered_total',
    help: 'Messages handed out again below the committed offset (a rebalance read a stale offset); skipped',
    labelNames: ['stage'],
    registers: [registry],
  }),
  republished: new Counter({
    name: 'fraudstream_republished_total',
    help: 'Outcomes decided before but never committed (crash, fenced or aborted transaction, lost reply), published now',
    labelNames: ['stage'],
    registers: [registry],
  }),
  batchRetries: new Counter({ name: 'fraudstream_batch_retries_total', help: 'Batches retried after an error (Redis, broker, transaction)', labelNames: ['stage'], registers: [registry] }),
  rebuilds: new Counter({ name: 'fraudstream_stage_rebuilds_total', help: 'Stage members rebuilt by the supervisor (consumer crashed, fenced, stalled)', labelNames: ['stage', 'why'], registers: [registry] }),
  stageUp: new Gauge({ name: 'fraudstream_stage_up', help: '1 when the member is deciding (or has nothing to decide); 0 when stalled, down or starting', labelNames: ['stage', 'instance'], registers: [registry] }),
  lastCommit: new Gauge({ name: 'fraudstream_stage_last_commit_timestamp_seconds', help: 'When the member last committed a batch', labelNames: ['stage', 'instance'], registers: [registry] }),
  latency: new Histogram({
    name: 'fraudstream_stage_latency_seconds',
    help: 'From the message timestamp in Kafka to the stage output being committed',
    labelNames: ['stage'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  }),
  batchSeconds: new Histogram({
    name: 'fraudstream_batch_seconds',
    help: 'Processing time of one consumed batch',
    labelNames: ['stage'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
  phaseSeconds: new Counter({
    name: 'fraudstream_batch_phase_seconds_total',
    help: 'Wall time spent in each phase of the stage runner (lookup, decide, claim, send, offsets, commit), summed over batches',
    labelNames: ['stage', 'phase'],
    registers: [registry],
  }),
  kafkaRetries: new Counter({
    name: 'fraudstream_kafka_retries_total',
    help: 'Broker answers kafkajs retried on its own (a transaction still closing, a coordinator or leader that moved), by reason; logged at debug only',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, n] of kafkaRetryCounts()) {
        const delta = n - (retriesSeen.get(reason) ?? 0);
        if (delta > 0) this.inc({ reason }, delta);
        retriesSeen.set(reason, n);
      }
    },
  }),
  lag: new Gauge({
    name: 'fraudstream_consumer_lag',
    help: "End offset minus the group's committed offset, read from the broker every few seconds",
    labelNames: ['stage', 'topic', 'partition'],
    registers: [registry],
  }),
};

type HealthSource = () => { status: string; stage?: string; instance?: string };
const healthSources = new Set<HealthSource>();

/** Stages register what /healthz on the metrics port reports (200 when every member is up, else 503). */
export function registerHealth(source: HealthSource): () => void {
  healthSources.add(source);
  return () => healthSources.delete(source);
}

export function healthReport(): { ok: boolean; members: Array<ReturnType<HealthSource>> } {
  const members = [...healthSources].map((h) => h());
  return { ok: members.length > 0 && members.every((m) => m.status === 'up'), members };
}

export function serveMetrics(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
    } else if (req.url === '/healthz') {
      const report = healthReport();
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(report));
    } else {
      res.writeHead(404);
      res.end('see /metrics or /healthz');
    }
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

/**
 * Counts a committed batch's outputs by action (from OutMessage.action) into the Prometheus counters; returns the
 * counts. ESCALATE is detect handing a transaction on, not a decision.
 */
export function countOutputs(stage: PipelineStage, outputs: Array<Array<{ action?: string }>>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const out of outputs) for (const m of out) if (m.action) counts[m.action] = (counts[m.action] ?? 0) + 1;
  // Once per action and batch, not per message (prom-client hashes the labels on every call).
  for (const [action, n] of Object.entries(counts)) {
    if (action === 'ESCALATE') metrics.escalations.inc(n);
    else metrics.decisions.inc({ action, stage }, n);
  }
  return counts;
}

/** countOutputs, and the counts added to Redis (what /healthz reports across processes) at once. */
export async function tallyOutputs(redis: Redis, prefix: string, stage: PipelineStage, outputs: Array<Array<{ action?: string }>>): Promise<void> {
  await countDecisions(redis, prefix, countOutputs(stage, outputs));
}
