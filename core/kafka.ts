import { Kafka, logLevel, Partitioners, type Admin, type ITopicConfig, type Producer } from 'kafkajs';
import type { Config, Topics } from './config.ts';
import { countKafkaRetry, kafkaRetryReason } from './kafka-retries.ts';
import { logger } from './logger.ts';
import { ServiceUnavailableError } from './errors.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const kafkaLogLevel = (): logLevel =>
  process.env.KAFKAJS_LOG_LEVEL === 'debug' ? logLevel.DEBUG : process.env.VITEST ? logLevel.NOTHING : logLevel.WARN;

/** kafkajs client-level retries (connections, metadata, group calls) of every client the project builds. */
export const CLIENT_RETRY = { initialRetryTime: 200, retries: 12 } as const;

export function createKafka(config: Config, clientSuffix = ''): Kafka {
  const log = logger('kafkajs');
  return new Kafka({
    clientId: config.kafka.clientId + clientSuffix,
    brokers: config.kafka.brokers,
    logLevel: kafkaLogLevel(),
    retry: { ...CLIENT_RETRY },
    logCreator: () => (entry) => {
      const { message, ...extra } = entry.log;
      // kafkajs logs at ERROR what it is about to retry (a coordinator still loading or moved, a transaction still
      // closing): not news unless the retries run out, and then the call fails and its caller reports it.
      const retry = entry.level <= logLevel.WARN ? kafkaRetryReason(message, extra) : undefined;
      if (retry?.counted) countKafkaRetry(retry.reason);
      // Our exactly-once rests on Kafka transactions, not on unlimited producer retries; a send that runs out of
      // retries fails loudly. So kafkajs' warning about bounded retries is not news at every start.
      if (retry) log.debug({ ...extra, retryReason: retry.reason }, message);
      else if (message.startsWith('Limiting retries for the idempotent producer')) log.debug(extra, message);
      else if (entry.level === logLevel.ERROR && !('retryCount' in extra)) log.error(extra, message);
      else if (entry.level <= logLevel.WARN) log.warn(extra, message);
      else log.debug(extra, message);
    },
  });
}

/** Keyed producer for the default (murmur2, Java-compatible) partitioner; idempotent so retries do not duplicate. */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
}

/** Partitions and retention of every topic, in one place. Labels and DLQ are kept longer: they are evidence. */
export function topicSpecs(config: Config): ITopicConfig[] {
  const { partitions, retentionMs } = config.kafka;
  const t: Topics = config.topics;
  const spec = (topic: string, retention: number, numPartitions = partitions): ITopicConfig => ({
    topic,
    numPartitions,
    replicationFactor: 1,
    configEntries: [{ name: 'retention.ms', value: String(retention) }],
  });
  return [
    spec(t.transactions, retentionMs),
    spec(t.decisions, retentionMs),
    spec(t.escalations, retentionMs),
    spec(t.cases, retentionMs * 4),
    spec(t.labels, retentionMs * 4),
    spec(t.dlq, retentionMs * 4, 1),
    // One partition: the audit is one ordered chain. Retention in years (AUDIT_RETENTION_DAYS), not traffic.
    spec(t.audit, config.ui.auditRetentionMs, 1),
  ];
}

/** Creates the project's topics if they do not exist. Brokers run with auto-create off. */
export async function ensureTopics(config: Config, admin?: Admin): Promise<void> {
  const own = admin === undefined;
  const a = admin ?? createKafka(config, '-admin').admin();
  if (own) await a.connect();
  try {
    const specs = topicSpecs(config);
    const existing = new Set(await a.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length > 0) {
      try {
        await a.createTopics({ topics: missing, waitForLeaders: false });
      } catch (err) {
        // Another process may have created some of them in between; anything else is real.
        if (!/already exists/i.test(String((err as Error).message))) throw err;
      }
      logger('kafka').info({ topics: missing.map((m) => m.topic) }, 'created topics');
    }
    await waitForLeaders(a, specs.map((s) => s.topic));
  } finally {
    if (own) await a.disconnect();
  }
}

/**
 * Waits until every partition of the topics has a leader. kafkajs' own waitForLeaders gives up on the
 * "does not host this topic-partition" answer a busy broker gives right after creation (seen in CI).
 */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics });
      const ready = meta.topics.length === topics.length && meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (ready) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ServiceUnavailableError(`topics ${topics.join(', ')} have no leader after ${timeoutMs} ms: ${String(lastError)}`, { cause: lastError });
}

/** Resolves when a broker answers a metadata request, or rejects after timeoutMs. */
export async function waitForKafka(brokers: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const admin = new Kafka({ clientId: 'fraudstream-probe', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
  throw new ServiceUnavailableError(`no Kafka broker answered at ${brokers.join(',')} within ${timeoutMs} ms (start one: fraudstream kafka start): ${String(lastError)}`, { cause: lastError });
}
