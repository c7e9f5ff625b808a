import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { numberFlag, parseFlags, timeFlag, type Command } from '../core/command.ts';
import { loadConfig } from '../core/config.ts';
import { UserInputError } from '../core/errors.ts';
import { readHistoryFile } from './history-file.ts';
import { table, stderrProgress } from './progress.ts';
import { CsvError, csvToDataset } from './pure/csv.ts';
import type { ModelMetrics } from './pure/evaluate.ts';
import { DEFAULT_TARGETS, type RoutingTargets } from './pure/routing.ts';
import { MODELS } from '../core/model-registry.ts';
import { datasetFromCsv, datasetFromEvents, DEFAULT_HEAVY_ROWS, trainModels, type Dataset, type Imbalance, type TrainResult } from './trainer.ts';
import { DEFAULT_XGB_PARAMS } from './xgboost.ts';
import { continueWorld, generateStream, historyEvents, SCENARIOS, World, WORLD_GENERATOR } from '../producers/world/index.ts';
import { datasetFromKafka, type KafkaDataset } from './kafka-history.ts';
import { DEFAULT_LABEL_MATURITY_DAYS } from './pure/labels.ts';
import type { Redis } from 'ioredis';
import { connectRedisForCommand } from './redis-client.ts';
import { MODEL_VERSION_NAME, PolicySchema, type Label, type Transaction } from '../core/contracts.ts';
import { LabelArrivals } from './pure/arrival.ts';
import { driftSnapshot, readDrift, resetDrift, type DriftSnapshot } from './drift.ts';
import { driftCounts, driftReport, DriftAccumulator } from './pure/drift.ts';
import { MemoryFeatureStore } from './features.ts';
import { listModelVersions } from './model-version.ts';
import { requireVersion as requireModelVersion } from './version-names.ts';
import { trainedWorld, warmFromModel } from './warm.ts';
import { guardColumns } from './pure/column-guard.ts';
import { numericName } from '../core/codec.ts';
import { dateWindows, DAY_MS, inWindows, loadFeatureSpec, readMappedCsv, type DateWindows } from './user-data.ts';
import type { Config } from '../core/config.ts';
import { fillMissingThresholds, policyKeysOf } from '../state/policy.ts';

const NOVEL = new Set(SCENARIOS.filter((s) => s.novel).map((s) => s.name));

const trainUsage = [
  '[--events N] [--seed S] [--cards N] [--fraud-rate SHARE] [--warmup N]   generate history with producers/world (default 200000 events;',
  '      --warmup N events before them build card state only, so training rows come from cards with pasts)',
  '  | --history FILE.jsonl [--labels FILE.labels.jsonl]            or replay a file written by `generate`',
  '  | --data FILE.csv --map cardId=COL,merchantId=COL,amount=COL,time=COL,label=COL[,...] [--set field=value] [--time-unit ms|s]',
  '      your own transactions: the streaming features (entities, windows, label risk) computed offline, as detect would',
  '      [--extra COL,COL] other numeric columns read as features as they are (refused if one alone gives the answer away)',
  '  | --data FILE.csv --label COLUMN --time COLUMN [--exclude A,B]  or any labelled numeric CSV (columns used as they are)',
  '[--features SPEC.json] [--label-delay-days D (default 7: labels arrive D days after their transaction)]',
  '[--train-from DATE] --train-until DATE --test-from DATE [--test-until DATE] [--val-share 0.25]   split by dates (--map and',
  '      --history): rows before train-from only build state, the gap between train-until and test-from learns nothing',
  '[--card-k K (daily card precision@K, default 100)] [--label-features on|off (off: labels train but feed no feature, to measure what label risk adds)]',
  '  | --from-kafka [--until-ms T] [--max-events N] [--label-maturity-days D]   or the transactions + labels topics',
  '      (chargeback over analyst; unlabelled = legitimate once D days older than the newest transaction, default 30)',
  '[--out DIR] [--json FILE] [--split 0.6,0.2,0.2]',
  '[--heavy auto|on|off] [--heavy-epochs N] [--heavy-rows N] [--history-k K]',
  '[--imbalance auto|weight|sqrt-weight|downsample|none] [--trees N] [--iterations N] [--max-depth N] [--eta X]',
  '[--target-catch SHARE] [--max-escalate SHARE] [--max-review SHARE] [--max-block-fpr SHARE]',
].join('\n  ');

function choice<T extends string>(flag: string, raw: string | undefined, choices: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw new UserInputError(`--${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

function splitFlag(raw: string | undefined): [number, number, number] {
  if (raw === undefined) return [0.6, 0.2, 0.2];
  const parts = raw.split(',').map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p) || p <= 0) || Math.abs(parts[0] + parts[1] + parts[2] - 1) > 1e-6) {
    throw new UserInputError(`--split must be three positive shares that sum to 1 (train,validation,test), e.g. 0.6,0.2,0.2; got ${JSON.stringify(raw)}`);
  }
  return parts as [number, number, number];
}

const pct = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(2)}%`);
const f4 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(4));

/** The first-line models a version's card measured, in training order (the registered ones and any a test added), with their labels. */
function firstLineOf(r: TrainResult): Array<{ id: string; label: string; metrics: ModelMetrics }> {
  const test = r.card.test as unknown as Record<string, ModelMetrics>;
  return Object.keys(r.card.models)
    .filter((id) => id !== 'heavy' && test[id])
    .map((id) => ({ id, label: MODELS.find((m) => m.id === id)?.label ?? id, metrics: test[id] }));
}

export function trainSummary(r: TrainResult): string {
  const t = r.card.test;
  const novelName = [...NOVEL][0];
  const k = t.ensemble.cardPrecisionK;
  const row = (name: string, m: ModelMetrics | null, rate: string) => [
    name,
    f4(m?.rocAuc),
    f4(m?.auprc),
    ...(k ? [f4(m?.cardPrecisionAtK)] : []),
    pct(m?.recallAt1pctFpr),
    pct(novelName && m ? m.perScenarioRecall[novelName] : undefined),
    rate,
  ];
  const e = t.ensemble;
  const lines = [
    table(
      ['test slice', 'ROC-AUC', 'AP', ...(k ? [`card P@${k}/day`] : []), 'recall@1%FPR', 'novel recall', 'flagged / review'],
      [
        ...firstLineOf(r).map((m) => row(m.label, m.metrics, pct(m.metrics.flaggedShare))),
        row('heavy', t.heavy, t.heavy ? pct(t.heavy.flaggedShare) : 'not trained'),
        row('routed ensemble', e, `review ${pct(e.reviewShare)}`),
      ],
    ),
    '',
    `routed: caught ${pct(e.catchRate)} of fraud (target ${pct(r.card.targets.catchRate)}), escalated ${pct(e.escalateShare)}, reviewed ${pct(e.reviewShare)}, blocked ${pct(e.blockShare)}; legitimate blocked ${pct(e.legitBlockedShare)}`,
    `test fraud rate ${pct(e.positives / e.rows)} (${e.positives} of ${e.rows}); escalate stage scored by ${r.card.escalateScoredBy}`,
    ...(r.card.steps ? ['what each step adds (test slice):', ...r.card.steps.lines.map((l) => `  ${l}`)] : []),
    ...(k ? [`daily card precision@${k}: a perfect ranking reaches ${f4(e.cardPrecisionCeiling)} on this test slice (fewer than ${k} fraudulent cards on some days)`] : []),
    `model version: ${r.dir}`,
  ];
  return lines.join('\n');
}

/** What the topics held and which labels were used: printed before training, also in the model card. */
export function kafkaSummary(k: KafkaDataset): string {
  const s = k.labels;
  const src = k.dataset.source as { transactions: Record<string, number> };
  const t = src.transactions;
  const off = (rs: Array<{ partition: number; from: number; to: number }>) => rs.map((r) => `${r.partition}:${r.from}-${r.to}`).join(' ');
  return [
    table(
      ['from kafka', 'count'],
      [
        ['transactions read', t.read],
        ['  malformed (skipped)', t.malformed],
        ['  duplicate tx ids (skipped)', t.duplicates],
        ['  after --until-ms (skipped)', t.afterUntil],
        ['labels: chargeback / analyst', `${s.received.chargeback} / ${s.received.analyst}`],
        ['  malformed (skipped)', k.read.malformed.labels],
        ['  for transactions not read', s.orphanLabels],
        ['rows labelled by chargeback', s.used.chargeback],
        ['rows labelled by analyst', s.used.analyst],
        ['  chargeback and analyst (disagree)', `${s.both} (${s.disagreements})`],
        [`rows unlabelled, older than ${s.maturityDays} d: legitimate`, s.used.maturity],
        ['unlabelled and younger: left out', s.excludedYoung],
        ['training rows (fraud)', `${k.dataset.rows.length} (${s.fraud})`],
      ],
    ),
    `offsets (partition:from-to) transactions ${off(k.read.offsets.transactions)}; labels ${off(k.read.offsets.labels)}; read in ${k.read.seconds.toFixed(1)} s`,
    ...Object.entries(k.read.malformed.reasons).slice(0, 5).map(([r, n]) => `  malformed: ${n} x ${r}`),
  ].join('\n');
}

/** A model's metrics under the names the --json promises (scikit-learn's averagePrecision, daily card precision@k). */
function jsonMetrics(m: ModelMetrics): Record<string, unknown> {
  return {
    ...m,
    averagePrecision: m.auprc,
    recallAt1PctFpr: m.recallAt1pctFpr,
    ...(m.cardPrecisionK ? { [`cardPrecisionAt${m.cardPrecisionK}`]: m.cardPrecisionAtK, [`cardPrecisionAt${m.cardPrecisionK}Ceiling`]: m.cardPrecisionCeiling } : {}),
  };
}

/** The --json shape: every model has at least rocAuc, auprc (= averagePrecision) and recallAt1pctFpr (null when not trained). */
export function trainJson(r: TrainResult): Record<string, unknown> {
  const t = r.card.test;
  const heavy = t.heavy ?? {
    rocAuc: null,
    auprc: null,
    recallAt1pctFpr: null,
    skipped: 'skipped' in r.card.models.heavy ? r.card.models.heavy.skipped : 'not trained',
  };
  return {
    version: r.card.version,
    dir: r.dir,
    test: { ...Object.fromEntries(firstLineOf(r).map((m) => [m.id, jsonMetrics(m.metrics)])), heavy: t.heavy ? jsonMetrics(t.heavy) : heavy, ensemble: jsonMetrics(t.ensemble) },
    source: r.card.source,
    steps: r.card.steps,
    escalateScoredBy: r.card.escalateScoredBy,
    ...(r.card.heavyOnValidation ? { heavyOnValidation: r.card.heavyOnValidation } : {}),
    ...(r.card.ensembleBlend ? { ensembleBlend: r.card.ensembleBlend } : {}),
    thresholds: r.card.thresholds,
    thresholdChoice: r.card.thresholdChoice,
    split: r.card.split,
    timings: r.card.timings,
  };
}

const TRAIN_FLAGS = {
    events: { type: 'string' },
    seed: { type: 'string' },
    cards: { type: 'string' },
    'fraud-rate': { type: 'string' },
    warmup: { type: 'string' },
    history: { type: 'string' },
    labels: { type: 'string' },
    data: { type: 'string' },
    'from-kafka': { type: 'boolean' },
    'until-ms': { type: 'string' },
    'max-events': { type: 'string' },
    'label-maturity-days': { type: 'string' },
    label: { type: 'string' },
    time: { type: 'string' },
    exclude: { type: 'string' },
    map: { type: 'string' },
    extra: { type: 'string' },
    set: { type: 'string' },
    'time-unit': { type: 'string' },
    'label-delay-days': { type: 'string' },
    features: { type: 'string' },
    'train-from': { type: 'string' },
    'train-until': { type: 'string' },
    'test-from': { type: 'string' },
    'test-until': { type: 'string' },
    'val-share': { type: 'string' },
    'card-k': { type: 'string' },
    'allow-column': { type: 'string' },
    'label-features': { type: 'string' },
    out: { type: 'string' },
    json: { type: 'string' },
    split: { type: 'string' },
    heavy: { type: 'string' },
    'heavy-epochs': { type: 'string' },
    'heavy-rows': { type: 'string' },
    'history-k': { type: 'string' },
    imbalance: { type: 'string' },
    trees: { type: 'string' },
    iterations: { type: 'string' },
    'max-depth': { type: 'string' },
    eta: { type: 'string' },
    'target-catch': { type: 'string' },
    'max-escalate': { type: 'string' },
    'max-review': { type: 'string' },
    'max-block-fpr': { type: 'string' },
} as const;

type TrainFlags = ReturnType<typeof parseFlags<typeof TRAIN_FLAGS>>['values'];

/** Flags that only make sense together, or not at all together, named in the message. */
function checkTrainFlagCombinations(v: TrainFlags, positionals: string[]): void {
  if (positionals.length) throw new UserInputError(`train: unexpected argument ${JSON.stringify(positionals[0])}\nusage: fraudstream train ${trainUsage}`);
  if (v.data !== undefined && v.history !== undefined) throw new UserInputError('use either --data (a labelled CSV) or --history (a transactions file), not both');
  if (v.data === undefined && (v.label !== undefined || v.time !== undefined || v.exclude !== undefined)) {
    throw new UserInputError('--label, --time and --exclude go with --data FILE.csv');
  }
  if (v.map !== undefined && (v.label !== undefined || v.time !== undefined || v.exclude !== undefined)) {
    throw new UserInputError('with --map, name the columns in the mapping (--map label=COLUMN,time=COLUMN,...); --label, --time and --exclude are for a numeric CSV without --map');
  }
  if (v.map !== undefined && v.data === undefined) throw new UserInputError('--map goes with --data FILE.csv');
  if ((v.set !== undefined || v['time-unit'] !== undefined || v.extra !== undefined) && v.map === undefined) throw new UserInputError('--set, --time-unit and --extra go with --data FILE.csv --map ...');
  const dated = ['train-from', 'train-until', 'test-from', 'test-until', 'val-share'] as const;
  if (dated.some((f) => v[f] !== undefined)) {
    if (v.map === undefined && v.history === undefined) throw new UserInputError('--train-from/--train-until/--test-from/--test-until go with --data FILE.csv --map ... or --history FILE');
    if (v['train-until'] === undefined || v['test-from'] === undefined) throw new UserInputError('a date split needs --train-until DATE and --test-from DATE (leave the label delay between them)');
    if (v.split !== undefined) throw new UserInputError('use either --split shares or dates (--train-until, --test-from), not both');
  }
  const fromKafka = v['from-kafka'] === true;
  if (fromKafka && (v.data !== undefined || v.history !== undefined || v.labels !== undefined)) {
    throw new UserInputError('--from-kafka reads the topics: drop --data, --history and --labels');
  }
  if (fromKafka && (v.events !== undefined || v.cards !== undefined || v['fraud-rate'] !== undefined)) {
    throw new UserInputError('--events, --cards and --fraud-rate generate history; with --from-kafka use --max-events N to cap the transactions read');
  }
  if (v.warmup !== undefined && (fromKafka || v.data !== undefined || v.history !== undefined)) {
    throw new UserInputError('--warmup goes with generated history (--events N): drop it, or drop --data, --history and --from-kafka');
  }
  if (!fromKafka) {
    for (const f of ['until-ms', 'max-events', 'label-maturity-days'] as const) {
      if (v[f] !== undefined) throw new UserInputError(`--${f} goes with --from-kafka`);
    }
  }
}

/** The model settings the flags choose (every number checked against its range). */
function trainSettings(v: TrainFlags) {
  return {
    seed: numberFlag('seed', v.seed, 1, { min: 0, max: 2 ** 31 - 1, integer: true }),
    fractions: splitFlag(v.split),
    heavyMode: choice('heavy', v.heavy, ['auto', 'on', 'off'] as const, 'auto'),
    imbalance: choice<Imbalance>('imbalance', v.imbalance, ['auto', 'weight', 'sqrt-weight', 'downsample', 'none'], 'auto'),
    historyK: numberFlag('history-k', v['history-k'], 16, { min: 1, max: 32, integer: true }),
    targets: {
      ...DEFAULT_TARGETS,
      catchRate: numberFlag('target-catch', v['target-catch'], DEFAULT_TARGETS.catchRate, { min: 0, max: 1 }),
      maxEscalateShare: numberFlag('max-escalate', v['max-escalate'], DEFAULT_TARGETS.maxEscalateShare, { min: 0, max: 1 }),
      maxReviewShare: numberFlag('max-review', v['max-review'], DEFAULT_TARGETS.maxReviewShare, { min: 0, max: 1 }),
      maxBlockFpr: numberFlag('max-block-fpr', v['max-block-fpr'], DEFAULT_TARGETS.maxBlockFpr, { min: 0, max: 1 }),
    } satisfies RoutingTargets,
    xgboost: {
      iterations: numberFlag('iterations', v.iterations, DEFAULT_XGB_PARAMS.iterations, { min: 1, max: 5_000, integer: true }),
      maxDepth: numberFlag('max-depth', v['max-depth'], DEFAULT_XGB_PARAMS.maxDepth, { min: 1, max: 16, integer: true }),
      eta: numberFlag('eta', v.eta, DEFAULT_XGB_PARAMS.eta, { min: 1e-4, max: 1 }),
    },
    trees: numberFlag('trees', v.trees, 100, { min: 1, max: 2_000, integer: true }),
    heavyEpochs: v['heavy-epochs'] === undefined ? undefined : numberFlag('heavy-epochs', v['heavy-epochs'], 0, { min: 1, max: 500, integer: true }),
    heavyRows: numberFlag('heavy-rows', v['heavy-rows'], DEFAULT_HEAVY_ROWS, { min: 100, max: 10_000_000, integer: true }),
  };
}

type TrainProgress = ReturnType<typeof stderrProgress>;

/** --data: a labelled numeric CSV; its models go under MODEL_DIR/csv unless --out says otherwise. */
async function datasetFromCsvFlag(v: TrainFlags, modelDir: string, progress: TrainProgress): Promise<{ ds: Dataset; outDir: string }> {
  const file = v.data as string;
  if (v.label === undefined || v.time === undefined) throw new UserInputError('--data needs --label COLUMN and --time COLUMN');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserInputError(`--data ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const exclude = v.exclude ? v.exclude.split(',').map((s) => s.trim()).filter(Boolean) : [];
  let ds: Dataset;
  try {
    const csv = csvToDataset(text, { label: v.label, time: v.time, exclude });
    ds = datasetFromCsv(csv, { csv: path.resolve(file), label: v.label, time: v.time, exclude });
  } catch (err) {
    if (err instanceof CsvError) throw new UserInputError(`--data ${file}:\n  ${err.problems.join('\n  ')}`);
    throw err;
  }
  progress.update('data', `${ds.rows.length} rows, ${ds.featureNames.length} numeric columns`);
  const fractions = splitFlag(v.split);
  const n = ds.rows.length;
  const valIdx = Array.from({ length: Math.floor(n * (fractions[0] + fractions[1])) - Math.floor(n * fractions[0]) }, (_, i) => Math.floor(n * fractions[0]) + i);
  const allow = new Set((v['allow-column'] ?? '').split(',').map((c) => c.trim()).filter(Boolean));
  const problems = guardColumns(ds.featureNames, ds.rows, ds.labels, valIdx, allow);
  if (problems.length) {
    throw new UserInputError(
      `--data ${file}: refusing ${problems.length === 1 ? 'a column' : `${problems.length} columns`}:\n  ${problems.map((p) => `${p.name}: ${p.why}`).join('\n  ')}\n` +
        `drop ${problems.length === 1 ? 'it' : 'them'} with --exclude ${problems.map((p) => p.name).join(',')}, or keep ${problems.length === 1 ? 'it' : 'them'} knowingly with --allow-column ${problems.map((p) => p.name).join(',')}`,
    );
  }
  // CSV models have their own columns: keep them apart from the versions the stages serve.
  return { ds, outDir: v.out ?? path.join(modelDir, 'csv') };
}

/** --from-kafka: the transactions and labels topics, labelled as the stages would have seen them. */
async function datasetFromKafkaFlags(v: TrainFlags, config: Config, historyK: number, progress: TrainProgress): Promise<Dataset> {
  const untilMs = v['until-ms'] === undefined ? undefined : numberFlag('until-ms', v['until-ms'], 0, { min: 0, integer: true });
  const maxEvents = v['max-events'] === undefined ? undefined : numberFlag('max-events', v['max-events'], 0, { min: 1, integer: true });
  const maturityDays = numberFlag('label-maturity-days', v['label-maturity-days'], DEFAULT_LABEL_MATURITY_DAYS, { min: 0, max: 3650 });
  const k = await datasetFromKafka({ config, untilMs, maxEvents, maturityDays, novelScenarios: NOVEL, historyK, onProgress: progress.update, newCardCap: config.features.newCardCap });
  const ds = k.dataset;
  progress.done();
  console.error(kafkaSummary(k));
  if (ds.rows.length === 0 || !ds.labels.includes(1)) {
    throw new UserInputError(
      `--from-kafka: ${ds.rows.length} training rows (${k.labels.fraud} fraud) from ${k.read.txs.length} transactions and ${k.labels.received.chargeback + k.labels.received.analyst} labels; ` +
        `${k.labels.excludedYoung} unlabelled transactions are younger than --label-maturity-days ${maturityDays}. ` +
        'Replay or simulate more history with its labels, or lower --label-maturity-days if legitimate traffic is known good sooner',
    );
  }
  if (!k.read.complete) console.error('warning: the read stopped on its idle timeout before every partition reached the end offset captured at start (an open Kafka transaction?); see the model card source');
  return ds;
}

/** --history: a transactions file written by `generate` and its labels. */
async function datasetFromHistoryFlag(v: TrainFlags, historyK: number, progress: TrainProgress): Promise<Dataset> {
  const file = v.history as string;
  let events = await readHistoryFile(file, v.labels, (n) => progress.update('read', `${n} transactions`, true));
  const w = events.length ? datesOf(v, events[0].tx.ts, events[events.length - 1].tx.ts) : undefined;
  if (w) events = events.map((e) => ({ ...e, include: inWindows(w, e.tx.ts) }));
  return datasetFromEvents(events, {
    novelScenarios: NOVEL,
    historyK,
    source: { history: path.resolve(file) },
    expected: events.length,
    onProgress: progress.update,
  });
}

/** The default: a generated world (producers/world), the first --warmup events building card state only. */
function datasetFromGeneratedWorld(v: TrainFlags, seed: number, historyK: number, progress: TrainProgress): Dataset {
  const events = numberFlag('events', v.events, 200_000, { min: 1_000, max: 50_000_000, integer: true });
  const cards = numberFlag('cards', v.cards, 10_000, { min: 10, max: 1_000_000, integer: true });
  const fraudRate = v['fraud-rate'] === undefined ? undefined : numberFlag('fraud-rate', v['fraud-rate'], 0, { min: 0, max: 0.5 });
  const warmup = numberFlag('warmup', v.warmup, 0, { min: 0, max: 50_000_000, integer: true });
  // The world's first `events` events are the history the simulator continues from (producers/world/history.ts).
  const world = { seed, events: warmup + events, cards, ...(fraudRate !== undefined ? { fraudRate } : {}) };
  let index = 0;
  const stream = (function* () {
    for (const e of generateStream(world)) yield { ...e, include: index++ >= warmup };
  })();
  const source = { generator: WORLD_GENERATOR, ...world, ...(warmup ? { warmupEvents: warmup } : {}) };
  return datasetFromEvents(stream, { novelScenarios: NOVEL, historyK, source, expected: warmup + events, onProgress: progress.update, labelFeatures: labelFeaturesFlag(v) });
}

/** --data FILE.csv --map ...: the user's own transactions through the streaming features, labels at their arrival. */
async function datasetFromMappedFlag(v: TrainFlags, historyK: number, progress: TrainProgress): Promise<{ ds: Dataset; splitAt?: { valFrom: number; testFrom: number } }> {
  const file = v.data as string;
  const delayDays = numberFlag('label-delay-days', v['label-delay-days'], 7, { min: 0, max: 365 });
  const csv = { map: v.map, set: v.set, extra: v.extra, timeUnit: choice('time-unit', v['time-unit'], ['ms', 's'] as const, 'ms'), labelDelayMs: Math.round(delayDays * DAY_MS) };
  const loaded = await loadFeatureSpec(v.features, v['label-delay-days'] === undefined ? undefined : delayDays);
  // --extra columns become the spec's numeric features (num_<name>), after any the spec file names.
  const extraNames = (v.extra ?? '').split(',').map((c) => c.trim()).filter(Boolean).map(numericName);
  const spec = extraNames.length ? { ...loaded, numeric: [...new Set([...(loaded.numeric ?? []), ...extraNames])] } : loaded;
  const read = await readMappedCsv(file, csv, (n) => progress.update('read', `${n} rows`, true));
  if (!read.hasLabels) throw new UserInputError(`--data ${file}: training needs labels: add label=COLUMN to --map (the column saying fraud: 1/0, true/false, yes/no)`);
  if (read.rejected) console.error(`${read.rejected} rows rejected (not trained on): ${read.reasons.map((r) => `${r.count} x ${r.reason}`).join('; ')}`);
  if (read.txs.length === 0) throw new UserInputError(`--data ${file}: no valid rows`);
  const w = datesOf(v, read.txs[0].ts, read.txs[read.txs.length - 1].ts);
  const events = read.txs.map((tx) => ({ tx, label: read.labels.get(tx.txId) ?? null, include: w ? inWindows(w, tx.ts) : true }));
  const ds = datasetFromEvents(events, {
    novelScenarios: NOVEL,
    historyK,
    spec,
    labelFeatures: labelFeaturesFlag(v),
    source: { csv: path.resolve(file), map: v.map, ...(v.set ? { set: v.set } : {}), labelDelayDays: delayDays, rejected: read.rejected, ...(w ? { windows: isoWindows(w) } : {}) },
    expected: read.txs.length,
    onProgress: progress.update,
  });
  if (extraNames.length) guardExtraColumns(ds, v, w ? { from: w.valFrom, to: w.trainUntil } : undefined);
  return { ds, ...(w ? { splitAt: { valFrom: w.valFrom, testFrom: w.testFrom } } : {}) };
}

/**
 * The leak and id guard over --extra columns: on the validation rows (the date window's, else the default split's
 * 60-80% by time), a column that alone separates fraud, or an id read as a number, is refused by name.
 */
function guardExtraColumns(ds: Dataset, v: TrainFlags, val: { from: number; to: number } | undefined): void {
  const cols = ds.featureNames.flatMap((n, j) => (n.startsWith('num_') ? [j] : []));
  const names = cols.map((j) => ds.featureNames[j]);
  const rows = ds.rows.map((r) => cols.map((j) => r[j]));
  const n = rows.length;
  const valIdx = val ? Array.from(ds.ts).flatMap((t, i) => (t >= val.from && t < val.to ? [i] : [])) : Array.from({ length: Math.floor(n * 0.8) - Math.floor(n * 0.6) }, (_, i) => Math.floor(n * 0.6) + i);
  const allow = new Set((v['allow-column'] ?? '').split(',').map((c) => c.trim()).filter(Boolean).flatMap((c) => [c, `num_${numericName(c)}`]));
  const problems = guardColumns(names, rows, ds.labels, valIdx, allow);
  if (problems.length) {
    throw new UserInputError(
      `--extra: refusing ${problems.length === 1 ? 'a column' : `${problems.length} columns`}:\n  ${problems.map((p) => `${p.name}: ${p.why}`).join('\n  ')}\n` +
        `drop ${problems.length === 1 ? 'it' : 'them'} from --extra, or keep ${problems.length === 1 ? 'it' : 'them'} knowingly with --allow-column ${problems.map((p) => p.name).join(',')}`,
    );
  }
}

const labelFeaturesFlag = (v: TrainFlags): boolean => choice('label-features', v['label-features'], ['on', 'off'] as const, 'on') === 'on';

/** The date windows the flags ask for, or undefined for a split by shares. */
function datesOf(v: TrainFlags, first: number, last: number): DateWindows | undefined {
  if (v['train-until'] === undefined) return undefined;
  return dateWindows({
    trainFrom: timeFlag('train-from', v['train-from']),
    trainUntil: timeFlag('train-until', v['train-until']) as number,
    testFrom: timeFlag('test-from', v['test-from']) as number,
    testUntil: timeFlag('test-until', v['test-until']),
    valShare: numberFlag('val-share', v['val-share'], 0.25, { min: 0.05, max: 0.9 }),
    first,
    last,
  });
}

const isoWindows = (w: DateWindows) => Object.fromEntries(Object.entries(w).map(([k, t]) => [k, new Date(t).toISOString()]));

/** The training data the flags name, where its model version goes, and a date split when the flags give one. */
async function loadTrainingData(v: TrainFlags, config: Config, seed: number, historyK: number, progress: TrainProgress): Promise<{ ds: Dataset; outDir: string; splitAt?: { valFrom: number; testFrom: number } }> {
  const outDir = v.out ?? config.modelDir;
  if (v.data !== undefined && v.map !== undefined) return { ...(await datasetFromMappedFlag(v, historyK, progress)), outDir };
  if (v.data !== undefined) return datasetFromCsvFlag(v, config.modelDir, progress);
  if (v['from-kafka'] === true) return { ds: await datasetFromKafkaFlags(v, config, historyK, progress), outDir };
  if (v.history !== undefined) return { ds: await datasetFromHistoryFlag(v, historyK, progress), outDir };
  return { ds: datasetFromGeneratedWorld(v, seed, historyK, progress), outDir };
}

const train: Command = {
  name: 'train',
  summary: 'train the isolation forest, XGBoost and heavy model on history (or a CSV) into a new model version',
  usage: trainUsage,
  async run(argv) {
    const { values: v, positionals } = parseFlags(train, argv, TRAIN_FLAGS);
    checkTrainFlagCombinations(v, positionals);
    const config = loadConfig();
    const { seed, fractions, heavyMode, imbalance, historyK, targets, xgboost, trees, heavyEpochs, heavyRows } = trainSettings(v);
    const progress = stderrProgress();
    const { ds, outDir, splitAt } = await loadTrainingData(v, config, seed, historyK, progress);

    const heavyEnabled = heavyMode === 'on' || (heavyMode === 'auto' && ds.kind !== 'csv');
    const result = await trainModels(ds, {
      modelDir: outDir,
      fractions,
      ...(splitAt ? { splitAt } : {}),
      cardK: numberFlag('card-k', v['card-k'], 100, { min: 1, max: 1_000_000, integer: true }),
      targets,
      forest: { trees },
      xgboost,
      imbalance,
      heavy: { enabled: heavyEnabled, k: historyK, epochs: heavyEpochs, maxRows: heavyRows, serve: heavyMode === 'on' ? 'always' : 'if-better' },
      seed,
      onProgress: progress.update,
    });
    progress.done();
    const heavyMissing = heavyMode === 'on' && !result.card.test.heavy;
    if (heavyMissing) {
      console.error(`warning: --heavy on, but the heavy model was not trained: ${'skipped' in result.card.models.heavy ? String(result.card.models.heavy.skipped) : ''}`);
    }
    console.log(trainSummary(result));
    if (v.json) {
      await mkdir(path.dirname(path.resolve(v.json)), { recursive: true });
      await writeFile(v.json, JSON.stringify(trainJson(result), null, 2) + '\n');
      console.log(`metrics written to ${v.json}`);
    }
    return heavyMissing ? 1 : 0;
  },
};

const f3 = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));

/** The drift table: one row per feature and score, highest PSI first. */
export function driftTable(s: DriftSnapshot, from: string): string {
  const c = driftCounts(s.rows);
  return [
    table(
      ['feature / score', 'kind', 'PSI', 'status', 'bins'],
      s.rows.map((r) => [r.name, r.kind, f3(r.psi), r.status === 'stable' ? '' : r.status, r.edges.length + 1]),
    )
      .split('\n')
      .map((line, i) => (i === 0 ? `${line}  note` : i >= 2 && s.rows[i - 2]?.note ? `${line}  ${s.rows[i - 2]?.note}` : line))
      .join('\n'),
    '',
    `model ${s.version} (${from}): ${s.liveRows} live rows; ${c.shifted} shifted (PSI > 0.2), ${c.moderate} moderate (0.1 to 0.2) of ${s.rows.length - c.expected}` +
      (c.expected ? `; ${c.expected} expected to move with time, not counted` : ''),
  ].join('\n');
}

const driftUsage = [
  '[--model VERSION] [--json FILE] [--reset]   live counts from Redis; default: the version the current policy serves, else the newest under MODEL_DIR;',
  '     --reset deletes that version\'s live counts (start over after a shift you accept)',
  '  | --world --minutes 1,2,5 [--rate EPS] [--holiday] [--fresh] [--model VERSION] [--json FILE]',
  '     offline, what the demo\'s live stream does: continue the world the version was trained on (its card histories',
  '     warmed in an in-memory feature store, the clock going on from the end of the history) for each number of',
  '     minutes of traffic at --rate (default 50) transactions/s, and print the PSI after each. --holiday turns on the',
  '     world\'s drift switch at the first live transaction; --fresh instead starts a new world with empty card state',
  '     at the wall clock (what the demo did before it continued the training world). No Redis needed.',
  '  | --world [--model VERSION] [--events N] [--seed S] [--cards N] [--from N] [--holiday] [--json FILE]',
  '     offline: generate a world (producers/world), replay every event through the in-memory feature store, and count',
  '     events from index --from on (default 60%: after the default training slice) scored by the version; --holiday',
  '     turns on the world\'s drift switch at --from. No Redis needed.',
].join('\n  ');

/** Offline drift: a generated world scored by a version, counted exactly as the detect stage counts live traffic. */
export async function worldSnapshot(dir: string, o: { events: number; seed: number; cards: number; from: number; holiday: boolean }, onProgress: (n: number) => void): Promise<DriftSnapshot> {
  const { loadModelVersion } = await import('./model-version.ts');
  // Drift needs the first line only: skip loading TensorFlow.js for a version with a heavy model.
  const model = await loadModelVersion(dir, { heavyLoader: async () => ({ predict: async () => [], save: async () => {}, dispose: () => {} }) });
  try {
    if (!model.driftReference) throw new UserInputError(`model ${model.version} has no drift-reference.json (${model.driftReferenceError ?? 'trained before drift monitoring'}); train a new version to monitor drift`);
    const acc = new DriftAccumulator(model.driftReference, model.featureNames);
    const store = new MemoryFeatureStore();
    const counts: Record<string, number[]> = {};
    let seen = 0;
    let batch: Transaction[] = [];
    const flush = () => {
      const vectors = store.computeAndApplySync(batch);
      const first = seen - batch.length;
      const keep = Math.max(0, o.from - first);
      if (keep < vectors.length) {
        const live = vectors.slice(keep);
        acc.observe(live, model.scoreFirstLine(live));
        for (const [k, c] of Object.entries(acc.drain())) {
          const t = (counts[k] ??= new Array<number>(c.length).fill(0));
          c.forEach((x, i) => (t[i]! += x));
        }
      }
      batch = [];
      onProgress(seen);
    };
    for (const e of generateStream({ seed: o.seed, events: o.events, cards: o.cards, drift: o.holiday, driftAfterEvents: o.from })) {
      batch.push(e.tx);
      seen++;
      if (batch.length >= 1_000) flush();
    }
    if (batch.length) flush();
    const rows = driftReport(model.driftReference, counts);
    return { version: model.version, hasReference: true, bins: model.driftReference.bins, liveRows: Math.max(0, seen - o.from), rows };
  } finally {
    model.dispose();
  }
}

/** Drift after some minutes of live traffic: what the Models page would show then. */
export interface LiveCheckpoint {
  minutes: number;
  events: number;
  /** Simulated time the live events spanned. */
  simulatedHours: number;
  snapshot: DriftSnapshot;
}

export interface LiveWorldDrift {
  version: string;
  /** How the live stream began: continuing the training world, or a fresh one. */
  start: string;
  rate: number;
  holiday: boolean;
  fresh: boolean;
  warmSeconds: number;
  checkpoints: LiveCheckpoint[];
}

/**
 * The demo's live stream, offline: the world a version was trained on, its history replayed through an in-memory
 * feature store (as `warm` replays it into Redis), then `minutes` of traffic at `rate` transactions/s scored and
 * counted in detect's batches of 500, PSI taken at each checkpoint. `fresh` reproduces the cold start instead: a
 * new world (seed + 1, the simulator's default 10,000 cards) at the wall clock with empty card state.
 */
export async function liveWorldDrift(
  dir: string,
  o: { minutes: number[]; rate: number; holiday: boolean; fresh: boolean },
  onProgress: (stage: string, n: number, total: number) => void = () => {},
): Promise<LiveWorldDrift> {
  const { loadModelVersion } = await import('./model-version.ts');
  const found = await trainedWorld(dir);
  if ('reason' in found) throw new UserInputError(`model ${path.basename(dir)} has no training world to continue: ${found.reason}; use --events/--seed/--cards (the generated-world mode) instead of --minutes`);
  const h = found.history;
  const model = await loadModelVersion(dir, { heavyLoader: async () => ({ predict: async () => [], save: async () => {}, dispose: () => {} }) });
  try {
    if (!model.driftReference) throw new UserInputError(`model ${model.version} has no drift-reference.json (${model.driftReferenceError ?? 'trained before drift monitoring'}); train a new version to monitor drift`);
    const store = new MemoryFeatureStore();
    // chargebacks of the history keep arriving during the live minutes, as the labels stage would feed them
    const arrivals = new LabelArrivals();
    const warmStarted = performance.now();
    let world: World;
    if (o.fresh) {
      world = new World({ seed: h.seed + 1, events: Infinity, startTs: Date.now(), drift: o.holiday, driftAfterEvents: 0 });
    } else {
      store.replayEvents(historyEvents(h), 2_000, (n) => onProgress('warm', n, h.events), arrivals);
      world = continueWorld(h, { drift: o.holiday });
    }
    const warmSeconds = (performance.now() - warmStarted) / 1000;
    const start = o.fresh
      ? `a fresh world (seed ${h.seed + 1}, ${world.options.cards} cards, starting at the wall clock, empty card state)`
      : `the training world continued (seed ${h.seed}, ${world.options.cards} cards, after its ${h.events} history events, card state warmed)`;
    const acc = new DriftAccumulator(model.driftReference, model.featureNames);
    const counts: Record<string, number[]> = {};
    const checkpoints: LiveCheckpoint[] = [];
    const marks = [...new Set(o.minutes)].sort((a, b) => a - b);
    const total = Math.round((marks.at(-1) ?? 0) * 60 * o.rate);
    const liveFrom = world.now;
    let seen = 0;
    for (const minutes of marks) {
      const until = Math.round(minutes * 60 * o.rate);
      while (seen < until) {
        const batch: Array<{ tx: Transaction; label: Label | null }> = [];
        for (let i = Math.min(500, until - seen); i > 0; i--) batch.push(world.next() as { tx: Transaction; label: Label | null });
        const vectors = store.replayEvents(batch, 500, undefined, arrivals);
        acc.observe(vectors, model.scoreFirstLine(vectors));
        for (const [k, c] of Object.entries(acc.drain())) {
          const t = (counts[k] ??= new Array<number>(c.length).fill(0));
          c.forEach((x, i) => (t[i]! += x));
        }
        seen += batch.length;
        onProgress('live', seen, total);
      }
      const rows = driftReport(model.driftReference, counts);
      checkpoints.push({
        minutes,
        events: seen,
        simulatedHours: (world.now - liveFrom) / 3_600_000,
        snapshot: { version: model.version, hasReference: true, bins: model.driftReference.bins, liveRows: seen, rows },
      });
    }
    return { version: model.version, start, rate: o.rate, holiday: o.holiday, fresh: o.fresh, warmSeconds, checkpoints };
  } finally {
    model.dispose();
  }
}

/** PSI per entry after each checkpoint (highest at the last first), and one summary line per checkpoint. */
export function liveDriftTable(d: LiveWorldDrift): string {
  const last = d.checkpoints.at(-1);
  if (!last) return 'no checkpoints';
  const byName = d.checkpoints.map((c) => new Map(c.snapshot.rows.map((r) => [r.name, r])));
  const rows = last.snapshot.rows.map((r) => [
    r.name,
    ...byName.map((m) => f3(m.get(r.name)?.psi ?? null)),
    r.status === 'stable' ? '' : r.status,
    r.note ? 'expected to move' : '',
  ]);
  const minutes = (m: number) => `${m} min`;
  return [
    table(['feature / score', ...d.checkpoints.map((c) => `PSI ${minutes(c.minutes)}`), `status ${minutes(last.minutes)}`, 'note'], rows),
    '',
    `model ${d.version}: ${d.start}, ${d.rate} tx/s${d.holiday ? ', holiday drift from the first live transaction' : ', no drift'}`,
    ...d.checkpoints.map((c) => {
      const n = driftCounts(c.snapshot.rows);
      return `  after ${minutes(c.minutes)} (${c.events} tx, ${c.simulatedHours.toFixed(1)} simulated h): ${n.shifted} shifted (PSI > 0.2), ${n.moderate} moderate of ${c.snapshot.rows.length - n.expected}${n.expected ? `; ${n.expected} expected to move, not counted` : ''}`;
    }),
  ].join('\n');
}

/** The version the current policy serves, else the newest under MODEL_DIR; `from` says which. */
async function servedVersion(redis: Redis, config: Config): Promise<{ version: string; from: string }> {
  const prefix = config.redis.keyPrefix;
  const keys = policyKeysOf(redis, prefix);
  const current = await redis.get(keys.current);
  const raw = current === null ? null : await redis.get(keys.doc(current));
  const policy = raw === null ? undefined : PolicySchema.safeParse(fillMissingThresholds(JSON.parse(raw)).doc);
  if (policy?.success && policy.data.modelVersion) return { version: policy.data.modelVersion, from: `served by policy v${policy.data.version}` };
  const newest = (await listModelVersions(config.modelDir)).at(-1);
  if (newest === undefined) throw new UserInputError(`no model version under MODEL_DIR (${path.resolve(config.modelDir)}); train one with: npm run train`);
  return { version: newest, from: 'newest under MODEL_DIR; the policy names none' };
}

const drift: Command = {
  name: 'drift',
  summary: 'PSI per feature and model score: live traffic (Redis counts from detect, or a generated world) against the version\'s training reference',
  usage: driftUsage,
  async run(argv) {
    const { values: v, positionals } = parseFlags(drift, argv, {
      model: { type: 'string' },
      json: { type: 'string' },
      world: { type: 'boolean' },
      events: { type: 'string' },
      seed: { type: 'string' },
      cards: { type: 'string' },
      from: { type: 'string' },
      holiday: { type: 'boolean' },
      reset: { type: 'boolean' },
      minutes: { type: 'string' },
      rate: { type: 'string' },
      fresh: { type: 'boolean' },
    });
    if (positionals.length) throw new UserInputError(`drift: unexpected argument ${JSON.stringify(positionals[0])}\nusage: fraudstream drift ${driftUsage}`);
    if (v.model !== undefined && !MODEL_VERSION_NAME.test(v.model)) throw new UserInputError(`--model must be a model version folder name (letters, digits, . _ -), got ${JSON.stringify(v.model)}`);
    if (v.world && v.reset) throw new UserInputError('--reset deletes live counts in Redis; --world reads none: use one or the other');
    if (!v.world) {
      for (const f of ['events', 'seed', 'cards', 'from', 'holiday', 'minutes', 'rate', 'fresh'] as const) if (v[f] !== undefined) throw new UserInputError(`--${f} goes with --world (the offline mode)`);
    }
    if (v.minutes !== undefined) {
      for (const f of ['events', 'seed', 'cards', 'from'] as const) {
        if (v[f] !== undefined) throw new UserInputError(`--${f} cannot go with --minutes: the live stream continues the world the model was trained on`);
      }
    } else {
      for (const f of ['rate', 'fresh'] as const) if (v[f] !== undefined) throw new UserInputError(`--${f} goes with --world --minutes (the live stream)`);
    }
    const config = loadConfig();
    // The one rule of which folders are versions (detectors/version-names.ts), as the console and the stages apply it.
    const requireVersion = async (version: string, from: string) => (await requireModelVersion(config.modelDir, version, from === '--model' ? '--model' : undefined)).dir;
    const write = async (snap: DriftSnapshot, from: string) => {
      if (!v.json) return;
      await mkdir(path.dirname(path.resolve(v.json)), { recursive: true });
      await writeFile(v.json, JSON.stringify({ ...snap, from }, null, 2) + '\n');
      console.log(`drift written to ${v.json}`);
    };

    if (v.world && v.minutes !== undefined) {
      const minutes = v.minutes.split(',').map((m) => numberFlag('minutes', m.trim(), 0, { min: 0.1, max: 1_440 }));
      const rate = numberFlag('rate', v.rate, 50, { min: 0.1, max: 100_000 });
      const version = v.model ?? (await listModelVersions(config.modelDir)).at(-1);
      if (version === undefined) throw new UserInputError(`no model version under MODEL_DIR (${path.resolve(config.modelDir)}); train one with: npm run train`);
      const dir = await requireVersion(version, v.model ? '--model' : 'newest');
      const progress = stderrProgress();
      const result = await liveWorldDrift(dir, { minutes, rate, holiday: v.holiday === true, fresh: v.fresh === true }, (stage, n, total) =>
        progress.update(stage, `${n}/${total} transactions`, true),
      );
      progress.done();
      console.log(liveDriftTable(result));
      if (v.json) {
        await mkdir(path.dirname(path.resolve(v.json)), { recursive: true });
        await writeFile(v.json, JSON.stringify(result, null, 2) + '\n');
        console.log(`drift written to ${v.json}`);
      }
      return 0;
    }

    if (v.world) {
      const events = numberFlag('events', v.events, 100_000, { min: 1_000, max: 50_000_000, integer: true });
      const o = {
        events,
        seed: numberFlag('seed', v.seed, 1, { min: 0, max: 2 ** 31 - 1, integer: true }),
        cards: numberFlag('cards', v.cards, 10_000, { min: 10, max: 1_000_000, integer: true }),
        from: numberFlag('from', v.from, Math.floor(events * 0.6), { min: 0, max: events - 1, integer: true }),
        holiday: v.holiday === true,
      };
      const version = v.model ?? (await listModelVersions(config.modelDir)).at(-1);
      if (version === undefined) throw new UserInputError(`no model version under MODEL_DIR (${path.resolve(config.modelDir)}); train one with: npm run train`);
      const dir = await requireVersion(version, v.model ? '--model' : 'newest');
      const progress = stderrProgress();
      const started = performance.now();
      const snap = await worldSnapshot(dir, o, (n) => progress.update('world', `${n}/${events} events`, true));
      progress.done();
      const from = `world seed ${o.seed}, ${o.cards} cards, events ${o.from}-${events}${o.holiday ? ', holiday drift from ' + o.from : ', no drift'}; ${((performance.now() - started) / 1000).toFixed(1)} s`;
      console.log(driftTable(snap, from));
      await write(snap, from);
      return 0;
    }

    const prefix = config.redis.keyPrefix;
    const redis = await connectRedisForCommand(config);
    try {
      const { version, from } = v.model !== undefined ? { version: v.model, from: '--model' } : await servedVersion(redis, config);
      const dir = await requireVersion(version, from);
      if (v.reset) {
        const rows = (await readDrift(redis, prefix, version)).rows;
        await resetDrift(redis, prefix, version);
        console.log(`live drift counts of ${version} (${from}) deleted: ${rows} rows; counting starts again with detect's next batch`);
        return 0;
      }
      const snap = await driftSnapshot(redis, prefix, dir);
      if (!snap.hasReference) {
        throw new UserInputError(`model ${version} has no drift-reference.json (trained before drift monitoring); train a new version to monitor drift`);
      }
      console.log(driftTable(snap, from));
      if (snap.liveRows === 0) console.log('no live rows yet: the detect stage records them per batch while it serves this version');
      await write(snap, from);
      return 0;
    } finally {
      redis.disconnect();
    }
  },
};

const warm: Command = {
  name: 'warm',
  summary: "load the card histories of the served model's training world into the online feature store, before a simulation that continues that world",
  usage: [
    '[--model VERSION] [--keep-drift]',
    '  replaces the state of every card of the world the version was trained on (default: the version the policy serves, else',
    '  the newest) with what its training history builds, so `simulate` (which continues that world) meets cards with pasts;',
    "  and deletes the version's live drift counts (the live world starts again at the end of the history) unless --keep-drift.",
    '  Run it before the simulation: traffic for these cards in flight meanwhile would be overwritten.',
  ].join('\n'),
  async run(argv) {
    const { values: v, positionals } = parseFlags(warm, argv, { model: { type: 'string' }, 'keep-drift': { type: 'boolean' } });
    if (positionals.length) throw new UserInputError(`warm: unexpected argument ${JSON.stringify(positionals[0])}\nusage: fraudstream warm ${warm.usage}`);
    if (v.model !== undefined && !MODEL_VERSION_NAME.test(v.model)) throw new UserInputError(`--model must be a model version folder name (letters, digits, . _ -), got ${JSON.stringify(v.model)}`);
    const config = loadConfig();
    let version = v.model;
    if (version === undefined) {
      const redis = await connectRedisForCommand(config);
      try {
        version = (await servedVersion(redis, config)).version;
      } finally {
        redis.disconnect();
      }
    }
    await requireModelVersion(config.modelDir, version, v.model !== undefined ? '--model' : undefined);
    const progress = stderrProgress();
    const r = await warmFromModel(config, version, { keepDrift: v['keep-drift'] === true, onProgress: (n, total) => progress.update('warm', `${n}/${total} transactions`, true) });
    progress.done();
    if (!r.warmed) throw new UserInputError(`model ${version} cannot be continued live: ${r.reason}. Nothing to warm; simulate a fresh world instead`);
    console.log(
      `warmed ${r.cards} cards with the ${r.transactions} transactions of model ${version}'s training world (seed ${r.history.seed}) in ${r.seconds.toFixed(1)} s` +
        (v['keep-drift'] ? '' : `; its live drift counts start over (${r.driftRowsDeleted} rows deleted)`),
    );
    return 0;
  },
};

const restoreFeaturesCommand: Command = {
  name: 'restore features',
  summary: 'rebuild the feature state in Redis after a loss: replay the transactions and labels topics over the longest feature window',
  usage: [
    '[--force] [--idle-timeout SECONDS]',
    '  reads both topics from (now - the feature spec\'s longest window) by broker time, keeps transactions within that window of',
    '  the newest one, deletes the feature keys left and replays them (labels as they arrived) through the store detect writes',
    '  with, then marks the state whole: detect stops marking decisions partialHistory. Refuses when the state is whole',
    '  already (replaying over it would count the window twice) unless --force, which rebuilds it from scratch.',
  ].join('\n'),
  async run(argv) {
    const { values: v, positionals } = parseFlags(restoreFeaturesCommand, argv, { force: { type: 'boolean' }, 'idle-timeout': { type: 'string' } });
    if (positionals.length) throw new UserInputError(`restore features: unexpected argument ${JSON.stringify(positionals[0])}\nusage: fraudstream restore features ${restoreFeaturesCommand.usage.split('\n')[0]}`);
    const idle = numberFlag('idle-timeout', v['idle-timeout'], 15, { min: 1, max: 3_600 });
    const config = loadConfig();
    const redis = await connectRedisForCommand(config);
    const progress = stderrProgress();
    try {
      const { restoreFeatures } = await import('./restore.ts');
      const r = await restoreFeatures({ config, redis, force: v.force === true, idleTimeoutMs: idle * 1000, onProgress: (stage, message, frequent) => progress.update(stage, message, frequent) });
      progress.done();
      const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
      console.log(
        table(
          ['restore features', ''],
          [
            ['window (days)', r.windowDays],
            ['read from (broker time)', when(r.readFrom)],
            ['replayed from (event time)', when(r.replayFrom)],
            ['transactions read', r.read.transactions],
            ['labels read', r.read.labels],
            ['malformed (skipped)', r.read.malformed],
            ['duplicates (skipped)', r.replayed.duplicates],
            ['older than the window', r.replayed.olderThanWindow],
            ['transactions replayed', r.replayed.transactions],
            ['fraud labels counted', r.labelsCounted],
            ['feature keys deleted first', r.keysDeleted],
            ['read complete', r.complete ? 'yes' : 'no (a partition stayed below its end offset)'],
            ['seconds', r.seconds.toFixed(1)],
          ],
        ),
      );
      return 0;
    } finally {
      progress.done();
      redis.disconnect();
    }
  },
};

/** CLI subcommands owned by this part of the tree; cli/main.ts lists them. */
export const commands: Command[] = [train, drift, warm, restoreFeaturesCommand];
