import type { Command } from '../cli/command.ts';
import path from 'node:path';
import { parseFlags, numberFlag, untilSignal } from '../cli/command.ts';
import { UserInputError } from '../core/errors.ts';
import { CEILING_MODES, type CeilingMode } from '../bench/pipeline/ceiling.ts';
import { assertModelChoice } from '../bench/pipeline/model-choice.ts';
import { loadConfig, redactUrl } from '../core/config.ts';
import { findOrStartServices, realServicePorts } from '../infra/services.ts';
import { logger } from '../core/logger.ts';
import { serveMetrics } from './metrics.ts';
import { startPipeline } from './pipeline.ts';
import { loadNamedVersion, loadServingModels } from './serving-models.ts';
import { stageList } from './stages.ts';
import type { PipelineStage } from '../core/contracts.ts';

function stageCommand(name: string, stages: PipelineStage[], summary: string): Command {
  return {
    name,
    summary,
    usage: '[--instances N] [--model DIR|latest|none] [--metrics-port PORT] [--instance-id NAME]',
    async run(argv) {
      const { values } = parseFlags(this, argv, {
        instances: { type: 'string' },
        model: { type: 'string' },
        'metrics-port': { type: 'string' },
        'instance-id': { type: 'string' },
      });
      const config = loadConfig();
      const instances = numberFlag('instances', values.instances, 1, { min: 1, max: 64, integer: true });
      const port = numberFlag('metrics-port', values['metrics-port'], config.metricsPort, { min: 0, max: 65535, integer: true });
      const serving = await loadServingModels(config, values.model ?? 'latest');
      const metricsServer = await serveMetrics(port);
      const pipeline = await startPipeline({ config, stages, instances, models: serving.models, featureStore: serving.featureStore, loadVersion: (name) => loadNamedVersion(config, name), instanceId: values['instance-id'] });
      const log = logger(name);
      log.info({ metrics: `http://127.0.0.1:${port}/metrics` }, 'running; Ctrl-C to stop');
      const sig = await untilSignal();
      log.info({ sig }, 'shutting down: finishing the batch, committing, disconnecting');
      await pipeline.stop();
      metricsServer.close();
    },
  };
}

const benchUsage =
  '[--events N] [--rate EPS] [--samples N] [--repeat N] [--share X] [--warmup N] [--model DIR|latest|none] [--train-events N] [--instances N] [--ceiling per-partition|serial] [--soak N] [--json FILE] [--chart FILE.svg] [--redis-memory [--events N]]';

/** `bench` and its old name `bench pipeline`: one run, the pipeline beside its kafkajs pass-through ceiling. */
function benchCommand(name: string): Command {
  return {
    name,
    summary:
      name === 'bench'
        ? 'the pipeline (detect + escalate) against one- and two-hop kafkajs pass-through ceilings in one run: produce -> visible latency at a fixed rate (median of --repeat runs) and at half the burst rate, events/s, ratio, memory, µs per step, bytes per decision'
        : 'same as `bench` (kept for old scripts)',
    usage: benchUsage,
    async run(argv) {
      const { values: v, positionals } = parseFlags(this, argv, {
        events: { type: 'string' },
        rate: { type: 'string' },
        samples: { type: 'string' },
        repeat: { type: 'string' },
        share: { type: 'string' },
        warmup: { type: 'string' },
        model: { type: 'string' },
        'train-events': { type: 'string' },
        instances: { type: 'string' },
        soak: { type: 'string' },
        ceiling: { type: 'string' },
        json: { type: 'string' },
        chart: { type: 'string' },
        'redis-memory': { type: 'boolean' },
      });
      if (v['redis-memory']) {
        // Redis memory per million decisions instead of the throughput run (bench/pipeline/redis-memory.ts).
        const events = numberFlag('events', v.events, 100_000, { min: 1_000, max: 5_000_000, integer: true });
        const { measureRedisMemory, formatRedisMemory } = await import('../bench/pipeline/redis-memory.ts');
        const json = v.json ?? 'bench-results/redis-memory.json';
        const r = await measureRedisMemory({ config: loadConfig(), decisions: events, cards: Math.max(1, Math.round(events / 5)), escalateShare: 0.05, reviewShare: 0.005, json, log: (l) => console.error(l) });
        console.log(formatRedisMemory(r));
        console.log(`\nresults written to ${json}`);
        return;
      }
      if (positionals.length) throw new UserInputError(`${name}: unexpected argument ${JSON.stringify(positionals[0])}\nusage: fraudstream ${name} ${benchUsage}`);
      const events = numberFlag('events', v.events, 20_000, { min: 1_000, max: 5_000_000, integer: true });
      const rate = numberFlag('rate', v.rate, 500, { min: 1, max: 100_000 });
      // 20,000 per run at 500/s: 40 s, 200 samples beyond the p99 in each run; --samples 2000 for a quick look.
      const samples = numberFlag('samples', v.samples, 20_000, { min: 100, max: 1_000_000, integer: true });
      const repeat = numberFlag('repeat', v.repeat, 3, { min: 1, max: 20, integer: true });
      const share = numberFlag('share', v.share, 0.5, { min: 0.01, max: 1 });
      const warmup = numberFlag('warmup', v.warmup, 2_000, { min: 0, max: 1_000_000, integer: true });
      const trainEvents = numberFlag('train-events', v['train-events'], 100_000, { min: 5_000, max: 10_000_000, integer: true });
      const instances = numberFlag('instances', v.instances, 1, { min: 1, max: 16, integer: true });
      const ceilingMode = (v.ceiling ?? 'per-partition') as CeilingMode;
      if (!CEILING_MODES.includes(ceilingMode)) throw new UserInputError(`--ceiling must be ${CEILING_MODES.join(' or ')}, got ${JSON.stringify(v.ceiling)}`);
      const soak = numberFlag('soak', v.soak, 0, { min: 0, max: 100_000_000, integer: true });
      if (soak > 0 && soak < 10_000) throw new UserInputError(`--soak must be 0 (off) or at least 10000 events, got ${soak}`);
      const model = v.model ?? 'latest';
      await assertModelChoice(model);
      const json = v.json ?? 'bench-results/bench.json';
      const chart = v.chart ?? path.join(path.dirname(json), `${path.basename(json, path.extname(json))}.svg`);
      if (!chart.endsWith('.svg')) throw new UserInputError(`--chart must name an .svg file, got ${JSON.stringify(chart)}`);
      const aborter = new AbortController();
      const onSignal = () => aborter.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const base = loadConfig();
      // Kafka and Redis as the demo finds them: configured (and answering within seconds), running on the default
      // ports, or started here and stopped at the end.
      const services = await findOrStartServices(
        { env: { KAFKA_BROKERS: process.env.KAFKA_BROKERS, REDIS_URL: process.env.REDIS_URL }, defaultBrokers: base.kafka.brokers, defaultRedisUrl: base.redis.url, command: 'bench', say: (l) => console.error(l) },
        realServicePorts(base.dataDir, base.kafka.security),
      );
      console.error(`Kafka ${services.brokers.join(',')} (${services.kafkaFrom}) · Redis ${redactUrl(services.redisUrl)} (${services.redisFrom})`);
      try {
        const config = loadConfig({ ...process.env, KAFKA_BROKERS: services.brokers.join(','), REDIS_URL: services.redisUrl });
        const { runBench } = await import('../bench/pipeline.ts');
        const r = await runBench({ config, events, rate, samples, repeat, share, warmup, model, trainEvents, instances, ceilingMode, soak, json, chart, log: (l) => console.error(l), signal: aborter.signal });
        console.log(r.text);
        console.log(`\nresults written to ${json}, chart to ${r.chart}`);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await services.stop();
      }
    },
  };
}

export const commands: Command[] = [
  ...stageList().map((s) => stageCommand(s.name, [s.name], s.summary)),
  stageCommand('stages', stageList().map((s) => s.name), `run ${stageList().map((s) => s.name).join(' and ')} in one process`),
  benchCommand('bench'),
  benchCommand('bench pipeline'),
];
