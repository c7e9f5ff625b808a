/**
 * A toy first-line detector for the registry tests: a feature threshold defined in the test, given to the trainer,
 * the loader and (as a registry entry) the routing without editing any other file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FirstLineDetector, FittedDetector } from '../../detectors/detector.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { datasetFromCsv, type Dataset } from '../../detectors/trainer.ts';

/** A feature-threshold detector: 1 when `velocity` is above the 95th percentile of legitimate training rows, else 0. */
export const TOY_FILE = 'velocity-rule.json';
const fittedRule = (cut: number, column: number, card: Record<string, unknown>): FittedDetector<number> => ({
  id: 'velocityRule',
  model: cut,
  card,
  score: (row) => (row[column] > cut ? 1 : 0),
  scoreMany: (rows) => Float64Array.from(rows, (row) => (row[column] > cut ? 1 : 0)),
  save: (dir) => writeFile(path.join(dir, TOY_FILE), JSON.stringify({ cut, column })),
  dispose: () => {},
});
export const velocityRule: FirstLineDetector<'velocityRule', number> = {
  id: 'velocityRule',
  label: 'velocity rule',
  files: [TOY_FILE],
  async train({ ds, trainIdx }) {
    const column = ds.featureNames.indexOf('velocity');
    const legit = trainIdx.filter((i) => !ds.labels[i]).map((i) => ds.rows[i][column]).sort((a, b) => a - b);
    const cut = legit[Math.floor(legit.length * 0.95)];
    return fittedRule(cut, column, { cut, column, trainRows: legit.length });
  },
  async load(dir) {
    const { cut, column } = JSON.parse(await readFile(path.join(dir, TOY_FILE), 'utf8')) as { cut: number; column: number };
    return fittedRule(cut, column, {});
  },
  cardLine: (m) => `Velocity rule: velocity above ${String(m.cut)} (95th percentile of ${String(m.trainRows)} legitimate rows).`,
};

/** 3,000 rows, 8% fraud: fraud has higher amounts and velocity. */
export function dataset(): Dataset {
  const rand = mulberry32(21);
  const rows: Float64Array[] = [];
  const labels: number[] = [];
  const ts: number[] = [];
  for (let i = 0; i < 3_000; i++) {
    const fraud = rand() < 0.08;
    rows.push(Float64Array.from([fraud ? 200 + rand() * 800 : 5 + rand() * 150, fraud ? 3 + Math.floor(rand() * 6) : Math.floor(rand() * 3), Math.floor(rand() * 24)]));
    labels.push(fraud ? 1 : 0);
    ts.push(Date.UTC(2024, 0, 1) + i * 60_000);
  }
  return datasetFromCsv({ featureNames: ['amount', 'velocity', 'hour'], rows, labels: Uint8Array.from(labels), ts: Float64Array.from(ts) }, { file: 'generated in the test' });
}

