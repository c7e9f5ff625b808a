import { heavyBackend } from '../detectors/heavy/backend.ts';
import type { HeavyItem, HeavyModel } from '../detectors/heavy/model.ts';
import { mulberry32 } from '../detectors/pure/rng.ts';

export interface HeavyBenchResult {
  backend: string;
  k: number;
  features: number;
  n: number;
  /** µs per transaction when each is scored alone (one predict call per transaction). */
  oneAtATimeUsPerTx: number;
  batchSize: number;
  /** µs per transaction when scored in batches of batchSize. */
  batchedUsPerTx: number;
}

export interface BenchHeavyOptions {
  batchSize?: number;
  /** Items to score (cycled); default: random vectors with histories of random length up to k. */
  items?: HeavyItem[];
}

function randomItems(model: HeavyModel, count: number): HeavyItem[] {
  const rng = mulberry32(42);
  const d = model.featureNames.length;
  const vec = () => Float64Array.from({ length: d }, () => rng() * 10);
  return Array.from({ length: count }, () => ({
    history: Array.from({ length: Math.floor(rng() * (model.k + 1)) }, vec),
    current: vec(),
  }));
}

/** µs per transaction for one-at-a-time and batched scoring of n transactions (after a short warm-up). */
export async function benchHeavy(model: HeavyModel, n: number, opts: BenchHeavyOptions = {}): Promise<HeavyBenchResult> {
  const batchSize = opts.batchSize ?? 256;
  if (!Number.isInteger(n) || n < 1) throw new Error(`benchHeavy: n=${n} must be a positive integer`);
  const pool = opts.items && opts.items.length > 0 ? opts.items : randomItems(model, Math.min(n, 4096));
  const pick = (i: number) => pool[i % pool.length]!;
  const backend = await heavyBackend();

  for (let i = 0; i < 20; i++) await model.predict([pick(i)]);
  await model.predict(Array.from({ length: batchSize }, (_, i) => pick(i)));

  let t0 = performance.now();
  for (let i = 0; i < n; i++) await model.predict([pick(i)]);
  const oneAtATimeUsPerTx = ((performance.now() - t0) * 1000) / n;

  t0 = performance.now();
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    await model.predict(Array.from({ length: size }, (_, i) => pick(start + i)));
  }
  const batchedUsPerTx = ((performance.now() - t0) * 1000) / n;

  return { backend, k: model.k, features: model.featureNames.length, n, oneAtATimeUsPerTx, batchSize, batchedUsPerTx };
}

// ---- standalone: npx tsx bench/heavy.ts [flags] ----

const USAGE = `npx tsx bench/heavy.ts [--rows 20000] [--k 16] [--features 24] [--n 2000] [--batch 256]
  [--arch steps|gru] [--epochs 12] [--all-backends] [--out bench-results/heavy.json]
Trains the heavy model on synthetic card-testing data, then measures scoring. TFJS_BACKEND=wasm|cpu|node picks the
backend; --all-backends runs once per backend (wasm, cpu, and node when installed) in child processes.`;

interface RunResult extends HeavyBenchResult {
  arch: string;
  rows: number;
  epochsRun: number;
  trainSeconds: number;
  trainSecondsPerEpoch: number;
  testAuc: number;
}

async function runOnce(flags: Record<string, number | string>): Promise<RunResult> {
  const { trainHeavy } = await import('../detectors/heavy/model.ts');
  const { generateSynthetic, synthFeatureNames } = await import('../detectors/heavy/synthetic.ts');
  const { rocAuc } = await import('../detectors/heavy/auc.ts');
  const rows = Number(flags.rows);
  const k = Number(flags.k);
  const noise = Number(flags.features) - 3;
  const gen = (n: number, seed: number) => generateSynthetic({ n, maxHistory: k + 4, noiseFeatures: noise, fraudRate: 0.03, seed });
  const train = gen(rows, 1);
  const val = gen(Math.max(500, Math.round(rows / 5)), 2);
  const test = gen(5000, 3);
  const backend = await heavyBackend();
  process.stderr.write(`heavy bench: training ${flags.arch} on ${rows} rows (k=${k}, ${flags.features} features) on ${backend}\n`);
  const model = await trainHeavy({
    sequences: train.map((r) => r.history),
    currents: train.map((r) => r.current),
    labels: train.map((r) => r.label),
    featureNames: synthFeatureNames(noise),
    k,
    epochs: Number(flags.epochs),
    arch: flags.arch as 'gru' | 'steps',
    validation: { sequences: val.map((r) => r.history), currents: val.map((r) => r.current), labels: val.map((r) => r.label) },
    onProgress: (epoch, l) =>
      process.stderr.write(
        `  epoch ${epoch}  loss ${l.loss.toFixed(5)}  val auc ${l.valAuc?.toFixed(4) ?? '-'}  ${l.seconds.toFixed(1)} s  (${((rows * epoch) / l.seconds).toFixed(0)} rows/s)\n`,
      ),
  });
  try {
    const testAuc = rocAuc(await model.predict(test), test.map((r) => r.label));
    const t = model.meta.training;
    const bench = await benchHeavy(model, Number(flags.n), { batchSize: Number(flags.batch), items: test.slice(0, 2048) });
    return { ...bench, arch: t.arch, rows, epochsRun: t.epochsRun, trainSeconds: t.trainSeconds, trainSecondsPerEpoch: t.trainSeconds / t.epochsRun, testAuc };
  } finally {
    model.dispose();
  }
}

function table(results: RunResult[]): string {
  const head = ['backend', 'arch', 'rows', 'epochs', 'train s', 's/epoch', 'test AUC', 'one µs/tx', `batched µs/tx`];
  const body = results.map((r) => [
    r.backend,
    r.arch,
    String(r.rows),
    String(r.epochsRun),
    r.trainSeconds.toFixed(1),
    r.trainSecondsPerEpoch.toFixed(2),
    r.testAuc.toFixed(4),
    r.oneAtATimeUsPerTx.toFixed(0),
    `${r.batchedUsPerTx.toFixed(1)} (×${r.batchSize})`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { parseArgs } = await import('node:util');
  const { writeFile, mkdir } = await import('node:fs/promises');
  const { spawnSync } = await import('node:child_process');
  const path = await import('node:path');
  const { numberFlag } = await import('../core/command.ts');
  const { UserInputError } = await import('../core/errors.ts');
  const { HEAVY_DEFAULTS } = await import('../detectors/heavy/model.ts');
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      options: {
        rows: { type: 'string' },
        k: { type: 'string' },
        features: { type: 'string' },
        n: { type: 'string' },
        batch: { type: 'string' },
        arch: { type: 'string' },
        epochs: { type: 'string' },
        out: { type: 'string' },
        'all-backends': { type: 'boolean' },
        'child-json': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    throw new UserInputError(`${(err as Error).message}\nusage: ${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const str = (name: string) => values[name] as string | undefined;
  const flags = {
    rows: numberFlag('rows', str('rows'), 20_000, { min: 100, max: 1_000_000, integer: true }),
    k: numberFlag('k', str('k'), 16, { min: 1, max: 256, integer: true }),
    features: numberFlag('features', str('features'), 24, { min: 3, max: 1000, integer: true }),
    n: numberFlag('n', str('n'), 2000, { min: 1, max: 1_000_000, integer: true }),
    batch: numberFlag('batch', str('batch'), 256, { min: 1, max: 100_000, integer: true }),
    epochs: numberFlag('epochs', str('epochs'), 12, { min: 1, max: 1000, integer: true }),
    arch: str('arch') ?? HEAVY_DEFAULTS.arch,
  };
  if (!['gru', 'steps'].includes(flags.arch)) throw new UserInputError(`--arch must be gru or steps, got ${JSON.stringify(flags.arch)}`);

  if (values['child-json']) {
    console.log(`HEAVY_BENCH_JSON ${JSON.stringify(await runOnce(flags))}`);
    return 0;
  }

  let results: RunResult[];
  if (values['all-backends']) {
    results = [];
    const script = new URL(import.meta.url).pathname;
    const { createRequire } = await import('node:module');
    const nodeInstalled = (() => {
      try {
        createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
        return true;
      } catch {
        return false;
      }
    })();
    for (const backend of [...(nodeInstalled ? ['node'] : []), 'wasm', 'cpu']) {
      const childArgs = ['--import', 'tsx', script, ...argv.filter((a) => a !== '--all-backends'), '--child-json'];
      const child = spawnSync(process.execPath, childArgs, {
        env: { ...process.env, TFJS_BACKEND: backend, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
      });
      const line = child.stdout.split('\n').find((l) => l.startsWith('HEAVY_BENCH_JSON '));
      if (!line) throw new Error(`bench child for ${backend} exited ${child.status} without a result`);
      const r = JSON.parse(line.slice('HEAVY_BENCH_JSON '.length)) as RunResult;
      // A requested backend that is not installed falls back; report each backend once.
      if (!results.some((x) => x.backend === r.backend)) results.push(r);
    }
  } else {
    results = [await runOnce(flags)];
  }
  console.log(table(results));
  const out = str('out') ?? 'bench-results/heavy.json';
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFile(out, JSON.stringify({ generatedAt: new Date().toISOString(), flags, results }, null, 2) + '\n');
  console.log(`wrote ${out}`);
  return 0;
}

if (process.argv[1] && new URL(import.meta.url).pathname === (await import('node:path')).resolve(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
