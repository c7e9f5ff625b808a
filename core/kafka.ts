// First: kafkajs must find the linear grouping in the module cache when it loads (core/kafkajs-grouping.ts).
import './kafkajs-grouping.ts';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type Admin, type ITopicConfig, type KafkaConfig, type Producer, type SASLOptions } from 'kafkajs';
import type { Config, KafkaSecurity, Topics } from './config.ts';
import { countKafkaRetry, kafkaRetryReason } from './kafka-retries.ts';
import { logger } from './logger.ts';
import { ErrorCodes, FraudstreamError, ServiceRefusedError, ServiceUnavailableError } from './errors.ts';
import { installReadCommittedFix } from './kafka-read-committed.ts';
import { installCoordinatorCache } from './kafka-coordinator-cache.ts';
import { JavaCompatiblePartitioner } from './partition.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
// Every process that builds a Kafka client through this module reads committed records only, aborted ones never
// (kafkajs' own filter lets some through after interleaved aborts: core/kafka-read-committed.ts).
installReadCommittedFix();
// ... and keeps each coordinator until a request fails (kafkajs asks again before every coordinator request).
installCoordinatorCache();

const kafkaLogLevel = (): logLevel =>
  process.env.KAFKAJS_LOG_LEVEL === 'debug' ? logLevel.DEBUG : process.env.VITEST ? logLevel.NOTHING : logLevel.WARN;

/** kafkajs client-level retries (connections, metadata, group calls) of every client the project builds. */
export const CLIENT_RETRY = { initialRetryTime: 200, retries: 12 } as const;
/** Where a Kafka client connects and how it authenticates: the part of the config every client shares. */
export interface KafkaTarget {
  brokers: string[];
  security: KafkaSecurity;
}

function readPem(path: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new FraudstreamError(ErrorCodes.CONFIG_INVALID, `${variable}=${path}: cannot read it (${(err as Error).message})`, { cause: err });
  }
}

/**
 * kafkajs' brokers, ssl and sasl options for a target. Every client of the project is built from these (createKafka,
 * the start-up probe, the chaos suite's clients), so a secured cluster needs its settings in one place only.
 */
export function kafkaConnection(target: KafkaTarget): Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'> {
  const { protocol, tls, sasl } = target.security;
  const out: Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'> = { brokers: target.brokers };
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    const options: ConnectionOptions = {};
    if (tls?.caFile) options.ca = [readPem(tls.caFile, 'KAFKA_SSL_CA_FILE')];
    if (tls?.certFile) options.cert = readPem(tls.certFile, 'KAFKA_SSL_CERT_FILE');
    if (tls?.keyFile) options.key = readPem(tls.keyFile, 'KAFKA_SSL_KEY_FILE');
    if (tls?.keyPassword) options.passphrase = tls.keyPassword;
    out.ssl = Object.keys(options).length > 0 ? options : true;
  }
  if (sasl) {
    const { username, password } = sasl;
    const mechanism: SASLOptions =
      sasl.mechanism === 'PLAIN'
        ? { mechanism: 'plain', username, password }
        : sasl.mechanism === 'SCRAM-SHA-256'
          ? { mechanism: 'scram-sha-256', username, password }
          : { mechanism: 'scram-sha-512', username, password };
    out.sasl = mechanism;
  }
  return out;
}

export function createKafka(config: Config, clientSuffix = ''): Kafka {
  const log = logger('kafkajs');
  return new Kafka({
    clientId: config.kafka.clientId + clientSuffix,
    ...kafkaConnection({ brokers: config.kafka.brokers, security: config.kafka.security }),
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
    createPartitioner: JavaCompatiblePartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
}

export interface Replication {
  factor: number;
  minInsync: number;
}

/**
 * The replication of the project's topics on a cluster of `brokerCount` brokers: the configured numbers, or with
 * `auto` 1 on one broker, 2 on two, 3 on three or more, and min.insync.replicas 2 from a factor of 3 up (a write is
 * acknowledged by two copies, so one broker may die without losing it or stopping writes), else 1.
 */
export function resolveReplication(configured: Config['kafka']['replication'], brokerCount: number): Replication {
  const factor = configured.factor === 'auto' ? Math.max(1, Math.min(3, brokerCount)) : configured.factor;
  if (factor > brokerCount) {
    throw new FraudstreamError(
      ErrorCodes.CONFIG_INVALID,
      `KAFKA_REPLICATION_FACTOR=${factor} but the cluster has ${brokerCount} broker${brokerCount === 1 ? '' : 's'}: set it to at most ${brokerCount}, or auto`,
    );
  }
  const minInsync = configured.minInsync === 'auto' ? (factor >= 3 ? 2 : 1) : configured.minInsync;
  if (minInsync > factor) {
    throw new FraudstreamError(ErrorCodes.CONFIG_INVALID, `KAFKA_MIN_INSYNC_REPLICAS=${minInsync} is more than the replication factor ${factor}: no write could be acknowledged`);
  }
  return { factor, minInsync };
}

/**
 * Partitions, retention and replication of every topic, in one place. Labels and DLQ are kept longer: they are
 * evidence.
 */
export function topicSpecs(config: Config, replication: Replication): ITopicConfig[] {
  const { partitions, retentionMs } = config.kafka;
  const t: Topics = config.topics;
  const spec = (topic: string, retention: number, numPartitions = partitions): ITopicConfig => ({
    topic,
    numPartitions,
    replicationFactor: replication.factor,
    configEntries: [
      { name: 'retention.ms', value: String(retention) },
      { name: 'min.insync.replicas', value: String(replication.minInsync) },
    ],
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
    // One partition, one key per version, compacted and never deleted by age: the policy's record (issue 18).
    compacted(spec(t.policy, retentionMs, 1)),
    // The other records of what operators and analysts created (issue 18): compacted changelogs, one value per key.
    compacted(spec(t.accounts, retentionMs, 1)),
    // Closed cases leave it CLOSED_CASE_TTL_SECONDS after their verdict (a tombstone from the ops service,
    // router/ops/case-records.ts): segments roll daily so compaction can drop them, tombstones kept a day after.
    compacted(spec(t.caseState, retentionMs), [{ name: 'segment.ms', value: String(CASE_STATE_SEGMENT_MS) }, { name: 'delete.retention.ms', value: String(CASE_STATE_SEGMENT_MS) }]),
    compacted(spec(t.shadow, retentionMs, 1)),
  ];
}

/** The case-state topic's segment roll and tombstone retention: one day. */
export const CASE_STATE_SEGMENT_MS = 86_400_000;

/** A changelog: compaction instead of deletion by age (the newest value of every key is kept until a tombstone removes it). */
function compacted(s: ITopicConfig, extra: ITopicConfig['configEntries'] = []): ITopicConfig {
  return { ...s, configEntries: [...(s.configEntries ?? []).filter((e) => e.name !== 'retention.ms'), { name: 'cleanup.policy', value: 'compact' }, ...extra] };
}

/** Creates the project's topics if they do not exist. Brokers run with auto-create off. */
export async function ensureTopics(config: Config, admin?: Admin): Promise<void> {
  const own = admin === undefined;
  // A command's first contact with Kafka: fail within KAFKA_WAIT_SECONDS with a message, not minutes of retries.
  if (own) await waitForKafka({ brokers: config.kafka.brokers, security: config.kafka.security }, config.kafka.waitMs);
  const a = admin ?? createKafka(config, '-admin').admin();
  if (own) await a.connect();
  try {
    const { brokers } = await a.describeCluster();
    const replication = resolveReplication(config.kafka.replication, brokers.length);
    const specs = topicSpecs(config, replication);
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

/** TLS verification failures: the broker answered, but not with a certificate we trust. Retrying will not help. */
const TLS_REFUSALS = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|EPROTO/;

/**
 * Why a broker that answered refused us (wrong credentials, an untrusted certificate, a plaintext client on a TLS
 * listener...), or undefined when it may simply not be up yet. The broker's own reason is kept in the message.
 */
export function kafkaRefusal(err: unknown, target: KafkaTarget): ServiceRefusedError | undefined {
  if (!(err instanceof Error)) return undefined;
  const where = target.brokers.join(',');
  if (err.name === 'KafkaJSSASLAuthenticationError') {
    const mechanism = target.security.sasl?.mechanism ?? '?';
    return new ServiceRefusedError(
      `Kafka at ${where} refused the credentials of KAFKA_SASL_USERNAME=${target.security.sasl?.username ?? '?'} (${mechanism}): ${err.message}. Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM`,
      { cause: err },
    );
  }
  const code = String((err as NodeJS.ErrnoException).code ?? '');
  if (TLS_REFUSALS.test(code) || /certificate|self[- ]signed|wrong version number|SSL routines/i.test(err.message)) {
    return new ServiceRefusedError(
      `the TLS handshake with Kafka at ${where} failed: ${err.message}${code ? ` (${code})` : ''}. Check KAFKA_SECURITY_PROTOCOL and KAFKA_SSL_CA_FILE (the CA that signed the broker's certificate)`,
      { cause: err },
    );
  }
  if (err.name === 'KafkaJSNonRetriableError' && err.cause instanceof Error) return kafkaRefusal(err.cause, target);
  return undefined;
}

/**
 * Resolves when a broker answers a metadata request, or rejects after timeoutMs (retryable: it may come up). A
 * broker that answers but refuses us (credentials, TLS) rejects at once with its reason: waiting would not help.
 */
export async function waitForKafka(target: KafkaTarget, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  // Each probe may take its own connection and request timeouts: never let one outlast the deadline by much.
  const perTry = Math.max(500, Math.min(5_000, timeoutMs));
  while (Date.now() < deadline) {
    const admin = new Kafka({
      clientId: 'fraudstream-probe',
      ...kafkaConnection(target),
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
      connectionTimeout: perTry,
      authenticationTimeout: perTry,
      requestTimeout: perTry,
    }).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      return;
    } catch (err) {
      const refused = kafkaRefusal(err, target);
      if (refused) throw refused;
      lastError = err;
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(500, deadline - Date.now()))));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  // A TLS listener closes a plaintext client's connection without a word: say so, since nothing else will.
  const hint = /Closed connection/i.test(reason) && target.security.protocol.endsWith('PLAINTEXT') ? ` (the broker closed each connection: does it want TLS? KAFKA_SECURITY_PROTOCOL=${target.security.protocol})` : '';
  throw new ServiceUnavailableError(
    `no Kafka broker answered at KAFKA_BROKERS=${target.brokers.join(',')} within ${formatSeconds(timeoutMs)} (KAFKA_WAIT_SECONDS); start one (fraudstream kafka start) or point KAFKA_BROKERS at yours. Last error: ${reason}${hint}`,
    { cause: lastError },
  );
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * The topic-partitions a sendBatch addressed by number that its answer does not name as written (errorCode 0).
 * kafkajs 2.2.4 can resolve a send without writing a partition whose leader died mid-send (issue 18's chaos suite
 * found it with multi-leader sends): the stage runner, replay's sink and the chaos traffic each send again what it left
 * out. Only messages with a partition set are checked; an answer that is not a list checks nothing.
 */
export function unwrittenPartitions(topicMessages: ReadonlyArray<{ topic: string; messages: ReadonlyArray<{ key?: unknown; partition?: number }> }>, answer: unknown): string[] {
  if (!Array.isArray(answer)) return [];
  // Called on every send of every batch: a plain loop over the messages, no array per message.
  const sent = new Set<string>();
  for (const t of topicMessages) for (const m of t.messages) if (m.partition !== undefined) sent.add(`${t.topic}:${m.partition}`);
  if (sent.size === 0) return [];
  const written = new Set((answer as Array<{ topicName?: string; partition?: number; errorCode?: number }>).filter((r) => (r.errorCode ?? 0) === 0).map((r) => `${r.topicName}:${r.partition}`));
  return [...sent].filter((tp) => !written.has(tp));
}
