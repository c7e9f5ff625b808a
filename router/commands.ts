import type { Command } from '../cli/command.ts';
import { parseFlags, numberFlag, untilSignal } from '../cli/command.ts';
import { loadConfig } from '../core/config.ts';
import { logger } from '../core/logger.ts';
import { serveMetrics } from './metrics.ts';
import { startPipeline, type StageName } from './pipeline.ts';
import { loadNamedVersion, loadServingModels } from './serving-models.ts';

function stageCommand(name: string, stages: StageName[], summary: string): Command {
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

const bench: Command = {
  name: 'bench pipeline',
  summary: 'end-to-end decisions/s (burst) and latency percentiles (paced) of detect + escalate on real Kafka and Redis',
  usage: '[--events N] [--rate EPS] [--seconds S] [--model DIR|latest|none] [--instances N] [--out bench-results/pipeline.json]',
  async run(argv) {
    const { values: v } = parseFlags(this, argv, {
      events: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      model: { type: 'string' },
      instances: { type: 'string' },
      out: { type: 'string' },
    });
    const { benchPipeline } = await import('./bench.ts');
    const { table } = await benchPipeline({
      config: loadConfig(),
      events: numberFlag('events', v.events, 20_000, { min: 100, max: 5_000_000, integer: true }),
      rate: numberFlag('rate', v.rate, 500, { min: 1, max: 100_000 }),
      seconds: numberFlag('seconds', v.seconds, 10, { min: 1, max: 600 }),
      model: v.model ?? 'latest',
      instances: numberFlag('instances', v.instances, 1, { min: 1, max: 16, integer: true }),
      out: v.out ?? 'bench-results/pipeline.json',
      log: (l) => console.error(l),
    });
    console.log(table);
    console.log(`results written to ${v.out ?? 'bench-results/pipeline.json'}`);
  },
};

export const commands: Command[] = [
  stageCommand('detect', ['detect'], 'run the detect stage (features, isolation forest, XGBoost, rules) as a consumer-group member'),
  stageCommand('escalate', ['escalate'], 'run the escalate stage (card history, heavy model, review queue) as a consumer-group member'),
  stageCommand('stages', ['detect', 'escalate'], 'run detect and escalate in one process'),
  bench,
];
