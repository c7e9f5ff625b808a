import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { LineWriter } from '../core/files.ts';
import { TERMINAL_WORLD_HEADER, terminalWorldRows, type TerminalWorldOptions } from './terminal-world.ts';
import { numberFlag, parseFlags, timeFlag, untilSignal, type Command } from '../core/command.ts';
import { loadConfig } from '../core/config.ts';
import { UserInputError } from '../core/errors.ts';
import { ensureTopics } from '../core/kafka.ts';
import { formatFromPath } from '../core/codec.ts';
import { choiceFlag, scenarioList, scenarioRates, requiredFlag } from './flags.ts';
import { generateToFile, type GenerateSummary } from './generate.ts';
import { createKafkaSink, maxRequestBytes } from './kafka-sink.ts';
import { checkReplayInput, replayFile, type Pace, type ReplaySummary } from './replay.ts';
import { fmtNum, pct, table } from './report.ts';
import { createSimulator, SIMULATOR_LABEL_DELAY_SCALE } from './simulator.ts';
import { findTrainedWorld } from './trained-world.ts';
import { SCENARIOS, type WorldHistory, type WorldOptions } from './world/index.ts';
import { MODEL_VERSION_NAME } from '../core/contracts.ts';

/** World flags shared by generate and simulate. */
const worldFlagSpec = {
  seed: { type: 'string' },
  cards: { type: 'string' },
  merchants: { type: 'string' },
  'fraud-rate': { type: 'string' },
  rates: { type: 'string' },
  scenarios: { type: 'string' },
  exclude: { type: 'string' },
  drift: { type: 'boolean' },
  'drift-after': { type: 'string' },
  'legit-labels': { type: 'string' },
  'label-delay-scale': { type: 'string' },
} as const;

const worldUsage =
  '[--seed S] [--cards N] [--merchants N] [--fraud-rate SHARE] [--rates scenario=share,...] [--scenarios a,b | --exclude a,b] [--drift [--drift-after N]] [--legit-labels SHARE] [--label-delay-scale X]';

type WorldFlags = Partial<Record<keyof typeof worldFlagSpec, string | boolean>>;

function worldOptions(v: WorldFlags, events: number, defaults: { seed: number; startTs?: number; labelDelayScale?: number }): WorldOptions {
  const s = (k: keyof typeof worldFlagSpec) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const fraudRate = s('fraud-rate');
  const driftAfter = s('drift-after');
  return {
    seed: numberFlag('seed', s('seed'), defaults.seed, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
    events,
    cards: numberFlag('cards', s('cards'), 10_000, { min: 10, max: 1_000_000, integer: true }),
    merchants: numberFlag('merchants', s('merchants'), 2_000, { min: 50, max: 1_000_000, integer: true }),
    ...(defaults.startTs !== undefined ? { startTs: defaults.startTs } : {}),
    ...(fraudRate !== undefined ? { fraudRate: numberFlag('fraud-rate', fraudRate, 0, { min: 0, max: 0.5 }) } : {}),
    rates: scenarioRates('rates', s('rates')),
    ...(s('scenarios') !== undefined ? { include: scenarioList('scenarios', s('scenarios')) } : {}),
    exclude: scenarioList('exclude', s('exclude')) ?? [],
    drift: v.drift === true,
    ...(driftAfter !== undefined ? { driftAfterEvents: numberFlag('drift-after', driftAfter, 0, { min: 0, integer: true }) } : {}),
    legitLabelShare: numberFlag('legit-labels', s('legit-labels'), 1, { min: 0, max: 1 }),
    labelDelayScale: numberFlag('label-delay-scale', s('label-delay-scale'), defaults.labelDelayScale ?? 1, { min: 1e-6, max: 10 }),
  };
}

function generateReport(r: GenerateSummary): string {
  const rows: Array<Array<string | number>> = SCENARIOS.map((s) => [
    s.name + (s.novel ? ' (novel)' : ''),
    r.byScenario[s.name],
    pct(r.events ? r.byScenario[s.name] / r.events : 0),
    pct(r.configuredRates[s.name]),
  ]);
  rows.push(['all fraud', r.fraud, pct(r.events ? r.fraud / r.events : 0), pct(Object.values(r.configuredRates).reduce((a, b) => a + b, 0))]);
  rows.push(['legitimate', r.legit, pct(r.events ? r.legit / r.events : 0), '']);
  return [
    table(['scenario', 'transactions', 'share', 'configured'], rows),
    '',
    table(
      ['events', 'labels', 'simulated span', 'seconds', 'events/s'],
      [[r.events, r.labels, `${new Date(r.firstTs).toISOString()} .. ${new Date(r.lastTs).toISOString()}`, Number(r.seconds.toFixed(2)), Math.round(r.events / Math.max(r.seconds, 1e-6))]],
    ),
    '',
    `transactions: ${r.out}`,
    `labels:       ${r.labelsOut}`,
  ].join('\n');
}

const generate: Command = {
  name: 'generate',
  summary: 'write a seeded synthetic transaction stream (JSONL or CSV) and its labels file beside it',
  usage: `--events N --out FILE [--format jsonl|csv] [--start ISO|MS] ${worldUsage}`,
  async run(argv) {
    const { values: v } = parseFlags(this, argv, {
      ...worldFlagSpec,
      events: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      start: { type: 'string' },
      quiet: { type: 'boolean' },
    });
    const events = numberFlag('events', requiredFlag('events', v.events, '--events 100000'), 0, { min: 1, max: 1e9, integer: true });
    const out = requiredFlag('out', v.out, '--out data/tx.jsonl');
    const startTs = timeFlag('start', v.start);
    const world = worldOptions(v, events, { seed: 1, ...(startTs !== undefined ? { startTs } : {}) });
    const summary = await generateToFile({ world, out, format: formatFromPath(out, v.format), progress: v.quiet !== true });
    console.log(generateReport(summary));
  },
};

/** The terminal world as a CSV in its own column names (TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, ...). */
export async function writeTerminalWorld(out: string, o: TerminalWorldOptions): Promise<number> {
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  const w = new LineWriter(out);
  await w.write(TERMINAL_WORLD_HEADER);
  let n = 0;
  for (const row of terminalWorldRows(o)) {
    await w.write(row);
    n++;
  }
  await w.commit();
  return n;
}

const TERMINAL_MAP = 'txId=TRANSACTION_ID,time=TX_DATETIME,cardId=CUSTOMER_ID,merchantId=TERMINAL_ID,amount=TX_AMOUNT,label=TX_FRAUD,scenario=TX_FRAUD_SCENARIO';

const generateTerminals: Command = {
  name: 'generate terminals',
  summary: 'write the customers-and-terminals world (compromised terminals, labels a column) as a CSV in its own column names',
  usage: '--out FILE.csv [--customers N] [--terminals N] [--days N] [--seed S] [--start YYYY-MM-DD]',
  async run(argv) {
    const { values: v } = parseFlags(this, argv, {
      out: { type: 'string' },
      customers: { type: 'string' },
      terminals: { type: 'string' },
      days: { type: 'string' },
      seed: { type: 'string' },
      start: { type: 'string' },
    });
    const out = requiredFlag('out', v.out, '--out data/terminals.csv');
    const o: TerminalWorldOptions = {
      customers: numberFlag('customers', v.customers, 2_000, { min: 10, max: 1_000_000, integer: true }),
      terminals: numberFlag('terminals', v.terminals, 4_000, { min: 10, max: 1_000_000, integer: true }),
      days: numberFlag('days', v.days, 90, { min: 1, max: 3_650, integer: true }),
      seed: numberFlag('seed', v.seed, 1, { min: 0, max: 2 ** 31 - 1, integer: true }),
      start: timeFlag('start', v.start ?? '2025-04-01T00:00:00Z') as number,
    };
    const rows = await writeTerminalWorld(out, o);
    console.log(`${rows} transactions written to ${out}`);
    console.log(`train on it: npx fraudstream train --data ${out} --map ${TERMINAL_MAP} --train-until DATE --test-from DATE`);
  },
};

function paceFlags(rate: string | undefined, speed: string | undefined): Pace {
  if (rate !== undefined && speed !== undefined) throw new UserInputError('--rate and --speed cannot be used together: --rate sets events per second, --speed scales the recorded times');
  if (speed !== undefined) return { kind: 'speed', factor: numberFlag('speed', speed, 1, { min: 1e-3, max: 1e9 }) };
  if (rate === undefined || rate === 'max') return { kind: 'max' };
  return { kind: 'rate', eps: numberFlag('rate', rate, 1, { min: 0.01, max: 10_000_000 }) };
}

function replayReport(r: ReplaySummary, topics: { transactions: string; labels: string }): string {
  const lines = [
    table(
      ['rows', 'passes', 'sent', 'rejected', 'labels sent', 'labels pending', 'seconds', 'events/s'],
      [[r.rows, r.passes, r.sent, r.rejected + r.labelsRejected, r.labelsSent, r.labelsPending, Number(r.seconds.toFixed(2)), Math.round(r.eventsPerSec)]],
    ),
    `topics: ${topics.transactions} (transactions), ${topics.labels} (labels)${r.stopped ? '  [stopped]' : ''}`,
  ];
  if (r.rejectReasons.length > 0) {
    lines.push('', table(['rejected because', 'rows'], r.rejectReasons.map((x) => [x.reason, x.count])), `every rejected row is in ${r.rejectsFile}`);
  }
  return lines.join('\n');
}

const replay: Command = {
  name: 'replay',
  summary: 'send a transactions file (JSONL, CSV, or your own CSV with --map) into Kafka at a rate or speed, labels after their delay',
  usage:
    '--file FILE [--rate EPS|max | --speed X] [--loop | --loops N] [--format jsonl|csv] [--map field=Column,...] [--extra COL,COL] [--set field=value,...] [--time-unit ms|s] [--time-base ISO|MS] [--label-delay-ms MS] [--labels FILE | --no-labels] [--rejects FILE] [--batch N] [--quiet]',
  async run(argv) {
    const { values: v } = parseFlags(this, argv, {
      file: { type: 'string' },
      rate: { type: 'string' },
      speed: { type: 'string' },
      loop: { type: 'boolean' },
      loops: { type: 'string' },
      format: { type: 'string' },
      map: { type: 'string' },
      extra: { type: 'string' },
      set: { type: 'string' },
      'time-unit': { type: 'string' },
      'time-base': { type: 'string' },
      'label-delay-ms': { type: 'string' },
      labels: { type: 'string' },
      'no-labels': { type: 'boolean' },
      rejects: { type: 'string' },
      batch: { type: 'string' },
      quiet: { type: 'boolean' },
    });
    const file = requiredFlag('file', v.file, '--file data/tx.jsonl');
    const pace = paceFlags(v.rate, v.speed);
    if (v.loop && v.loops !== undefined) throw new UserInputError('--loop and --loops cannot be used together: --loop repeats until Ctrl-C, --loops N repeats N times');
    if (v.labels !== undefined && v['no-labels']) throw new UserInputError('--labels and --no-labels cannot be used together');
    const loops = v.loop ? Infinity : numberFlag('loops', v.loops, 1, { min: 1, integer: true });
    const timeBase = timeFlag('time-base', v['time-base']);
    if (v.extra !== undefined && v.map === undefined) throw new UserInputError('--extra goes with --map (a CSV in your own column names)');
    const csv = {
      map: v.map,
      set: v.set,
      extra: v.extra,
      timeUnit: choiceFlag('time-unit', v['time-unit'], ['ms', 's'] as const, 'ms'),
      ...(timeBase !== undefined ? { timeBase } : {}),
      labelDelayMs: numberFlag('label-delay-ms', v['label-delay-ms'], 0, { min: 0 }),
    };
    const format = formatFromPath(file, v.format);
    const labelsFile = v['no-labels'] ? null : v.labels;
    await checkReplayInput({ file, format, csv, labelsFile });
    const config = loadConfig();
    const batchSize = numberFlag('batch', v.batch, 4000, { min: 1, max: 50_000, integer: true });
    await ensureTopics(config);
    const sink = await createKafkaSink(config);
    const abort = new AbortController();
    void untilSignal().then(() => abort.abort());
    try {
      const summary = await replayFile(
        {
          file,
          format,
          pace,
          loops,
          csv,
          labelsFile,
          ...(v.rejects !== undefined ? { rejectsFile: v.rejects } : {}),
          batchSize,
          maxBatchBytes: maxRequestBytes(config),
          signal: abort.signal,
          progress: v.quiet !== true,
        },
        sink,
      );
      console.log(replayReport(summary, config.topics));
    } finally {
      await sink.close();
    }
  },
};

/** Flags that shape a world: a continued world keeps the ones it was trained with. */
const SHAPING_FLAGS = ['seed', 'cards', 'merchants', 'fraud-rate', 'rates', 'scenarios', 'exclude'] as const;

const simulate: Command = {
  name: 'simulate',
  summary: 'generate live transactions into Kafka at a target rate until Ctrl-C (labels follow after scaled chargeback delays)',
  usage: [
    `--rate EPS [--duration SECONDS] [--continue VERSION | --fresh ${worldUsage}]`,
    '  default: continue the world the newest model version under MODEL_DIR was trained on (same cards, merchants and',
    '  mix; simulated time goes on from the end of its history), so live traffic looks like what the model learned on;',
    '  the stages\' feature store must hold that history first: `fraudstream warm` (the demo does both). --drift then',
    '  starts the holiday season at the first live transaction. --fresh, or any of --seed/--cards/--merchants/--fraud-rate/',
    '  --rates/--scenarios/--exclude: a new world from the wall clock, whose cards have no history.',
  ].join('\n'),
  async run(argv) {
    const { values: v } = parseFlags(this, argv, {
      ...worldFlagSpec,
      rate: { type: 'string' },
      duration: { type: 'string' },
      quiet: { type: 'boolean' },
      continue: { type: 'string' },
      fresh: { type: 'boolean' },
    });
    const rate = numberFlag('rate', requiredFlag('rate', v.rate, '--rate 200'), 0, { min: 0.01, max: 1_000_000 });
    const duration = numberFlag('duration', v.duration, Infinity, { min: 0.1 });
    const shaping = SHAPING_FLAGS.filter((f) => v[f] !== undefined);
    if (v.continue !== undefined && (v.fresh || shaping.length)) {
      throw new UserInputError(`--continue repeats the model's world as it was trained: drop ${v.fresh ? '--fresh' : shaping.map((f) => `--${f}`).join(', ')}`);
    }
    if (v.continue !== undefined && !MODEL_VERSION_NAME.test(v.continue)) throw new UserInputError(`--continue must be a model version folder name, got ${JSON.stringify(v.continue)}`);
    const w = worldOptions(v, 0, { seed: Date.now() % 2_147_483_647, labelDelayScale: SIMULATOR_LABEL_DELAY_SCALE });
    const { seed, events: _events, ...world } = w;
    const config = loadConfig();
    let continueFrom: WorldHistory | undefined;
    let note: string;
    if (v.fresh || shaping.length) note = `a fresh world, seed ${seed}${v.fresh ? '' : ` (${shaping.map((f) => `--${f}`).join(', ')} given)`}`;
    else {
      const found = await findTrainedWorld(config.modelDir, v.continue);
      if ('history' in found) {
        continueFrom = found.history;
        note = `continuing the training world of model ${found.version} (seed ${found.history.seed}) after its ${found.history.events} history events`;
      } else if (v.continue !== undefined) {
        throw new UserInputError(`--continue ${v.continue}: cannot continue its world: ${found.reason}; use --fresh`);
      } else note = `a fresh world, seed ${seed} (no model's world to continue: ${found.reason})`;
    }
    const live = { drift: world.drift, ...(world.driftAfterEvents !== undefined ? { driftAfterEvents: world.driftAfterEvents } : {}), legitLabelShare: world.legitLabelShare, labelDelayScale: world.labelDelayScale };
    const sim = createSimulator(config, continueFrom ? { rate, continueFrom, world: live } : { rate, seed, world });
    await sim.start();
    console.error(`simulate: ${note}; ${fmtNum(rate)} ev/s into ${config.topics.transactions} (labels on ${config.topics.labels}); Ctrl-C to stop`);
    const timer = v.quiet
      ? undefined
      : setInterval(() => {
          const s = sim.stats();
          const fraud = Object.values(s.byScenario).reduce((a, b) => a + b, 0);
          console.error(`simulate ${fmtNum(s.sent)} sent  ${fmtNum(Math.round(s.rate))} ev/s  fraud ${fmtNum(fraud)}  labels ${fmtNum(s.labelsSent)}  sim time ${new Date(s.simulatedNow).toISOString()}`);
        }, 5000);
    let watch: NodeJS.Timeout | undefined;
    const failed = new Promise<void>((resolve) => {
      watch = setInterval(() => {
        if (!sim.stats().running) resolve();
      }, 500);
    });
    const ends: Array<Promise<unknown>> = [untilSignal(), failed];
    if (Number.isFinite(duration)) ends.push(new Promise((resolve) => setTimeout(resolve, duration * 1000)));
    await Promise.race(ends);
    clearInterval(watch);
    if (timer) clearInterval(timer);
    const s = await sim.stop();
    const rows: Array<Array<string | number>> = SCENARIOS.map((x) => [x.name, s.byScenario[x.name] ?? 0]);
    console.log(table(['scenario', 'fraud transactions'], rows));
    console.log('');
    console.log(table(['sent', 'labels sent', 'labels pending', 'simulated until'], [[s.sent, s.labelsSent, s.labelsPending, new Date(s.simulatedNow).toISOString()]]));
    if (s.error) throw new Error(`simulator stopped on error: ${s.error}`);
  },
};

export const commands: Command[] = [generate, generateTerminals, replay, simulate];
