/**
 * Kafka and Redis for a command a newcomer runs on a bare machine (`bench`): the ones the environment names, else
 * the ones answering on the default loopback ports, else its own (a broker from Maven jars, a throwaway
 * redis-server), stopped again when the command ends. A service the environment names but that does not answer
 * is an error within seconds, saying what to do, never minutes of retries.
 */
import type { KafkaSecurity } from '../core/config.ts';
import { Redis } from 'ioredis';
import { redactUrl } from '../core/config.ts';
import { ServiceUnavailableError } from '../core/errors.ts';
import { waitForKafka } from '../core/kafka.ts';
import { startLocalKafka, stopLocalKafka } from './kafka-local.ts';
import { join } from 'node:path';
import { startLocalRedis } from './redis-local.ts';

export interface FoundServices {
  brokers: string[];
  redisUrl: string;
  /** "configured", "already running" or "started by <command>, ...": for the command's first line. */
  kafkaFrom: string;
  redisFrom: string;
  /** Stops what was started here (nothing when everything was found running). */
  stop(): Promise<void>;
}

/** What finding and starting services takes: the real probes and starters, or fakes in a unit test. */
export interface ServicePorts {
  kafkaAnswers(brokers: string[], timeoutMs: number): Promise<boolean>;
  redisAnswers(url: string, timeoutMs: number): Promise<boolean>;
  startKafka(brokers: string[], say: (line: string) => void): Promise<{ brokers: string[]; started: boolean; logFile?: string; stop(): Promise<unknown> }>;
  startRedis(): Promise<{ url: string; stop(): Promise<unknown> }>;
}

export interface FindServicesOptions {
  /** KAFKA_BROKERS / REDIS_URL as the user set them (undefined: not set). */
  env: { KAFKA_BROKERS?: string; REDIS_URL?: string };
  /** The defaults the config falls back to when the variables are unset. */
  defaultBrokers: string[];
  defaultRedisUrl: string;
  /** The command, for messages ("bench"). */
  command: string;
  say: (line: string) => void;
  /** How long a configured service may take to answer. */
  configuredTimeoutMs?: number;
}

export async function redisAnswers(url: string, timeoutMs: number): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

export function realServicePorts(dataDir: string, security: KafkaSecurity = { protocol: 'PLAINTEXT' }, maxmemory?: string): ServicePorts {
  return {
    kafkaAnswers: (brokers, timeoutMs) => waitForKafka({ brokers, security }, timeoutMs).then(() => true, () => false),
    redisAnswers,
    startKafka: async (brokers, say) => {
      const [host, port] = (brokers[0] ?? '127.0.0.1:9092').split(':');
      const k = await startLocalKafka({ dataDir, host, port: Number(port), onProgress: say });
      return { brokers: k.brokers, started: k.started, logFile: k.logFile, stop: () => (k.started ? stopLocalKafka({ dataDir }) : Promise.resolve(false)) };
    },
    // Persistent (AOF, fsync every second) under the data directory, like the local broker's log; REDIS_MAXMEMORY with
    // volatile-lru (infra/redis-local.ts redisMemoryArgs).
    startRedis: () => startLocalRedis({ dir: join(dataDir, 'redis'), maxmemory }),
  };
}

export async function findOrStartServices(o: FindServicesOptions, ports: ServicePorts): Promise<FoundServices> {
  const timeout = o.configuredTimeoutMs ?? 5_000;
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    while (stops.length) await stops.pop()!().catch(() => undefined);
  };
  try {
    let brokers = o.defaultBrokers;
    let kafkaFrom: string;
    if (o.env.KAFKA_BROKERS) {
      brokers = o.env.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter(Boolean);
      if (!(await ports.kafkaAnswers(brokers, timeout))) {
        throw new ServiceUnavailableError(
          `KAFKA_BROKERS=${o.env.KAFKA_BROKERS}: no broker answered within ${timeout / 1000} s. Start that broker (npm run kafka:local), or unset KAFKA_BROKERS and ${o.command} starts its own.`,
        );
      }
      kafkaFrom = 'configured';
    } else if (await ports.kafkaAnswers(brokers, 1_500)) {
      kafkaFrom = 'already running';
    } else {
      o.say(`no Kafka configured or answering at ${brokers.join(',')}: starting one (Maven jars, KRaft)`);
      const k = await ports.startKafka(brokers, (l) => o.say(`Kafka: ${l}`));
      brokers = k.brokers;
      if (k.started) stops.push(() => k.stop());
      kafkaFrom = k.started ? `started by ${o.command}${k.logFile ? `, log ${k.logFile}` : ''}` : 'already running';
    }

    let redisUrl = o.defaultRedisUrl;
    let redisFrom: string;
    if (o.env.REDIS_URL) {
      redisUrl = o.env.REDIS_URL;
      if (!(await ports.redisAnswers(redisUrl, timeout))) {
        throw new ServiceUnavailableError(
          `REDIS_URL: no Redis answered at ${redactUrl(redisUrl)} within ${timeout / 1000} s. Start it, or unset REDIS_URL and ${o.command} starts its own redis-server.`,
        );
      }
      redisFrom = 'configured';
    } else if (await ports.redisAnswers(redisUrl, 1_000)) {
      redisFrom = 'already running';
    } else {
      const r = await ports.startRedis();
      redisUrl = r.url;
      stops.push(() => r.stop());
      redisFrom = `started by ${o.command}`;
    }
    return { brokers, redisUrl, kafkaFrom, redisFrom, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
