import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CSV_HEADER, labelsPathFor, txToCsv, txToJsonl, type FileFormat } from '../core/codec.ts';
import { LineWriter } from '../core/files.ts';
import { Progress } from './report.ts';
import { World, type ScenarioName, type WorldOptions } from './world/index.ts';

export interface GenerateOptions {
  world: WorldOptions;
  out: string;
  format: FileFormat;
  progress?: boolean;
}

export interface GenerateSummary {
  events: number;
  legit: number;
  fraud: number;
  byScenario: Record<ScenarioName, number>;
  configuredRates: Record<ScenarioName, number>;
  labels: number;
  firstTs: number;
  lastTs: number;
  seconds: number;
  out: string;
  labelsOut: string;
}

/** Writes `events` transactions to `out` and their labels to `out`'s labels file beside it. */
export async function generateToFile(opts: GenerateOptions): Promise<GenerateSummary> {
  const world = new World(opts.world);
  const labelsOut = labelsPathFor(opts.out);
  await mkdir(dirname(opts.out), { recursive: true });
  const txw = new LineWriter(opts.out);
  const lw = new LineWriter(labelsOut);
  const progress = new Progress('generate', world.options.events, opts.progress ?? true);
  const started = performance.now();
  const toLine = opts.format === 'csv' ? txToCsv : txToJsonl;
  let firstTs = 0;
  let lastTs = 0;
  try {
    if (opts.format === 'csv') await txw.write(CSV_HEADER);
    for (let e = world.next(); e !== undefined; e = world.next()) {
      const { tx, label } = e;
      if (world.emitted === 1) firstTs = tx.ts;
      lastTs = tx.ts;
      const p1 = txw.write(toLine(tx));
      if (p1) await p1;
      if (label) {
        const p2 = lw.write(JSON.stringify(label));
        if (p2) await p2;
      }
      if ((world.emitted & 0x3fff) === 0) progress.update(world.emitted);
    }
    await txw.commit();
    await lw.commit();
  } catch (err) {
    await txw.abort();
    await lw.abort();
    throw err;
  }
  progress.done(world.emitted);
  const byScenario = world.fraudCounts();
  const fraud = Object.values(byScenario).reduce((a, b) => a + b, 0);
  return {
    events: world.emitted,
    legit: world.emitted - fraud,
    fraud,
    byScenario,
    configuredRates: world.options.scenarioRates,
    labels: lw.lines,
    firstTs,
    lastTs,
    seconds: (performance.now() - started) / 1000,
    out: opts.out,
    labelsOut,
  };
}
