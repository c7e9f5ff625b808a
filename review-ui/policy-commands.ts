/** `fraudstream policy preview`: a policy file against the current one on recent scored samples, in money. */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from '../cli/command.ts';
import { numberFlag, parseFlags } from '../cli/command.ts';
import { loadConfig } from '../core/config.ts';
import { PolicySchema, describeZodError, type Policy } from '../core/contracts.ts';
import { UserInputError } from '../core/errors.ts';
import { createRedis } from '../core/redis.ts';
import type { MoneyFigures } from '../router/pure/money.ts';
import { initialPolicy, RedisPolicyStore } from '../state/policy.ts';
import { RedisSampleStore, SAMPLES_CAPACITY } from '../state/samples.ts';
import { moneyPreview, servedProbability, type MoneyPreview } from './server/preview.ts';
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

export const commands: Command[] = [
  {
    name: 'policy preview',
    summary: 'a proposed policy (JSON file) against the current one on recent scored transactions, in money',
    usage: `--file POLICY.json [--samples N] [--json FILE]   (N: 1..${SAMPLES_CAPACITY}, default 1000)`,
    async run(argv) {
      const { values, positionals } = parseFlags(this, argv, { file: { type: 'string' }, samples: { type: 'string' }, json: { type: 'string' } });
      if (!values.file || positionals.length > 0) throw new UserInputError(`policy preview: give the proposed policy with --file POLICY.json\nusage: fraudstream ${this.name} ${this.usage}`);
      const n = numberFlag('samples', values.samples, 1_000, { min: 1, max: SAMPLES_CAPACITY, integer: true });
      const config = loadConfig();
      const redis = createRedis(config, 'policy-preview');
      try {
        const prefix = config.redis.keyPrefix;
        const current = await new RedisPolicyStore(redis, prefix, () => initialPolicy()).current();
        const proposed = await readPolicyFile(values.file, current);
        const [samples, served] = await Promise.all([new RedisSampleStore(redis, prefix).recent(n), servedProbability(config.modelDir, current)]);
        const result = moneyPreview(current, proposed, samples, served);
        console.log(`policy v${current.version} (current) vs ${values.file} (proposed)`);
        console.log(moneyPreviewTable(result));
        if (values.json) {
          await writeFile(values.json, JSON.stringify(result, null, 2) + '\n');
          console.log(`wrote ${values.json}`);
        }
      } finally {
        redis.disconnect();
      }
    },
  },
];
