import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { FraudstreamError, ErrorCodes } from './errors.ts';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'a Kafka topic name: letters, digits, . _ -');

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
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:._-]*$/).default('fs:'),
  TOPIC_TRANSACTIONS: topicName.default('transactions'),
  TOPIC_DLQ: topicName.default('transactions.dlq'),
  TOPIC_DECISIONS: topicName.default('decisions'),
  TOPIC_ESCALATIONS: topicName.default('escalations'),
  TOPIC_CASES: topicName.default('cases'),
  TOPIC_LABELS: topicName.default('labels'),
  GROUP_DETECT: z.string().min(1).default('detect'),
  GROUP_ESCALATE: z.string().min(1).default('escalate'),
  UI_PORT: port.default(8080),
  UI_HOST: z.string().default('127.0.0.1'),
  METRICS_PORT: port.default(9464),
  STAGE_STALL_SECONDS: positiveInt.max(3600).default(20),
  MODEL_DIR: z.string().default('models'),
  DATA_DIR: z.string().default(join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fraudstream')),
  SESSION_SECRET: z.string().min(16, 'at least 16 characters').optional(),
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
}

export interface Config {
  kafka: { brokers: string[]; clientId: string; partitions: number; retentionMs: number };
  redis: { url: string; keyPrefix: string };
  topics: Topics;
  groups: { detect: string; escalate: string };
  ui: { host: string; port: number; sessionSecret?: string; reviewerSeed?: string };
  metricsPort: number;
  /** A stage member with lag and no committed batch for this long is "stalled" and rebuilt. */
  stallSeconds: number;
  modelDir: string;
  dataDir: string;
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
      return `${name}=${JSON.stringify(env[name] ?? '')}: ${i.message}`;
    });
    throw new FraudstreamError(ErrorCodes.CONFIG_INVALID, `invalid environment: ${lines.join('; ')}`);
  }
  const e = parsed.data;
  return {
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      partitions: e.KAFKA_PARTITIONS,
      retentionMs: e.KAFKA_RETENTION_HOURS * 3_600_000,
    },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    topics: {
      transactions: e.TOPIC_TRANSACTIONS,
      dlq: e.TOPIC_DLQ,
      decisions: e.TOPIC_DECISIONS,
      escalations: e.TOPIC_ESCALATIONS,
      cases: e.TOPIC_CASES,
      labels: e.TOPIC_LABELS,
    },
    groups: { detect: e.GROUP_DETECT, escalate: e.GROUP_ESCALATE },
    ui: { host: e.UI_HOST, port: e.UI_PORT, sessionSecret: e.SESSION_SECRET, reviewerSeed: e.REVIEWER_SEED },
    metricsPort: e.METRICS_PORT,
    stallSeconds: e.STAGE_STALL_SECONDS,
    modelDir: e.MODEL_DIR,
    dataDir: e.DATA_DIR,
  };
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
    },
    groups: { detect: `${base.groups.detect}${s}`, escalate: `${base.groups.escalate}${s}` },
    redis: { ...base.redis, keyPrefix: `${base.redis.keyPrefix}${suffix}:` },
  };
}

/** The environment that makes a child process (a CLI stage, say) load exactly this config. */
export function configEnv(config: Config): Record<string, string> {
  return {
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    KAFKA_PARTITIONS: String(config.kafka.partitions),
    REDIS_URL: config.redis.url,
    REDIS_KEY_PREFIX: config.redis.keyPrefix,
    TOPIC_TRANSACTIONS: config.topics.transactions,
    TOPIC_DLQ: config.topics.dlq,
    TOPIC_DECISIONS: config.topics.decisions,
    TOPIC_ESCALATIONS: config.topics.escalations,
    TOPIC_CASES: config.topics.cases,
    TOPIC_LABELS: config.topics.labels,
    GROUP_DETECT: config.groups.detect,
    GROUP_ESCALATE: config.groups.escalate,
    MODEL_DIR: config.modelDir,
  };
}
