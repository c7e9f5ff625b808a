/**
 * `npm run demo`: the whole system in one command. Uses the configured Kafka and Redis, or the ones on the
 * default loopback ports, or starts its own; trains a model version if none exists; runs every stage, the
 * review UI and a live simulation; stops everything it started on Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../core/config.ts';
import { ensureTopics, waitForKafka } from '../core/kafka.ts';
import { logger } from '../core/logger.ts';
import { startLocalKafka, stopLocalKafka } from '../infra/kafka-local.ts';
import { startLocalRedis } from '../infra/redis-local.ts';
import { commands as detectorCommands } from '../detectors/commands.ts';
import { listModelVersions } from '../detectors/model-version.ts';
import { createSimulator } from '../producers/simulator.ts';
import { serveMetrics } from '../router/metrics.ts';
import { startPipeline } from '../router/pipeline.ts';
import { loadNamedVersion, loadServingModels } from '../router/serving-models.ts';
import { startUiServer } from '../review-ui/server/app.ts';
import { numberFlag, parseFlags, untilSignal, type Command } from './command.ts';

async function redisAnswers(url: string): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
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

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run everything: Kafka + Redis (if none), a model (if none), all stages, the review UI and a live simulation',
  usage: '[--rate EVENTS_PER_SEC] [--train-events N] [--seed S]',
  async run(argv) {
    const { values } = parseFlags(this, argv, { rate: { type: 'string' }, 'train-events': { type: 'string' }, seed: { type: 'string' } });
    const rate = numberFlag('rate', values.rate, 50, { min: 0.1, max: 100_000 });
    const trainEvents = numberFlag('train-events', values['train-events'], 100_000, { min: 1_000, max: 10_000_000, integer: true });
    const seed = numberFlag('seed', values.seed, Date.now() % 1_000_000, { min: 0, integer: true });
    const log = logger('demo');
    const base = loadConfig();
    const stops: Array<[string, () => Promise<unknown> | unknown]> = [];
    const say = (line: string) => console.error(`[demo] ${line}`);

    try {
      // Kafka: configured, or already on the default port, or our own.
      let brokers = base.kafka.brokers;
      if (!process.env.KAFKA_BROKERS) {
        const running = await waitForKafka(brokers, 1_500).then(() => true, () => false);
        if (!running) {
          say('no Kafka configured or running: starting one (Maven jars, KRaft)');
          const [host, port] = (brokers[0] ?? '127.0.0.1:9092').split(':');
          const k = await startLocalKafka({ dataDir: base.dataDir, host, port: Number(port), onProgress: say });
          brokers = k.brokers;
          if (k.started) stops.push(['Kafka', () => stopLocalKafka({ dataDir: base.dataDir })]);
        }
      }
      let redisUrl = base.redis.url;
      if (!process.env.REDIS_URL && !(await redisAnswers(redisUrl))) {
        say('no Redis configured or running: starting a redis-server');
        const r = await startLocalRedis();
        redisUrl = r.url;
        stops.push(['Redis', () => r.stop()]);
      }
      const seedUsers = process.env.REVIEWER_SEED ?? `analyst:${randomBytes(6).toString('hex')}`;
      const env = { ...process.env, KAFKA_BROKERS: brokers.join(','), REDIS_URL: redisUrl, REVIEWER_SEED: seedUsers };
      const config = loadConfig(env);
      await ensureTopics(config);

      if ((await listModelVersions(config.modelDir)).length === 0) {
        say(`no model version under ${config.modelDir}: training one on ${trainEvents.toLocaleString()} generated events (about a minute)`);
        const train = detectorCommands.find((c) => c.name === 'train');
        if (!train) throw new Error('the train command is missing');
        const code = await train.run(['--events', String(trainEvents), '--seed', '7', '--heavy-epochs', '3', '--heavy-rows', '20000']);
        if (code) throw new Error(`training failed (exit ${code})`);
      }

      const serving = await loadServingModels(config, 'latest');
      const metricsServer = await serveMetrics(config.metricsPort);
      stops.push(['metrics', () => metricsServer.close()]);
      const pipeline = await startPipeline({
        config,
        stages: ['detect', 'escalate'],
        models: serving.models,
        featureStore: serving.featureStore,
        loadVersion: (name) => loadNamedVersion(config, name),
      });
      stops.push(['stages', () => pipeline.stop()]);
      const ui = await startUiServer({ config });
      stops.push(['review UI', () => ui.close()]);
      const simulator = createSimulator(config, { rate, seed });
      await simulator.start();
      stops.push(['simulation', () => simulator.stop()]);

      const [user, password] = seedUsers.split(',')[0]!.split(':');
      console.log(
        [
          '',
          `fraudstream is running (model ${serving.models?.version ?? 'rules-only'}, ${rate} transactions/s)`,
          `  review UI   ${ui.url}   login: ${user} / ${password}`,
          `  metrics     http://127.0.0.1:${config.metricsPort}/metrics`,
          `  health      ${ui.url}/healthz`,
          `  Kafka       ${config.kafka.brokers.join(',')}    Redis ${config.redis.url}`,
          'Ctrl-C stops everything the demo started.',
          '',
        ].join('\n'),
      );
      const sig = await untilSignal();
      log.info({ sig }, 'stopping');
    } finally {
      for (const [name, stop] of stops.reverse()) {
        try {
          await stop();
          say(`stopped ${name}`);
        } catch (err) {
          say(`stopping ${name} failed: ${String(err)}`);
        }
      }
    }
  },
};
