import { accessSync, constants as fsConstants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { FraudstreamError, ErrorCodes } from './errors.ts';
import { PIPELINE_STAGES, type PipelineStage } from './contracts.ts';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'a Kafka topic name: letters, digits, . _ -');

export const KAFKA_SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type KafkaSecurityProtocol = (typeof KAFKA_SECURITY_PROTOCOLS)[number];
export const KAFKA_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** `auto` (decided from the cluster's size when topics are created) or a count. */
const autoOrCount = z
  .union([z.literal('auto'), z.coerce.number().int().min(1).max(32)], { message: 'auto or a whole number from 1 to 32' })
  .default('auto');

const readableFile = z
  .string()
  .min(1)
  .refine(
    (path) => {
      try {
        accessSync(path, fsConstants.R_OK);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'no readable file at this path (a PEM file)' },
  )
  .optional();

/** The variable naming a stage's consumer group: GROUP_DETECT, GROUP_ESCALATE, ... (one per registered stage). */
export function groupEnvName<S extends PipelineStage>(stage: S): `GROUP_${Uppercase<S>}` {
  return `GROUP_${stage.toUpperCase()}` as `GROUP_${Uppercase<S>}`;
}

const groupVars = Object.fromEntries(PIPELINE_STAGES.map((s) => [groupEnvName(s), z.string().min(1).default(s)])) as Record<
  ReturnType<typeof groupEnvName<PipelineStage>>,
  z.ZodDefault<z.ZodString>
>;

/** Every environment variable the project reads, with its default. The README table mirrors this. */
export const EnvSchema = z.object({
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'host:port')).min(1, 'at least one host:port')),
  KAFKA_CLIENT_ID: z.string().min(1).default('fraudstream'),
  KAFKA_PARTITIONS: positiveInt.max(1000).default(6),
  KAFKA_RETENTION_HOURS: positiveInt.default(168),
  KAFKA_REPLICATION_FACTOR: autoOrCount,
  KAFKA_MIN_INSYNC_REPLICAS: autoOrCount,
  KAFKA_WAIT_SECONDS: z.coerce.number().positive().max(3600).default(30),
  KAFKA_SECURITY_PROTOCOL: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(KAFKA_SECURITY_PROTOCOLS, { message: `one of ${KAFKA_SECURITY_PROTOCOLS.join(', ')}` }))
    .default('PLAINTEXT'),
  KAFKA_SASL_MECHANISM: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(KAFKA_SASL_MECHANISMS, { message: `one of ${KAFKA_SASL_MECHANISMS.join(', ')}` }))
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_SSL_CA_FILE: readableFile,
  KAFKA_SSL_CERT_FILE: readableFile,
  KAFKA_SSL_KEY_FILE: readableFile,
  KAFKA_SSL_KEY_PASSWORD: z.string().min(1).optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^\s*[^,\s]+:\d{1,5}\s*(,\s*[^,\s]+:\d{1,5}\s*)*$/, 'host:port of one or more cluster nodes, comma-separated (e.g. 127.0.0.1:7001,127.0.0.1:7002)')
    .optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:._-]*$/).default('fs:'),
  REDIS_MAXMEMORY: z
    .string()
    .regex(/^(0|\d+(kb|mb|gb))$/i, 'a size like 512mb or 2gb (0: no limit)')
    .transform((s) => s.toLowerCase())
    .default('1gb'),
  FEATURE_NEW_CARDS_PER_MINUTE: z.coerce.number().int('a whole number').min(0).max(10_000_000).default(1_000),
  FEATURE_CARD_PREFIX_LENGTH: z.coerce.number().int('a whole number').min(0).max(19).default(6),
  TOPIC_TRANSACTIONS: topicName.default('transactions'),
  TOPIC_DLQ: topicName.default('transactions.dlq'),
  TOPIC_DECISIONS: topicName.default('decisions'),
  TOPIC_ESCALATIONS: topicName.default('escalations'),
  TOPIC_CASES: topicName.default('cases'),
  TOPIC_LABELS: topicName.default('labels'),
  ...groupVars,
  TOPIC_AUDIT: topicName.default('audit'),
  TOPIC_POLICY: topicName.default('policy'),
  TOPIC_ACCOUNTS: topicName.default('accounts'),
  TOPIC_CASE_STATE: topicName.default('cases.state'),
  TOPIC_SHADOW: topicName.default('shadow'),
  AUDIT_HMAC_KEY: z.string().min(32, 'at least 32 characters (e.g. openssl rand -base64 48)').optional(),
  AUDIT_RETENTION_DAYS: positiveInt.max(36_500).default(3_650),
  UI_PORT: port.default(8080),
  UI_HOST: z.string().default('127.0.0.1'),
  METRICS_PORT: port.default(9464),
  STAGE_STALL_SECONDS: positiveInt.max(3600).default(20),
  DEDUPE_WINDOW_HOURS: positiveInt.max(24 * 30).default(24),
  MODEL_DIR: z.string().default('models'),
  DATA_DIR: z.string().default(join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fraudstream')),
  PREVIEW_FILES_DIR: z.string().optional(),
  PREVIEW_FILE_MAX_ROWS: positiveInt.max(10_000_000).default(200_000),
  SESSION_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  UI_DEMO_MODE: z.enum(['0', '1'], { message: '0 or 1' }).default('0'),
  UI_SESSION_MAX_HOURS: z.coerce.number().positive().max(24 * 90).default(12),
  UI_SSE_PER_SESSION: positiveInt.max(1000).default(6),
  GUARD_BLOCK_FACTOR: z.coerce.number().min(1, 'at least 1').max(1000).default(3),
  GUARD_WINDOW_MINUTES: z.coerce.number().positive().max(24 * 60).default(10),
  GUARD_MIN_DECISIONS: positiveInt.max(10_000_000).default(200),
  TRUST_PROXY: z
    .string()
    .regex(/^(off|loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(\/\d{1,3})?)(,(loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(\/\d{1,3})?))*$/, 'off, loopback, or a comma-separated list of proxy addresses/CIDRs')
    .default('off'),
  REVIEWER_SEED: z
    .string()
    .regex(/^[^:,]+:[^,]{8,}(,[^:,]+:[^,]{8,})*$/, 'name:password[,name:password] with passwords of 8+ characters')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Topics {
  transactions: string;
  dlq: string;
  decisions: string;
  escalations: string;
  cases: string;
  labels: string;
  /** Review console actions, long retention: the append-only record of who did what. */
  audit: string;
  /** Every policy version, keyed by its number, compacted: the record the Redis view of the policy is restored from. */
  policy: string;
  /** Reviewer accounts (scrypt hash, role, session epoch) keyed by name, compacted; a removed account is a tombstone. */
  accounts: string;
  /** Every case as it was last written (open by escalate, closed by a verdict) keyed by case id, compacted. */
  caseState: string;
  /** Shadow runs keyed by `run:<model>`, plus `active` and `last`, compacted. */
  shadow: string;
}

/** How every Kafka client of the project connects (core/kafka.ts turns it into kafkajs' ssl and sasl options). */
export interface KafkaSecurity {
  protocol: KafkaSecurityProtocol;
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: string };
  /** PEM files; none given with SSL means the system's trusted CAs. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string; keyPassword?: string };
}

export interface Config {
  kafka: {
    brokers: string[];
    clientId: string;
    partitions: number;
    retentionMs: number;
    /** `auto`: 1 on a one-broker cluster, up to 3 (and min.insync.replicas 2) on three or more (core/kafka.ts). */
    replication: { factor: number | 'auto'; minInsync: number | 'auto' };
    /** How long a command waits at start for a broker to answer before it gives up (exit 75). */
    waitMs: number;
    security: KafkaSecurity;
  };
  redis: {
    url: string;
    /** Startup nodes of a Redis Cluster (REDIS_CLUSTER_NODES); when set, `url` gives only credentials and TLS. */
    clusterNodes?: ClusterNode[];
    keyPrefix: string;
    /** maxmemory of the redis-server the project starts (infra/redis-local.ts, docker-compose.yml); '0' = none. */
    maxmemory: string;
  };
  /** The new-card cap (detectors/pure/new-card-cap.ts): new cards per minute per merchant and per BIN-like prefix. */
  features: { newCardCap: { perMinute: number; prefixLength: number } };
  topics: Topics;
  /** Each pipeline stage's consumer group. */
  groups: Record<PipelineStage, string>;
  ui: {
    host: string;
    port: number;
    sessionSecret?: string;
    reviewerSeed?: string;
    /** Sessions end this long after login, however active. */
    sessionMaxSeconds: number;
    /** express 'trust proxy': false unless TRUST_PROXY names the proxy whose X-Forwarded-For to believe. */
    trustProxy: false | string;
    /** Live (SSE) streams one session may hold open at once in one console process; the next is refused (429). */
    ssePerSession: number;
    auditRetentionMs: number;
    /** Key of the audit chain's HMAC (AUDIT_HMAC_KEY); undefined: a generated key kept under DATA_DIR (core/audit-key.ts). */
    auditHmacKey?: string;
    /** The Replay page may write synthetic transactions and labels into the live topics (npm run demo sets it). */
    demoMode: boolean;
    /** Roll back a policy whose first minutes block more than maxBlockRateFactor x the previous rate (review-ui/server/guard.ts). */
    guard: { maxBlockRateFactor: number; windowMinutes: number; minDecisions: number };
  };
  metricsPort: number;
  /** A stage member with lag and no committed batch for this long is "stalled" and rebuilt. */
  stallSeconds: number;
  /**
   * How long a decided tx id is remembered, so a resend is a duplicate (the stages' dedupe claims, state/outcomes.ts).
   * Claims are never evicted: Redis needs about 210 B x decisions/s x this window for them.
   */
  dedupeWindowSeconds: number;
  modelDir: string;
  dataDir: string;
  /**
   * Labelled replay files the Policy page may preview on: the operator puts them in `dir` (never a path typed in
   * the browser); a file of more than `maxRows` transactions is refused, since scoring holds it in memory.
   */
  previewFiles: { dir: string; maxRows: number };
}

/** Variables whose whole value is a secret: never printed, only their length. */
export const SECRET_ENV = ['SESSION_SECRET', 'REVIEWER_SEED', 'AUDIT_HMAC_KEY', 'KAFKA_SASL_PASSWORD', 'KAFKA_SSL_KEY_PASSWORD'] as const;

export interface ClusterNode {
  host: string;
  port: number;
}

/** `host:port,host:port` (REDIS_CLUSTER_NODES) into the cluster's startup nodes; throws saying what to fix. */
export function parseClusterNodes(raw: string): ClusterNode[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
      const port = m ? Number(m[2]) : NaN;
      if (!m || port < 1 || port > 65_535) throw new Error(`REDIS_CLUSTER_NODES: "${s}" is not host:port (e.g. 127.0.0.1:7001)`);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
    });
}

/** A URL with its password (and a user name that may carry one) replaced: redis://:***@host:6379. */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@');
  if (at < 0) return url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  return `${scheme}***${url.slice(at)}`;
}

/** What a config message may show of a variable's value: secrets never, URLs without credentials. */
export function redactEnvValue(name: string, value: string): string {
  if ((SECRET_ENV as readonly string[]).includes(name)) return `<redacted, ${value.length} characters>`;
  if (name.endsWith('_URL') || name === 'KAFKA_BROKERS') return redactUrl(value);
  return value;
}

function stageRecord(value: (stage: PipelineStage) => string): Record<PipelineStage, string> {
  return Object.fromEntries(PIPELINE_STAGES.map((s) => [s, value(s)])) as Record<PipelineStage, string>;
}

/** Parse the environment once. A bad value throws naming the variable and what it should be. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(EnvSchema.shape).flatMap((k) => (env[k] === undefined || env[k] === '' ? [] : [[k, env[k]]])),
  );
  const parsed = EnvSchema.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? '?');
      return `${name}=${JSON.stringify(redactEnvValue(name, env[name] ?? ''))}: ${i.message}`;
    });
    throw configError(lines);
  }
  const e = parsed.data;
  return {
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      partitions: e.KAFKA_PARTITIONS,
      retentionMs: e.KAFKA_RETENTION_HOURS * 3_600_000,
      replication: replicationFrom(e),
      waitMs: Math.round(e.KAFKA_WAIT_SECONDS * 1000),
      security: kafkaSecurityFrom(e),
    },
    redis: { url: e.REDIS_URL, ...(e.REDIS_CLUSTER_NODES ? { clusterNodes: parseClusterNodes(e.REDIS_CLUSTER_NODES) } : {}), keyPrefix: e.REDIS_KEY_PREFIX, maxmemory: e.REDIS_MAXMEMORY },
    features: { newCardCap: { perMinute: e.FEATURE_NEW_CARDS_PER_MINUTE, prefixLength: e.FEATURE_CARD_PREFIX_LENGTH } },
    topics: {
      transactions: e.TOPIC_TRANSACTIONS,
      dlq: e.TOPIC_DLQ,
      decisions: e.TOPIC_DECISIONS,
      escalations: e.TOPIC_ESCALATIONS,
      cases: e.TOPIC_CASES,
      labels: e.TOPIC_LABELS,
      audit: e.TOPIC_AUDIT,
      policy: e.TOPIC_POLICY,
      accounts: e.TOPIC_ACCOUNTS,
      caseState: e.TOPIC_CASE_STATE,
      shadow: e.TOPIC_SHADOW,
    },
    groups: stageRecord((s) => e[groupEnvName(s)]),
    ui: {
      host: e.UI_HOST,
      port: e.UI_PORT,
      sessionSecret: e.SESSION_SECRET,
      reviewerSeed: e.REVIEWER_SEED,
      sessionMaxSeconds: Math.round(e.UI_SESSION_MAX_HOURS * 3600),
      trustProxy: e.TRUST_PROXY === 'off' ? false : e.TRUST_PROXY,
      ssePerSession: e.UI_SSE_PER_SESSION,
      auditRetentionMs: e.AUDIT_RETENTION_DAYS * 86_400_000,
      ...(e.AUDIT_HMAC_KEY !== undefined ? { auditHmacKey: e.AUDIT_HMAC_KEY } : {}),
      demoMode: e.UI_DEMO_MODE === '1',
      guard: { maxBlockRateFactor: e.GUARD_BLOCK_FACTOR, windowMinutes: e.GUARD_WINDOW_MINUTES, minDecisions: e.GUARD_MIN_DECISIONS },
    },
    metricsPort: e.METRICS_PORT,
    stallSeconds: e.STAGE_STALL_SECONDS,
    dedupeWindowSeconds: e.DEDUPE_WINDOW_HOURS * 3600,
    modelDir: e.MODEL_DIR,
    dataDir: e.DATA_DIR,
    previewFiles: { dir: e.PREVIEW_FILES_DIR ?? join(e.DATA_DIR, 'preview-files'), maxRows: e.PREVIEW_FILE_MAX_ROWS },
  };
}

function configError(lines: string[]): FraudstreamError {
  return new FraudstreamError(ErrorCodes.CONFIG_INVALID, `invalid environment: ${lines.join('; ')}`);
}

function replicationFrom(e: Env): Config['kafka']['replication'] {
  const factor = e.KAFKA_REPLICATION_FACTOR;
  const minInsync = e.KAFKA_MIN_INSYNC_REPLICAS;
  if (typeof factor === 'number' && typeof minInsync === 'number' && minInsync > factor) {
    throw configError([`KAFKA_MIN_INSYNC_REPLICAS=${minInsync}: at most KAFKA_REPLICATION_FACTOR (${factor}), or no write could ever be acknowledged`]);
  }
  return { factor, minInsync };
}

/**
 * The Kafka security settings, checked as a whole: a setting the chosen protocol would ignore is an error (a
 * password given with PLAINTEXT most likely means the protocol was forgotten), and so is a SASL protocol without
 * its mechanism and credentials, or a client certificate without its key.
 */
function kafkaSecurityFrom(e: Env): KafkaSecurity {
  const protocol = e.KAFKA_SECURITY_PROTOCOL;
  const usesSasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const problems: string[] = [];
  const saslVars = ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const;
  const tlsVars = ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_KEY_PASSWORD'] as const;
  if (usesSasl) {
    for (const name of saslVars) {
      if (e[name] === undefined) problems.push(`${name}: required with KAFKA_SECURITY_PROTOCOL=${protocol}${name === 'KAFKA_SASL_MECHANISM' ? ` (${KAFKA_SASL_MECHANISMS.join(', ')})` : ''}`);
    }
  } else {
    for (const name of saslVars) {
      if (e[name] !== undefined) problems.push(`${name} is set but KAFKA_SECURITY_PROTOCOL=${protocol} does not use SASL: set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT), or unset ${name}`);
    }
  }
  if (!usesTls) {
    for (const name of tlsVars) {
      if (e[name] !== undefined) problems.push(`${name} is set but KAFKA_SECURITY_PROTOCOL=${protocol} does not use TLS: set KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL), or unset ${name}`);
    }
  } else if ((e.KAFKA_SSL_CERT_FILE === undefined) !== (e.KAFKA_SSL_KEY_FILE === undefined)) {
    problems.push('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE: a client certificate needs its key, set both or neither');
  } else if (e.KAFKA_SSL_KEY_PASSWORD !== undefined && e.KAFKA_SSL_KEY_FILE === undefined) {
    problems.push('KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_KEY_FILE');
  }
  if (problems.length > 0) throw configError(problems);
  const security: KafkaSecurity = { protocol };
  if (usesSasl && e.KAFKA_SASL_MECHANISM && e.KAFKA_SASL_USERNAME && e.KAFKA_SASL_PASSWORD) {
    security.sasl = { mechanism: e.KAFKA_SASL_MECHANISM, username: e.KAFKA_SASL_USERNAME, password: e.KAFKA_SASL_PASSWORD };
  }
  if (usesTls) {
    security.tls = {
      ...(e.KAFKA_SSL_CA_FILE !== undefined ? { caFile: e.KAFKA_SSL_CA_FILE } : {}),
      ...(e.KAFKA_SSL_CERT_FILE !== undefined ? { certFile: e.KAFKA_SSL_CERT_FILE } : {}),
      ...(e.KAFKA_SSL_KEY_FILE !== undefined ? { keyFile: e.KAFKA_SSL_KEY_FILE } : {}),
      ...(e.KAFKA_SSL_KEY_PASSWORD !== undefined ? { keyPassword: e.KAFKA_SSL_KEY_PASSWORD } : {}),
    };
  }
  return security;
}

/** An environment without any Kafka security variable (for a child that must take them from configEnv only). */
export function withoutKafkaSecurityEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^KAFKA_(SECURITY_PROTOCOL|SASL_|SSL_)/.test(k)));
}

/** The environment variables that give a child process the same Kafka security (credentials included). */
export function kafkaSecurityEnv(security: KafkaSecurity): Record<string, string> {
  const env: Record<string, string> = { KAFKA_SECURITY_PROTOCOL: security.protocol };
  if (security.sasl) {
    env.KAFKA_SASL_MECHANISM = security.sasl.mechanism;
    env.KAFKA_SASL_USERNAME = security.sasl.username;
    env.KAFKA_SASL_PASSWORD = security.sasl.password;
  }
  const t = security.tls;
  if (t?.caFile) env.KAFKA_SSL_CA_FILE = t.caFile;
  if (t?.certFile) env.KAFKA_SSL_CERT_FILE = t.certFile;
  if (t?.keyFile) env.KAFKA_SSL_KEY_FILE = t.keyFile;
  if (t?.keyPassword) env.KAFKA_SSL_KEY_PASSWORD = t.keyPassword;
  return env;
}

/** A copy of the config whose topics, groups and Redis keys are unique: tests run side by side without sharing state. */
export function isolatedConfig(base: Config, suffix: string): Config {
  const t = base.topics;
  const s = `.${suffix}`;
  return {
    ...base,
    topics: {
      transactions: t.transactions + s,
      dlq: t.dlq + s,
      decisions: t.decisions + s,
      escalations: t.escalations + s,
      cases: t.cases + s,
      labels: t.labels + s,
      audit: t.audit + s,
      policy: t.policy + s,
      accounts: t.accounts + s,
      caseState: t.caseState + s,
      shadow: t.shadow + s,
    },
    groups: stageRecord((stage) => `${base.groups[stage]}${s}`),
    redis: { ...base.redis, keyPrefix: `${base.redis.keyPrefix}${suffix}:` },
  };
}

/** The environment that makes a child process (a CLI stage, say) load exactly this config. */
export function configEnv(config: Config): Record<string, string> {
  return {
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    KAFKA_PARTITIONS: String(config.kafka.partitions),
    KAFKA_REPLICATION_FACTOR: String(config.kafka.replication.factor),
    KAFKA_MIN_INSYNC_REPLICAS: String(config.kafka.replication.minInsync),
    KAFKA_WAIT_SECONDS: String(config.kafka.waitMs / 1000),
    ...kafkaSecurityEnv(config.kafka.security),
    REDIS_URL: config.redis.url,
    ...(config.redis.clusterNodes ? { REDIS_CLUSTER_NODES: config.redis.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',') } : {}),
    REDIS_KEY_PREFIX: config.redis.keyPrefix,
    REDIS_MAXMEMORY: config.redis.maxmemory,
    FEATURE_NEW_CARDS_PER_MINUTE: String(config.features.newCardCap.perMinute),
    FEATURE_CARD_PREFIX_LENGTH: String(config.features.newCardCap.prefixLength),
    DEDUPE_WINDOW_HOURS: String(config.dedupeWindowSeconds / 3600),
    TOPIC_TRANSACTIONS: config.topics.transactions,
    TOPIC_DLQ: config.topics.dlq,
    TOPIC_DECISIONS: config.topics.decisions,
    TOPIC_ESCALATIONS: config.topics.escalations,
    TOPIC_CASES: config.topics.cases,
    TOPIC_LABELS: config.topics.labels,
    TOPIC_AUDIT: config.topics.audit,
    TOPIC_POLICY: config.topics.policy,
    TOPIC_ACCOUNTS: config.topics.accounts,
    TOPIC_CASE_STATE: config.topics.caseState,
    TOPIC_SHADOW: config.topics.shadow,
    ...(config.ui.auditHmacKey !== undefined ? { AUDIT_HMAC_KEY: config.ui.auditHmacKey } : {}),
    DATA_DIR: config.dataDir,
    ...Object.fromEntries(PIPELINE_STAGES.map((s) => [groupEnvName(s), config.groups[s]])),
    MODEL_DIR: config.modelDir,
  };
}
