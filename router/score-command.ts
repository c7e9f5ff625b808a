import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { numberFlag, parseFlags, type Command } from '../core/command.ts';
import { loadConfig } from '../core/config.ts';
import { UserInputError } from '../core/errors.ts';
import { loadModelVersion } from '../detectors/model-version.ts';
import { parseFeatureSpec, type FeatureSpec } from '../detectors/pure/feature-spec.ts';
import { DAY_MS, readMappedCsv } from '../detectors/user-data.ts';
import { readVersionJson, requireVersion } from '../detectors/version-names.ts';
import { readPolicyFile, scoreFile } from './score.ts';
import { stderrProgress } from '../detectors/progress.ts';

const MAP_EXAMPLE = 'txId=TRANSACTION_ID,time=TX_DATETIME,cardId=CUSTOMER_ID,merchantId=TERMINAL_ID,amount=TX_AMOUNT,label=TX_FRAUD';

export const scoreCommand: Command = {
  name: 'score',
  summary: 'backtest a model version on your CSV: point-in-time features, every model score, pFraud and the policy\'s action per row',
  usage: `--model VERSION|DIR --data FILE.csv --map ${MAP_EXAMPLE} [--set field=value] [--time-unit ms|s] [--label-delay-days D] [--policy POLICY.json] --out SCORES.csv [--json FILE]`,
  async run(argv) {
    const { values: v } = parseFlags(this, argv, {
      model: { type: 'string' },
      data: { type: 'string' },
      map: { type: 'string' },
      set: { type: 'string' },
      'time-unit': { type: 'string' },
      'label-delay-days': { type: 'string' },
      policy: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'string' },
    });
    for (const [flag, example] of [['model', '--model latest'], ['data', '--data history.csv'], ['map', `--map ${MAP_EXAMPLE}`], ['out', '--out scores.csv']] as const) {
      if (v[flag] === undefined) throw new UserInputError(`score needs --${flag} (e.g. ${example})`);
    }
    const unit = v['time-unit'] ?? 'ms';
    if (unit !== 'ms' && unit !== 's') throw new UserInputError(`--time-unit must be ms or s, got ${JSON.stringify(unit)}`);
    const delayFlag = v['label-delay-days'] === undefined ? undefined : numberFlag('label-delay-days', v['label-delay-days'], 7, { min: 0, max: 365 });
    const config = loadConfig();
    const dir = await versionDir(config.modelDir, v.model as string);
    const progress = stderrProgress();
    const model = await loadModelVersion(dir);
    try {
      const info = await readVersionJson<{ spec?: unknown; definition?: string }>(dir, 'features.json');
      if (info.definition === 'csv columns') throw new UserInputError(`--model ${v.model}: trained on a numeric CSV's columns, not on transactions: score needs a version trained on transactions (train --data FILE.csv --map ...)`);
      const spec: FeatureSpec | undefined = info.spec === undefined ? undefined : parseFeatureSpec(info.spec);
      // Labels reach the features after the delay the version was trained with, unless the flag says otherwise.
      const delayDays = delayFlag ?? spec?.labelDelayDays ?? 7;
      const read = await readMappedCsv(v.data as string, { map: v.map, set: v.set, numericNames: spec?.numeric, timeUnit: unit, labelDelayMs: Math.round(delayDays * DAY_MS) }, (n) => progress.update('read', `${n} rows`, true));
      if (read.rejected) console.error(`${read.rejected} rows rejected (not scored): ${read.reasons.map((r) => `${r.count} x ${r.reason}`).join('; ')}`);
      const summary = await scoreFile({
        model,
        txs: read.txs,
        labels: read.labels,
        out: v.out as string,
        spec,
        policy: v.policy ? await readPolicyFile(v.policy) : undefined,
        onProgress: (done, total) => progress.update('score', `${done}/${total} rows`, true),
      });
      progress.done();
      const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));
      console.log(
        [
          `scored ${summary.rows} rows with ${model.version} in ${summary.seconds.toFixed(1)} s: ${Math.round(summary.rowsPerSec)} rows/s; heavy model on ${summary.heavyScored}`,
          `actions: ${Object.entries(summary.actions).map(([a, n]) => `${a} ${n}`).join(', ')}`,
          summary.labelled ? `against the file's labels (${summary.labelled} rows): pFraud ROC-AUC ${f(summary.rocAuc)}, average precision ${f(summary.averagePrecision)}` : 'the file has no label column mapped: no metrics',
          `scores written to ${summary.out}`,
        ].join('\n'),
      );
      if (v.json) {
        const { writeFile, mkdir } = await import('node:fs/promises');
        await mkdir(path.dirname(path.resolve(v.json)), { recursive: true });
        await writeFile(v.json, JSON.stringify({ model: model.version, data: path.resolve(v.data as string), labelDelayDays: delayDays, rejected: read.rejected, ...summary }, null, 2) + '\n');
      }
      return 0;
    } finally {
      model.dispose?.();
    }
  },
};

/** A version name under MODEL_DIR, "latest", or a folder path. */
async function versionDir(modelDir: string, name: string): Promise<string> {
  if (existsSync(name) && statSync(name).isDirectory()) return name;
  if (name === 'latest') {
    const { listModelVersions } = await import('../detectors/model-version.ts');
    const all = await listModelVersions(modelDir);
    if (all.length === 0) throw new UserInputError(`--model latest: no model version under ${path.resolve(modelDir)} (train one first)`);
    return path.join(modelDir, all[all.length - 1] as string);
  }
  return (await requireVersion(modelDir, name, '--model')).dir;
}
