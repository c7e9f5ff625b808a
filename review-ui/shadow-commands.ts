/** `fraudstream shadow start|stop|report`: the challenger beside the champion on live traffic (issue 13). */
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { Command } from '../core/command.ts';
import { numberFlag, parseFlags } from '../core/command.ts';
import { loadConfig } from '../core/config.ts';
import { UserInputError } from '../core/errors.ts';
import { createRedis } from '../core/redis.ts';
import { DEFAULT_MATURE_AT } from '../router/pure/shadow.ts';
import { startShadow, stopShadow } from '../router/shadow/control.ts';
import { formatShadowReport, readShadowReport, requireReport } from '../router/shadow/report.ts';
import { createKafka, ensureTopics } from '../core/kafka.ts';
import { kafkaChangelog } from '../core/changelog.ts';
import type { ShadowRecord } from '../state/shadow.ts';
import { openAuditLog, type AuditLog } from '../state/audit.ts';

const cliUser = () => `cli:${userInfo().username}`;

async function withRedis<T>(name: string, f: (redis: ReturnType<typeof createRedis>, prefix: string, modelDir: string) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const redis = createRedis(config, name);
  try {
    return await f(redis, config.redis.keyPrefix, config.modelDir);
  } finally {
    redis.disconnect();
  }
}

/** Starting or stopping a run: recorded on the shadow topic and audited on the audit topic, as from the console (issue 18). */
async function withRecords<T>(f: (redis: ReturnType<typeof createRedis>, prefix: string, modelDir: string, record: ShadowRecord, audit: AuditLog) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const redis = createRedis(config, 'shadow');
  const kafka = createKafka(config, '-shadow');
  const ensure = () => ensureTopics(config);
  const record = kafkaChangelog(kafka, config.topics.shadow, { ensure });
  const log = openAuditLog(config, redis, kafka, { ensure });
  try {
    return await f(redis, config.redis.keyPrefix, config.modelDir, record, log.audit);
  } finally {
    await log.close();
    await record.close();
    redis.disconnect();
  }
}

export const commands: Command[] = [
  {
    name: 'shadow start',
    summary: 'score a challenger model version beside the champion on live traffic (never acting); running detect stages pick it up',
    usage: `--model VERSION [--thresholds policy|model] [--mature-at SHARE]   (SHARE of expected labels before metrics count, default ${DEFAULT_MATURE_AT})`,
    async run(argv) {
      const { values, positionals } = parseFlags(this, argv, { model: { type: 'string' }, thresholds: { type: 'string' }, 'mature-at': { type: 'string' } });
      if (!values.model || positionals.length > 0) throw new UserInputError(`shadow start: give the challenger with --model VERSION (a folder under MODEL_DIR)\nusage: fraudstream ${this.name} ${this.usage}`);
      const thresholds = values.thresholds ?? 'policy';
      if (thresholds !== 'policy' && thresholds !== 'model') throw new UserInputError(`--thresholds must be policy or model, got ${JSON.stringify(values.thresholds)}`);
      const matureAt = numberFlag('mature-at', values['mature-at'], DEFAULT_MATURE_AT, { min: 0.01, max: 1 });
      const model = values.model;
      const { run, replaced } = await withRecords(async (redis, prefix, modelDir, record, audit) => {
        const started = await startShadow(redis, prefix, modelDir, { model, by: cliUser(), thresholds, matureAt }, Date.now(), record);
        await audit.record({ who: cliUser(), action: 'shadow.start', target: 'shadow', before: started.replaced ? { model: started.replaced.model, startedAt: started.replaced.startedAt } : null, after: started.run });
        return started;
      });
      if (replaced && replaced.model !== run.model) console.log(`stopped challenger ${replaced.model}`);
      console.log(`shadow challenger ${run.model} started (thresholds: ${run.thresholds}, mature at ${run.matureAt}); detect stages pick it up within seconds`);
    },
  },
  {
    name: 'shadow stop',
    summary: 'stop scoring the shadow challenger (its pairs and report are kept)',
    usage: '',
    async run(argv) {
      const { positionals } = parseFlags(this, argv, {});
      if (positionals.length > 0) throw new UserInputError(`shadow stop: unexpected argument ${JSON.stringify(positionals[0])}`);
      const stopped = await withRecords(async (redis, prefix, _modelDir, record, audit) => {
        const s = await stopShadow(redis, prefix, cliUser(), record);
        if (s) await audit.record({ who: cliUser(), action: 'shadow.stop', target: 'shadow', before: { model: s.model, startedAt: s.startedAt }, after: { stoppedAt: s.stoppedAt } });
        return s;
      });
      console.log(stopped ? `shadow challenger ${stopped.model} stopped; its report stays readable: fraudstream shadow report --model ${stopped.model}` : 'no shadow challenger was active');
    },
  },
  {
    name: 'shadow report',
    summary: 'champion vs shadow challenger: agreement matrix, block/review/escalation rates, money blocked, precision/recall and label maturity',
    usage: '[--model VERSION] [--json FILE]   (default: the active challenger)',
    async run(argv) {
      const { values, positionals } = parseFlags(this, argv, { model: { type: 'string' }, json: { type: 'string' } });
      if (positionals.length > 0) throw new UserInputError(`shadow report: unexpected argument ${JSON.stringify(positionals[0])}`);
      const report = requireReport(await withRedis('shadow', (redis, prefix) => readShadowReport(redis, prefix, values.model)), values.model);
      console.log(formatShadowReport(report));
      if (values.json) {
        await writeFile(values.json, JSON.stringify(report, null, 2) + '\n');
        console.log(`\nwrote ${values.json}`);
      }
    },
  },
];
