/**
 * What the Policy page's file preview costs in the console process: `npx tsx review-ui/bench-file-preview.ts [ROWS]`
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
import { filePreviewSource } from './server/file-preview-source.ts';

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

async function main(): Promise<void> {
  const rows = Number(process.argv[2] ?? 200_000);
  const dir = await mkdtemp(path.join(tmpdir(), 'fraudstream-bench-preview-'));
  try {
    await generateToFile({ world: { seed: 5, events: rows, cards: Math.max(100, Math.round(rows / 20)), merchants: 500, fraudRate: 0.02, legitLabelShare: 0.2 }, out: path.join(dir, 'bench.jsonl'), format: 'jsonl', progress: false });
    const config = loadConfig({ ...process.env, PREVIEW_FILES_DIR: dir, PREVIEW_FILE_MAX_ROWS: String(rows) });
    const newest = (await listModelVersions(config.modelDir).catch(() => [])).at(-1);
    const source = filePreviewSource({ config });
    const current: Policy = { ...defaultPolicy(COLD_START_THRESHOLDS, newest), version: 1 };
    const proposed: Policy = { ...current, thresholds: { ...current.thresholds, detect: { ...current.thresholds.detect, blockAbove: Math.max(current.thresholds.detect.allowBelow, current.thresholds.detect.blockAbove - 0.05) } } };
    const list = await timed(() => source.list());
    const first = await timed(() => source.preview(current, proposed, { file: 'bench.jsonl', unlabelled: 'legit' }));
    const again = await timed(() => source.preview(current, current, { file: 'bench.jsonl', unlabelled: 'unknown' }));
    const mb = (process.memoryUsage().heapUsed / (1 << 20)).toFixed(0);
    console.log(`file preview, ${list.value.files[0]!.rows.toLocaleString('en-US')} rows, version ${first.value.source.modelVersion ?? 'none (rules only)'}, heavy model on ${first.value.source.heavyScored.toLocaleString('en-US')} rows; heap ${mb} MB after`);
    console.log(['step', 'ms', 'event loop held at most (ms)'].join('\t'));
    for (const [name, t] of [['list (count lines)', list], ['first preview (score + decide)', first], ['preview from cached scores', again]] as const) {
      console.log([name, t.ms.toFixed(0), t.maxBlockMs.toFixed(0)].join('\t'));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
