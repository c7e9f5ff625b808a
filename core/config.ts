import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { FraudstreamError, ErrorCodes } from './errors.ts';
import { PIPELINE_STAGES, type PipelineStage } from './contracts.ts';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'a Kafka topic name: letters, digits, . _ -');

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
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:._-]*$/).default('fs:'),
  TOPIC_TRANSACTIONS: topicName.default('transactions'),
  TOPIC_DLQ: topicName.default('transactions.dlq'),
  TOPIC_DECISIONS: topicName.default('decisions'),
  TOPIC_ESCALATIONS: topicName.default('escalations'),
  TOPIC_CASES: topicName.default('cases'),
  TOPIC_LABELS: topicName.default('labels'),
  ...groupVars,
  TOPIC_AUDIT: topicName.default('audit'),
  AUDIT_RETENTION_DAYS: positiveInt.max(36_500).default(3_650),
  UI_PORT: port.default(8080),
  UI_HOST: z.string().default('127.0.0.1'),
  METRICS_PORT: port.default(9464),
  STAGE_STALL_SECONDS: positiveInt.max(3600).default(20),
  MODEL_DIR: z.string().default('models'),
  DATA_DIR: z.string().default(join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fraudstream')),
  PREVIEW_FILES_DIR: z.string().optional(),
  PREVIEW_FILE_MAX_ROWS: positiveInt.max(10_000_000).default(200_000),
  SESSION_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  UI_DEMO_MODE: z.enum(['0', '1'], { message: '0 or 1' }).default('0'),
  UI_SESSION_MAX_HOURS: z.coerce.number().positive().max(24 * 90).default(12),
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
}

export interface Config {
  kafka: { brokers: string[]; clientId: string; partitions: number; retentionMs: number };
  redis: { url: string; keyPrefix: string };
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
    auditRetentionMs: number;
    /** The Replay page may write synthetic transactions and labels into the live topics (npm run demo sets it). */
    demoMode: boolean;
    /** Roll back a policy whose first minutes block more than maxBlockRateFactor x the previous rate (review-ui/server/guard.ts). */
    guard: { maxBlockRateFactor: number; windowMinutes: number; minDecisions: number };
  };
  metricsPort: number;
  /** A stage member with lag and no committed batch for this long is "stalled" and rebuilt. */
  stallSeconds: number;
  modelDir: string;
  dataDir: string;
  /**
   * Labelled replay files the Policy page may preview on: the operator puts them in `dir` (never a path typed in
   * the browser); a file of more than `maxRows` transactions is refused, since scoring holds it in memory.
   */
  previewFiles: { dir: string; maxRows: number };
}

/** Variables whose whole value is a secret: never printed, only their length. */
export const SECRET_ENV = ['SESSION_SECRET', 'REVIEWER_SEED'] as const;

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
      audit: e.TOPIC_AUDIT,
    },
    groups: stageRecord((s) => e[groupEnvName(s)]),
    ui: {
      host: e.UI_HOST,
      port: e.UI_PORT,
      sessionSecret: e.SESSION_SECRET,
      reviewerSeed: e.REVIEWER_SEED,
      sessionMaxSeconds: Math.round(e.UI_SESSION_MAX_HOURS * 3600),
      trustProxy: e.TRUST_PROXY === 'off' ? false : e.TRUST_PROXY,
      auditRetentionMs: e.AUDIT_RETENTION_DAYS * 86_400_000,
      demoMode: e.UI_DEMO_MODE === '1',
      guard: { maxBlockRateFactor: e.GUARD_BLOCK_FACTOR, windowMinutes: e.GUARD_WINDOW_MINUTES, minDecisions: e.GUARD_MIN_DECISIONS },
    },
    metricsPort: e.METRICS_PORT,
    stallSeconds: e.STAGE_STALL_SECONDS,
    modelDir: e.MODEL_DIR,
    dataDir: e.DATA_DIR,
    previewFiles: { dir: e.PREVIEW_FILES_DIR ?? join(e.DATA_DIR, 'preview-files'), maxRows: e.PREVIEW_FILE_MAX_ROWS },
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
      audit: t.audit + s,
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
    REDIS_URL: config.redis.url,
    REDIS_KEY_PREFIX: config.redis.keyPrefix,
    TOPIC_TRANSACTIONS: config.topics.transactions,
    TOPIC_DLQ: config.topics.dlq,
    TOPIC_DECISIONS: config.topics.decisions,
    TOPIC_ESCALATIONS: config.topics.escalations,
    TOPIC_CASES: config.topics.cases,
    TOPIC_LABELS: config.topics.labels,
    TOPIC_AUDIT: config.topics.audit,
    ...Object.fromEntries(PIPELINE_STAGES.map((s) => [groupEnvName(s), config.groups[s]])),
    MODEL_DIR: config.modelDir,
  };
}
