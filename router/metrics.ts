import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { kafkaRetryCounts } from '../core/kafka-retries.ts';

const retriesSeen = new Map<string, number>();

/** One registry per process; every stage in the process registers here. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'fraudstream_process_' });

export const metrics = {
  events: new Counter({ name: 'fraudstream_events_total', help: 'Messages consumed by a stage', labelNames: ['stage'], registers: [registry] }),
  decisions: new Counter({ name: 'fraudstream_decisions_total', help: 'Decisions produced, by action and deciding stage', labelNames: ['action', 'stage'], registers: [registry] }),
  escalations: new Counter({ name: 'fraudstream_escalations_total', help: 'Transactions sent from detect to escalate', registers: [registry] }),
  deadLetters: new Counter({ name: 'fraudstream_dead_letters_total', help: 'Malformed messages sent to the dead-letter topic', labelNames: ['stage'], registers: [registry] }),
  duplicates: new Counter({ name: 'fraudstream_duplicates_total', help: 'Messages whose transaction was already decided (not decided again)', labelNames: ['stage'], registers: [registry] }),
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
  lag: new Gauge({ name: 'fraudstream_consumer_lag', help: 'High watermark minus the next offset to consume', labelNames: ['stage', 'topic', 'partition'], registers: [registry] }),
};

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
    } else {
      res.writeHead(404);
      res.end('see /metrics');
    }
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

/** Decision counts by action in Redis (`<prefix>stats:decisions`), what /healthz reports across processes. */
export async function countDecisions(redis: Redis, prefix: string, counts: Record<string, number>): Promise<void> {
  const entries = Object.entries(counts);
  if (entries.length === 0) return;
  const pipe = redis.pipeline();
  for (const [action, n] of entries) pipe.hincrby(`${prefix}stats:decisions`, action, n);
  await pipe.exec();
}

/**
 * Counts a committed batch's outputs by action (from OutMessage.action) into the Prometheus counters and Redis.
 * ESCALATE is detect handing a transaction on, not a decision.
 */
export async function tallyOutputs(redis: Redis, prefix: string, stage: 'detect' | 'escalate', outputs: Array<Array<{ action?: string }>>): Promise<void> {
  const counts: Record<string, number> = {};
  for (const m of outputs.flat()) {
    if (!m.action) continue;
    counts[m.action] = (counts[m.action] ?? 0) + 1;
    if (m.action === 'ESCALATE') metrics.escalations.inc();
    else metrics.decisions.inc({ action: m.action, stage });
  }
  await countDecisions(redis, prefix, counts);
}
