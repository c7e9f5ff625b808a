/**
 * `npm run demo`: the whole system in one command. Uses the configured Kafka and Redis, or the ones on the
 * default loopback ports, or starts its own; builds the review UI if missing or stale; runs every stage, the
 * review UI and a live simulation; stops everything it started on Ctrl-C. With no model version yet it trains one
 * in a child process while the stages already decide by rules (the cold-start mode), then serves the new model
 * through the policy (a hot swap): the live console is up in seconds, not after training.
 *
 * The terminal is for a person: a line per startup phase, the address and login, the time from start to the
 * first decision on the Live page, then a one-line summary every --summary-every seconds. Component logs are at
 * warn unless LOG_LEVEL says otherwise (real problems still show; kafkajs retries that succeed are debug).
 */
import { redisAnswers } from '../infra/services.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PIPELINE_STAGES, type Decision } from '../core/contracts.ts';
import { loadConfig } from '../core/config.ts';
import { createKafka, ensureTopics, waitForKafka } from '../core/kafka.ts';
import { kafkaChangelog } from '../core/changelog.ts';
import { createRedis } from '../core/redis.ts';
import { startLocalKafka, stopLocalKafka } from '../infra/kafka-local.ts';
import { startLocalRedis } from '../infra/redis-local.ts';
import type { ModelCard } from '../detectors/model-card.ts';
import { listModelVersions } from '../detectors/model-version.ts';
import { createSimulator, type Simulator } from '../producers/simulator.ts';
import { warmFromModel } from '../detectors/warm.ts';
import { metrics, serveMetrics } from '../router/metrics.ts';
import { startPipeline } from '../router/pipeline.ts';
import { COLD_START_THRESHOLDS, RedisPolicyStore, defaultPolicy } from '../state/policy.ts';
import { startSearchIndexer } from '../router/search-indexer.ts';
import { loadNamedVersion, loadServingModels } from '../router/serving-models.ts';
import { ensureUiBuilt } from '../review-ui/build.ts';
import { startUiServer } from '../review-ui/server/app.ts';
import { promotionInput } from '../review-ui/server/serving.ts';
import { numberFlag, parseFlags, untilSignal, type Command } from '../core/command.ts';


/** "1m05s" from seconds. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${String(Math.floor(seconds - m * 60)).padStart(2, '0')}s`;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const n = (x: number) => Math.round(x).toLocaleString('en-US');

class Interrupted extends Error {}

/**
 * Trains a model version in a child process (the `train` command as it is), showing one line per training
 * phase instead of its full output; the output is kept and shown only if training fails.
 */
function trainInChild(args: string[], env: NodeJS.ProcessEnv, say: (line: string) => void): { child: ChildProcess; done: Promise<string> } {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), main, 'train', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let lastPhase = '';
  let lastAt = 0;
  const onLine = (line: string) => {
    // stderrProgress lines: "[  12.3 s] phase: message"; a new phase is shown at once, the same one every 15 s.
    const m = /^\[\s*[\d.]+ s\] ([^:]+): (.*)$/.exec(line);
    if (!m) return;
    const [, phase, message] = m as unknown as [string, string, string];
    if (phase !== lastPhase || Date.now() - lastAt > 15_000) {
      say(`training: ${phase}: ${message}`);
      lastPhase = phase;
      lastAt = Date.now();
    }
  };
  let partial = '';
  child.stderr?.on('data', (b: Buffer) => {
    output += b.toString();
    const lines = (partial + b.toString()).split('\n');
    partial = lines.pop() ?? '';
    lines.forEach(onLine);
  });
  child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  const done = new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(output);
      // Stopped by a signal: Ctrl-C reaches the whole process group, the demo's own shutdown follows.
      else if (signal) reject(new Interrupted(`training stopped by ${signal}`));
      else reject(new Error(`training failed (exit ${code}):\n${output.split('\n').slice(-30).join('\n')}`));
    });
  });
  return { child, done };
}

/** The card of the version training just wrote (named in its output; else the newest). */
async function trainedCard(modelDir: string, trainOutput: string): Promise<{ dir: string; card: ModelCard }> {
  const dir = /model version: (.+)/.exec(trainOutput)?.[1]?.trim() ?? path.join(modelDir, (await listModelVersions(modelDir)).at(-1) ?? '');
  return { dir, card: JSON.parse(await readFile(path.join(dir, 'model-card.json'), 'utf8')) as ModelCard };
}

async function sumOf(counter: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string | number | undefined> }> }> }, by?: string): Promise<{ total: number; by: Record<string, number> }> {
  const out = { total: 0, by: {} as Record<string, number> };
  for (const v of (await counter.get()).values) {
    out.total += v.value;
    if (by) {
      const k = String(v.labels[by]);
      out.by[k] = (out.by[k] ?? 0) + v.value;
    }
  }
  return out;
}

/** The demo's simulation, whose world can be replaced while it runs (the Replay page keeps driving it). */
function switchableSimulator(initial: Simulator): { simulator: Simulator; switchTo(next: Simulator): Promise<void> } {
  let current = initial;
  const simulator: Simulator = {
    start: () => current.start(),
    stop: () => current.stop(),
    setRate: (eps) => current.setRate(eps),
    inject: (scenario, count) => current.inject(scenario, count),
    stats: () => current.stats(),
    breachOf: (txId) => current.breachOf(txId),
  };
  return {
    simulator,
    async switchTo(next) {
      const { running, targetRate } = current.stats();
      await current.stop();
      next.setRate(targetRate);
      current = next;
      if (running) await next.start();
    },
  };
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run everything: Kafka + Redis (if none), a model (if none), the review UI build (if stale), all stages, the UI and a live simulation',
  usage: '[--rate EVENTS_PER_SEC] [--train-events N] [--seed S] [--drift] [--summary-every SECONDS (0 = off)]',
  async run(argv) {
    const { values } = parseFlags(this, argv, {
      rate: { type: 'string' },
      'train-events': { type: 'string' },
      seed: { type: 'string' },
      'summary-every': { type: 'string' },
      drift: { type: 'boolean' },
    });
    // The holiday-season shift in legitimate behaviour, from the first live transaction: what the drift panel is for.
    const world = { drift: values.drift === true };
    const rate = numberFlag('rate', values.rate, 50, { min: 0.1, max: 100_000 });
    const trainEvents = numberFlag('train-events', values['train-events'], 100_000, { min: 1_000, max: 10_000_000, integer: true });
    const seed = numberFlag('seed', values.seed, Date.now() % 1_000_000, { min: 0, integer: true });
    const summaryEvery = numberFlag('summary-every', values['summary-every'], 30, { min: 0, max: 86_400 });
    // Before the first logger() call: the root logger reads LOG_LEVEL once.
    const ownLogLevel = !process.env.LOG_LEVEL;
    if (ownLogLevel) process.env.LOG_LEVEL = 'warn';

    const startedAt = performance.timeOrigin;
    const since = () => (Date.now() - startedAt) / 1000;
    const say = (line: string) => console.error(`[demo] ${duration(since()).padStart(7)}  ${line}`);
    const base = loadConfig();
    /** Stopped in reverse order; a stop that returns false had nothing to stop and says nothing. */
    const stops: Array<[string, () => Promise<unknown> | unknown]> = [];
    let signalled: NodeJS.Signals | undefined;
    let training: ChildProcess | undefined;
    const signal = untilSignal().then((sig) => {
      signalled = sig;
      training?.kill('SIGTERM');
      return sig;
    });
    const checkpoint = () => {
      if (signalled) throw new Interrupted(`${signalled} during startup`);
    };

    try {
      // Kafka: configured, or already on the default port, or our own.
      let brokers = base.kafka.brokers;
      let kafkaFrom = 'configured';
      if (!process.env.KAFKA_BROKERS) {
        const running = await waitForKafka({ brokers, security: base.kafka.security }, 1_500).then(() => true, () => false);
        kafkaFrom = 'already running';
        if (!running) {
          say('no Kafka configured or running: starting one (Maven jars, KRaft)');
          const [host, port] = (brokers[0] ?? '127.0.0.1:9092').split(':');
          const k = await startLocalKafka({ dataDir: base.dataDir, host, port: Number(port), onProgress: (l) => say(`Kafka: ${l}`) });
          brokers = k.brokers;
          kafkaFrom = k.started ? `started by the demo, log ${k.logFile}` : 'already running';
          if (k.started) stops.push(['Kafka', () => stopLocalKafka({ dataDir: base.dataDir })]);
        }
      }
      checkpoint();
      let redisUrl = base.redis.url;
      let redisFrom = process.env.REDIS_URL ? 'configured' : 'already running';
      if (!process.env.REDIS_URL && !(await redisAnswers1s(redisUrl))) {
        const r = await startLocalRedis({ maxmemory: base.redis.maxmemory });
        redisUrl = r.url;
        redisFrom = 'started by the demo';
        stops.push(['Redis', () => r.stop()]);
      }
      // The demo's one account is an admin: the demo is for trying every page (policy, models, replay), not only cases.
      const seedUsers = process.env.REVIEWER_SEED ?? `admin:${randomBytes(6).toString('hex')}`;
      const env = { ...process.env, KAFKA_BROKERS: brokers.join(','), REDIS_URL: redisUrl, REVIEWER_SEED: seedUsers };
      const config = loadConfig(env);
      await ensureTopics(config);
      say(`Kafka ${brokers.join(',')} (${kafkaFrom}) · Redis ${redisUrl} (${redisFrom}) · topics ready`);
      checkpoint();

      const buildUi = ensureUiBuilt({ onProgress: say }).catch((err: unknown) => {
        say(`review UI: ${(err as Error).message}; the stages run, the UI answers 503 until it is built`);
      });
      const untrained = (await listModelVersions(config.modelDir)).length === 0;
      let trained: Promise<string> | undefined;
      const trainingFrom = since();
      if (untrained) {
        say(`no model version under ${path.resolve(config.modelDir)}: training one on ${n(trainEvents)} generated events; the stages decide by rules until it is ready`);
        // 2,000 cards with 50,000 warm-up events: the trained world's cards are mature and its days pass quickly, so
        // the next demo can continue that very world (warm card histories) and the drift panel stays calm.
        const t = trainInChild(
          ['--events', String(trainEvents), '--cards', '2000', '--warmup', '50000', '--target-catch', '0.99', '--seed', '7', '--heavy-epochs', '3', '--heavy-rows', '20000'],
          env,
          say,
        );
        training = t.child;
        trained = t.done;
        trained.catch(() => undefined);
        stops.push([
          'training',
          async () => {
            if (!training || training.exitCode !== null) return false;
            training.kill('SIGTERM');
            await trained?.catch(() => undefined);
          },
        ]);
      }
      await buildUi;
      checkpoint();

      const serving = await loadServingModels(config, untrained ? 'none' : 'latest');
      const metricsServer = await serveMetrics(config.metricsPort);
      stops.push(['metrics', () => metricsServer.close()]);
      const pipeline = await startPipeline({
        config,
        stages: [...PIPELINE_STAGES],
        models: serving.models,
        featureStore: serving.featureStore,
        loadVersion: (name) => loadNamedVersion(config, name, serving.spec),
      });
      stops.push(['stages', () => pipeline.stop()]);
      const indexRedis = createRedis(config, 'search-index');
      const indexer = await startSearchIndexer({ config, kafka: createKafka(config, '-search-index'), redis: indexRedis });
      stops.push(['search indexer', async () => {
        await indexer.stop();
        indexRedis.disconnect();
      }]);
      say(`stages started: ${PIPELINE_STAGES.join(' + ')} (${serving.models ? `model ${serving.models.version}` : 'rules only for now'}, policy v${pipeline.policy.current().version})`);
      checkpoint();

      // With a model already there, the live world continues the world it was trained on, card histories loaded,
      // so drift monitoring compares like with like. A new model trained by this run serves the fresh world.
      const warm = serving.models && values.seed === undefined ? await warmFromModel(config, serving.models.version) : undefined;
      if (warm?.warmed) say(`card histories loaded: ${n(warm.cards)} cards, ${n(warm.transactions)} transactions in ${warm.seconds.toFixed(1)} s; the simulation continues model ${warm.version}'s world`);
      else if (warm) say(`the simulation starts a new world: ${warm.reason}`);
      const live = switchableSimulator(createSimulator(config, warm?.warmed ? { rate, world, continueFrom: warm.history } : { rate, world, seed }));
      const simulator = live.simulator;
      const ui = await startUiServer({ config, replaySimulator: { simulator, startedBy: 'npm run demo' } });
      stops.push(['review UI', () => ui.close()]);
      let first: { at: number; d: Decision } | undefined;
      const firstDecision = new Promise<void>((resolve) => {
        const off = ui.onDecision((d) => {
          // The Live page also gets decisions from earlier runs on the same topics: only this run's count.
          if (first || d.stage === 'review' || d.decidedAt < startedAt) return;
          first = { at: since(), d };
          off();
          resolve();
        });
      });
      await simulator.start();
      stops.push(['simulation', () => simulator.stop()]);
      say(`simulation: ${rate} transactions/s`);

      const [user, password] = seedUsers.split(',')[0]!.split(':');
      const logs = ownLogLevel
        ? 'warnings and errors only; every component: LOG_LEVEL=info npm run demo 2> demo.log (or debug)'
        : `LOG_LEVEL=${process.env.LOG_LEVEL}, on stderr`;
      console.log(
        [
          '',
          `fraudstream is running (${serving.models ? `model ${serving.models.version}` : trained ? 'rules only until the model is trained' : 'rules only'}, ${rate} transactions/s)`,
          `  review UI   ${ui.url}   login: ${user} / ${password}`,
          `  metrics     http://127.0.0.1:${config.metricsPort}/metrics`,
          `  health      ${ui.url}/healthz`,
          `  Kafka       ${config.kafka.brokers.join(',')}    Redis ${config.redis.url}`,
          `  logs        ${logs}`,
          'Ctrl-C stops everything the demo started.',
          '',
        ].join('\n'),
      );

      void firstDecision.then(() => {
        const f = first!;
        say(`first decision on the Live page ${f.at.toFixed(1)} s after start (${f.d.action} by ${f.d.stage}, ${f.d.versions.model === 'rules-only' ? 'rules only' : `model ${f.d.versions.model}`})`);
      });
      if (trained) {
        void trained
          .then(async (output) => {
            training = undefined;
            const { dir, card } = await trainedCard(config.modelDir, output);
            const e = card.test.ensemble;
            say(`trained in ${duration(since() - trainingFrom)}: model ${card.version} catches ${pct(e.catchRate)} of fraud on its test slice, blocks ${pct(e.blockShare)}, reviews ${pct(e.reviewShare)} (card: ${path.join(dir, 'model-card.md')})`);
            // Before the model serves: load its world's card histories and go on with that world, so its drift
            // counts compare live traffic with the very world it learned (warming starts its counts afresh).
            const continued = await warmFromModel(config, card.version);
            if (continued.warmed) {
              await live.switchTo(createSimulator(config, { rate, world, continueFrom: continued.history }));
              say(`card histories loaded (${n(continued.cards)} cards); the simulation now continues model ${card.version}'s world`);
            }
            const redis = createRedis(config, 'demo-redis');
            const record = kafkaChangelog(createKafka(config, '-demo-policy'), config.topics.policy);
            try {
              const store = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(COLD_START_THRESHOLDS), record);
              const policy = await store.update(promotionInput(await store.current(), card.version, card.thresholds), 'npm run demo');
              const off = ui.onDecision((d) => {
                if (d.versions.model !== card.version || d.stage === 'review') return;
                off();
                say(`first decision by model ${card.version}, ${duration(since())} after start (policy v${policy.version} serves it, with its card's thresholds)`);
              });
            } finally {
              await record.close();
              redis.disconnect();
            }
          })
          .catch((err: unknown) => {
            training = undefined;
            if (!signalled && !(err instanceof Interrupted)) say(`${(err as Error).message}\nthe stages keep deciding by rules; train with: npm run train`);
          });
      }

      let last = { at: since(), decided: 0 };
      const summary = async (): Promise<string> => {
        const [decided, dlq, retries, lag] = await Promise.all([sumOf(metrics.decisions, 'action'), sumOf(metrics.deadLetters), sumOf(metrics.kafkaRetries), sumOf(metrics.lag)]);
        const open = await ui.openCases().catch(() => NaN);
        const now = since();
        const perSecond = (decided.total - last.decided) / Math.max(1e-3, now - last.at);
        last = { at: now, decided: decided.total };
        const actions = ['ALLOW', 'BLOCK', 'REVIEW'].map((a) => `${a} ${n(decided.by[a] ?? 0)}`).join(' · ');
        return `${n(decided.total)} decided (${actions}) · ${perSecond.toFixed(0)}/s · ${Number.isNaN(open) ? '?' : n(open)} open cases · lag ${n(lag.total)} · DLQ ${n(dlq.total)} · Kafka retries ${n(retries.total)}`;
      };
      const ticker = summaryEvery > 0 ? setInterval(() => void summary().then(say, () => undefined), summaryEvery * 1000) : undefined;
      stops.push([
        'summary',
        () => {
          clearInterval(ticker);
          return false;
        },
      ]);

      await signal;
      say(`stopping: ${await summary().catch(() => 'no summary')}`);
      return 0;
    } catch (err) {
      if (err instanceof Interrupted || signalled) {
        say(`stopped during startup (${signalled})`);
        return 130;
      }
      throw err;
    } finally {
      for (const [name, stop] of stops.reverse()) {
        try {
          if ((await stop()) !== false) say(`stopped ${name}`);
        } catch (err) {
          say(`stopping ${name} failed: ${String(err)}`);
        }
      }
    }
  },
};

/** Redis on this URL answers PING within a second. */
const redisAnswers1s = (url: string): Promise<boolean> => redisAnswers(url, 1_000);
