/** `fraudstream policy preview`: a policy file against the current one on recent scored samples, in money. */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from '../core/command.ts';
import { numberFlag, parseFlags } from '../core/command.ts';
import { loadConfig } from '../core/config.ts';
import { MODEL_VERSION_NAME, PolicySchema, describeZodError, type Policy } from '../core/contracts.ts';
import type { Config } from '../core/config.ts';
import { stderrProgress } from '../detectors/progress.ts';
import { loadNamedVersion, loadServingModels } from '../router/serving-models.ts';
import type { ScoredSample } from '../state/types.ts';
import { samplesFromLabelledFile, type UnlabelledAs } from './file-preview.ts';
import { UserInputError } from '../core/errors.ts';
import { createRedis } from '../core/redis.ts';
import { kafkaChangelog } from '../core/changelog.ts';
import { createKafka, ensureTopics } from '../core/kafka.ts';
import type { MoneyFigures } from '../router/pure/money.ts';
import { initialPolicy, RedisPolicyStore } from '../state/policy.ts';
import { RedisSampleStore, SAMPLES_CAPACITY } from '../state/samples.ts';
import { moneyPreview, servedProbability, type MoneyPreview, type ServedProbability } from './server/preview.ts';
import { PolicyEditSchema } from './server/routes/policy.ts';

/**
 * Reads a policy file: either a policy's content (what PUT /api/policy takes) or a whole stored version as the
 * console shows it (its version, updatedAt and updatedBy are ignored: the file is a proposal).
 */
export async function readPolicyFile(file: string, current: Policy): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserInputError(`policy preview: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give --file a policy JSON file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserInputError(`policy preview: ${file} is not JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new UserInputError(`policy preview: ${file} must hold a JSON object (a policy)`);
  const { version: _v, updatedAt: _u, updatedBy: _b, ...content } = json as Record<string, unknown>;
  const parsed = PolicyEditSchema.safeParse(content);
  if (!parsed.success) throw new UserInputError(`policy preview: ${file} is not a valid policy: ${describeZodError(parsed.error)}`);
  return PolicySchema.parse({ ...parsed.data, version: current.version + 1, updatedAt: Date.now(), updatedBy: 'preview' });
}

const MONEY_ROWS: Array<[keyof MoneyFigures, string]> = [
  ['fraudMoneyCaught', 'fraud money caught (minor units)'],
  ['fraudMoneyMissed', 'fraud money let through'],
  ['legitMoneyBlocked', 'legitimate money blocked'],
  ['reviewsPerHour', 'reviews per hour'],
  ['blocked', 'blocked'],
  ['reviewed', 'reviewed'],
  ['transactions', 'transactions'],
  ['labelled', 'with a label'],
];

/** The table the command prints: one row per figure, current / proposed / change. */
export function moneyPreviewTable(m: MoneyPreview): string {
  const fmt = (k: keyof MoneyFigures, v: number) => (k === 'reviewsPerHour' ? v.toFixed(1) : String(Math.round(v)));
  const rows = MONEY_ROWS.map(([k, label]) => [label, fmt(k, m.current[k]), fmt(k, m.proposed[k]), (m.delta[k] > 0 ? '+' : '') + fmt(k, m.delta[k])]);
  const all = [['figure', 'current', 'proposed', 'change'], ...rows];
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    line(all[0]!),
    ...rows.map(line),
    '',
    `${m.samples} scored samples over ${m.spanHours.toFixed(2)} h; p(fraud) = ${m.pFraudSource}; labelled samples count as what they were.`,
  ].join('\n');
}

interface FileSource {
  data: string;
  labels?: string;
  model: string;
  unlabelled: UnlabelledAs;
}

/** The labelled-file flags, checked together: --labels, --model and --unlabelled only mean something with --data. */
function fileSourceFlags(v: { data?: string; labels?: string; model?: string; unlabelled?: string; samples?: string }): FileSource | undefined {
  if (v.data === undefined) {
    const stray = (['labels', 'model', 'unlabelled'] as const).filter((k) => v[k] !== undefined);
    if (stray.length) throw new UserInputError(`policy preview: --${stray.join(', --')} only apply to a labelled file: add --data TX.jsonl`);
    return undefined;
  }
  if (v.samples !== undefined) throw new UserInputError('policy preview: give either --samples N (recent live samples) or --data FILE (a labelled replay file), not both');
  const unlabelled = v.unlabelled ?? 'legit';
  if (unlabelled !== 'legit' && unlabelled !== 'unknown') throw new UserInputError(`policy preview: --unlabelled must be legit or unknown, got ${JSON.stringify(unlabelled)}`);
  const model = v.model ?? 'policy';
  if (!['latest', 'none', 'policy'].includes(model) && !MODEL_VERSION_NAME.test(model)) throw new UserInputError(`policy preview: --model must be latest, none or a model version folder name, got ${JSON.stringify(model)}`);
  return { data: v.data, ...(v.labels === undefined ? {} : { labels: v.labels }), model, unlabelled };
}

/**
 * Scores the file with the version the current policy serves (or --model), following each side's escalations to
 * the heavy model. Progress goes to stderr: a large file takes a while.
 */
async function fileSamples(config: Config, f: FileSource, current: Policy, proposed: Policy): Promise<{ samples: ScoredSample[]; served: ServedProbability | undefined }> {
  const choice = f.model === 'policy' ? (current.modelVersion ?? 'latest') : f.model;
  const served = choice === 'latest' || choice === 'none' ? await loadServingModels(config, choice) : { models: await loadNamedVersion(config, choice, 'its own') };
  const progress = stderrProgress();
  const result = await samplesFromLabelledFile(f.data, served.models, [current, proposed], {
    ...(f.labels === undefined ? {} : { labelsPath: f.labels }),
    unlabelled: f.unlabelled,
    onProgress: (done, total) => progress.update('score file', `${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} transactions`, true),
  });
  progress.done();
  console.log(
    `${f.data}: ${result.samples.length} transactions scored by ${served.models?.version ?? 'no model (rules only)'}; ${result.labelled} labelled, the rest counted as ${f.unlabelled === 'legit' ? 'legitimate' : 'unknown (expected loss)'}; heavy model on ${result.heavyScored}`,
  );
  // p(fraud) for unlabelled rows: the scoring version's own calibrator.
  return { samples: result.samples, served: served.models ? { version: served.models.version, probability: served.models.probability } : undefined };
}

export const commands: Command[] = [
  {
    name: 'policy preview',
    summary: 'a proposed policy (JSON file) against the current one on recent scored transactions, in money',
    usage: `--file POLICY.json [--samples N | --data TX.jsonl [--labels FILE] [--model VERSION|latest|none] [--unlabelled legit|unknown]] [--json FILE]   (N: 1..${SAMPLES_CAPACITY}, default 1000)`,
    async run(argv) {
      const { values, positionals } = parseFlags(this, argv, {
        file: { type: 'string' },
        samples: { type: 'string' },
        data: { type: 'string' },
        labels: { type: 'string' },
        model: { type: 'string' },
        unlabelled: { type: 'string' },
        json: { type: 'string' },
      });
      if (!values.file || positionals.length > 0) throw new UserInputError(`policy preview: give the proposed policy with --file POLICY.json\nusage: fraudstream ${this.name} ${this.usage}`);
      const n = numberFlag('samples', values.samples, 1_000, { min: 1, max: SAMPLES_CAPACITY, integer: true });
      const file = fileSourceFlags(values);
      const config = loadConfig();
      const redis = createRedis(config, 'policy-preview');
      const record = kafkaChangelog(createKafka(config, '-policy'), config.topics.policy, { ensure: () => ensureTopics(config) });
      try {
        const prefix = config.redis.keyPrefix;
        const current = await new RedisPolicyStore(redis, prefix, () => initialPolicy(), record).current();
        const proposed = await readPolicyFile(values.file, current);
        const { samples, served } = file
          ? await fileSamples(config, file, current, proposed)
          : { samples: await new RedisSampleStore(redis, prefix).recent(n), served: await servedProbability(config.modelDir, current) };
        const result = moneyPreview(current, proposed, samples, served);
        console.log(`policy v${current.version} (current) vs ${values.file} (proposed)${file ? `, on ${file.data}` : ''}`);
        console.log(moneyPreviewTable(result));
        if (values.json) {
          await writeFile(values.json, JSON.stringify(result, null, 2) + '\n');
          console.log(`wrote ${values.json}`);
        }
      } finally {
        await record.close();
        redis.disconnect();
      }
    },
  },
  {
    name: 'policy show',
    summary: 'the current policy as JSON (a starting point for a proposal to preview)',
    usage: '[--out FILE]',
    async run(argv) {
      const { values, positionals } = parseFlags(this, argv, { out: { type: 'string' } });
      if (positionals.length > 0) throw new UserInputError(`policy show: unexpected ${positionals.join(' ')}\nusage: fraudstream ${this.name} ${this.usage}`);
      const config = loadConfig();
      const redis = createRedis(config, 'policy-show');
      const record = kafkaChangelog(createKafka(config, '-policy'), config.topics.policy, { ensure: () => ensureTopics(config) });
      try {
        const current = await new RedisPolicyStore(redis, config.redis.keyPrefix, () => initialPolicy(), record).current();
        const text = JSON.stringify(current, null, 2) + '\n';
        if (values.out) {
          await writeFile(values.out, text);
          console.log(`wrote policy v${current.version} to ${values.out}`);
        } else process.stdout.write(text);
      } finally {
        await record.close();
        redis.disconnect();
      }
    },
  },
];
