/**
 * What the Policy page's file preview costs in the console process: `npx fraudstream bench file-preview [--rows N]`
 * generates a labelled file of ROWS transactions (default 200,000, the PREVIEW_FILE_MAX_ROWS default) under a temp
 * PREVIEW_FILES_DIR, then times the listing (line count), the first preview (scoring with the newest version under
 * MODEL_DIR, or rules only), a preview from the cached scores, and the longest the event loop was held meanwhile.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../core/config.ts';
import type { Policy } from '../core/contracts.ts';
import { generateToFile } from '../producers/generate.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../state/policy.ts';
import { listModelVersions } from '../detectors/model-version.ts';
import { filePreviewSource } from '../review-ui/server/file-preview-source.ts';
import { table } from '../detectors/progress.ts';

/** The longest gap between 5 ms ticks while `work` runs: how long other requests would have waited at worst. */
async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number; maxBlockMs: number }> {
  let last = performance.now();
  let maxGap = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    const value = await work();
    const ms = performance.now() - started;
    maxGap = Math.max(maxGap, performance.now() - last);
    return { value, ms, maxBlockMs: maxGap };
  } finally {
    clearInterval(tick);
  }
}

export interface FilePreviewBench {
  rows: number;
  modelVersion: string | null;
  heavyScored: number;
  heapMbAfter: number;
  steps: Array<{ step: string; ms: number; eventLoopHeldMs: number }>;
}

export async function runFilePreviewBench(rows: number, log: (line: string) => void = () => undefined): Promise<FilePreviewBench> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fraudstream-bench-preview-'));
  try {
    log(`generating ${rows.toLocaleString('en-US')} labelled transactions`);
    await generateToFile({ world: { seed: 5, events: rows, cards: Math.max(100, Math.round(rows / 20)), merchants: 500, fraudRate: 0.02, legitLabelShare: 0.2 }, out: path.join(dir, 'bench.jsonl'), format: 'jsonl', progress: false });
    const config = loadConfig({ ...process.env, PREVIEW_FILES_DIR: dir, PREVIEW_FILE_MAX_ROWS: String(rows) });
    const newest = (await listModelVersions(config.modelDir).catch(() => [])).at(-1);
    const source = filePreviewSource({ config });
    const current: Policy = { ...defaultPolicy(COLD_START_THRESHOLDS, newest), version: 1 };
    const proposed: Policy = { ...current, thresholds: { ...current.thresholds, detect: { ...current.thresholds.detect, blockAbove: Math.max(current.thresholds.detect.allowBelow, current.thresholds.detect.blockAbove - 0.05) } } };
    log('listing, scoring, previewing');
    const list = await timed(() => source.list());
    const first = await timed(() => source.preview(current, proposed, { file: 'bench.jsonl', unlabelled: 'legit' }));
    const again = await timed(() => source.preview(current, current, { file: 'bench.jsonl', unlabelled: 'unknown' }));
    const steps = ([['list (count lines)', list], ['first preview (score + decide)', first], ['preview from cached scores', again]] as const).map(([step, t]) => ({
      step,
      ms: Math.round(t.ms),
      eventLoopHeldMs: Math.round(t.maxBlockMs),
    }));
    return {
      rows: list.value.files[0]!.rows,
      modelVersion: first.value.source.modelVersion ?? null,
      heavyScored: first.value.source.heavyScored,
      heapMbAfter: Math.round(process.memoryUsage().heapUsed / (1 << 20)),
      steps,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function filePreviewBenchTable(r: FilePreviewBench): string {
  return [
    `file preview, ${r.rows.toLocaleString('en-US')} rows, version ${r.modelVersion ?? 'none (rules only)'}, heavy model on ${r.heavyScored.toLocaleString('en-US')} rows; heap ${r.heapMbAfter} MB after`,
    table(['step', 'ms', 'event loop held at most (ms)'], r.steps.map((s) => [s.step, s.ms, s.eventLoopHeldMs])),
  ].join('\n');
}
