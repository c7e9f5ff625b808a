import type { Command } from '../core/command.ts';
import { parseFlags, numberFlag, untilSignal } from '../core/command.ts';
import { loadConfig } from '../core/config.ts';
import { logger } from '../core/logger.ts';
import { serveMetrics } from './metrics.ts';
import { startPipeline } from './pipeline.ts';
import { startSearchIndexer } from './search-indexer.ts';
import { createKafka } from '../core/kafka.ts';
import { createRedis } from '../core/redis.ts';
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
      const pipeline = await startPipeline({ config, stages, instances, models: serving.models, featureStore: serving.featureStore, loadVersion: (name) => loadNamedVersion(config, name, serving.spec), instanceId: values['instance-id'] });
      const log = logger(name);
      // The search index is written where the decisions flow, in the process that runs escalate (issue 21).
      const indexRedis = stages.includes('escalate') ? createRedis(config, 'search-index') : undefined;
      const indexer = indexRedis ? await startSearchIndexer({ config, kafka: createKafka(config, '-search-index'), redis: indexRedis }) : undefined;
      log.info({ metrics: `http://127.0.0.1:${port}/metrics` }, 'running; Ctrl-C to stop');
      const sig = await untilSignal();
      log.info({ sig }, 'shutting down: finishing the batch, committing, disconnecting');
      await indexer?.stop();
      indexRedis?.disconnect();
      await pipeline.stop();
      metricsServer.close();
    },
  };
}

export const commands: Command[] = [
  ...stageList().map((s) => stageCommand(s.name, [s.name], s.summary)),
  stageCommand('stages', stageList().map((s) => s.name), `run ${stageList().map((s) => s.name).join(' and ')} in one process`),
];
