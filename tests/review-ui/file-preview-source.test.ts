/**
 * The console's labelled-file preview source without a server: which names it accepts, that it loads a version
 * once and reuses a file's scores while the policy moves, and that a proposal escalating rows the heavy model has
 * not scored is re-scored, ending with the figures a fresh scoring of the file gives.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelsPathFor } from '../../core/codec.ts';
import { loadConfig } from '../../core/config.ts';
import type { Policy } from '../../core/contracts.ts';
import { UserInputError } from '../../core/errors.ts';
import { RAW_BAND_P } from '../../detectors/calibrated.ts';
import { FEATURE_NAMES } from '../../detectors/features.ts';
import type { FeatureVector, ModelBundle } from '../../detectors/types.ts';
import { generateToFile } from '../../producers/generate.ts';
import { samplesFromLabelledFile } from '../../review-ui/file-preview.ts';
import { checkPreviewFileName, filePreviewSource, previewInChunks } from '../../review-ui/server/file-preview-source.ts';
import { previewPolicy } from '../../review-ui/server/preview.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';

const VERSION = 'v20261130T160545082Z';

/** Scores follow the amount; the heavy model's answers depend on the card history; every heavy row is recorded. */
function amountModel() {
  const amountAt = FEATURE_NAMES.indexOf('amount_log');
  let heavyRows = 0;
  const score = (row: FeatureVector) => Math.min(1, Math.max(0, (row[amountAt]! % 1) * 1.2));
  const bundle: ModelBundle = {
    version: VERSION,
    featureNames: FEATURE_NAMES,
    thresholds: COLD_START_THRESHOLDS,
    scoreFirstLine: (rows) => rows.map((r) => ({ isolationForest: score(r), xgboost: score(r) })),
    explain: () => [],
    hasHeavy: true,
    probability: RAW_BAND_P,
    scoreHeavy: async (items) => {
      heavyRows += items.length;
      return items.map((it) => 0.05 + (0.9 * (it.history.length % 5)) / 4);
    },
  };
  return { bundle, heavyRows: () => heavyRows };
}

const withDetect = (p: Policy, allowBelow: number, blockAbove: number): Policy => ({ ...p, thresholds: { ...p.thresholds, detect: { ...p.thresholds.detect, allowBelow, blockAbove } } });

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fraudstream-preview-source-'));
  await generateToFile({ world: { seed: 9, events: 2_500, cards: 200, merchants: 50, fraudRate: 0.05, legitLabelShare: 0.2 }, out: path.join(dir, 'week.jsonl'), format: 'jsonl', progress: false });
  await copyFile(path.join(dir, 'week.jsonl'), path.join(dir, 'other.jsonl'));
  await copyFile(labelsPathFor(path.join(dir, 'week.jsonl')), labelsPathFor(path.join(dir, 'other.jsonl')));
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkPreviewFileName', () => {
  it('takes a plain transactions file name and refuses folders, hidden files and labels files', () => {
    expect(checkPreviewFileName('week 2.jsonl')).toBe('week 2.jsonl');
    for (const bad of ['../x.jsonl', 'a/b.jsonl', 'a\\b.jsonl', '.hidden.jsonl', '..', 'x.labels.jsonl', 'x.csv', 'x\n.jsonl', '/etc/passwd']) {
      expect(() => checkPreviewFileName(bad), bad).toThrow(UserInputError);
    }
  });
});

describe('previewInChunks', () => {
  it('adds up to previewPolicy on all samples: counts, examples, money, rate and curve', async () => {
    const { bundle } = amountModel();
    const current = { ...defaultPolicy(COLD_START_THRESHOLDS, VERSION), version: 2 };
    const proposed = withDetect(current, 0.2, 0.6);
    const { samples } = await samplesFromLabelledFile(path.join(dir, 'week.jsonl'), bundle, [current, proposed], { unlabelled: 'unknown' });
    const served = { version: VERSION, probability: bundle.probability };
    const whole = previewPolicy(current, proposed, samples, served);
    const chunked = await previewInChunks(current, proposed, samples, served, 700);
    expect(whole.changed).toBeGreaterThan(25);
    expect(whole.money.current.reviewed + whole.money.proposed.reviewed).toBeGreaterThan(0);
    const { money: wm, ...wrest } = whole;
    const { money: cm, ...crest } = chunked;
    expect(crest).toEqual(wrest);
    expect(cm.spanHours).toBe(wm.spanHours);
    expect(cm.pFraudSource).toBe(wm.pFraudSource);
    const close = (a: Record<string, number>, b: Record<string, number>) => {
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      for (const k of Object.keys(b)) expect(a[k], k).toBeCloseTo(b[k]!, 6);
    };
    for (const k of ['current', 'proposed', 'delta'] as const) close({ ...cm[k] }, { ...wm[k] });
    expect(cm.curve.map((c) => c.blockAbove)).toEqual(wm.curve.map((c) => c.blockAbove));
    cm.curve.forEach((c, i) => close({ ...c.figures }, { ...wm.curve[i]!.figures }));
  });
});

describe('filePreviewSource', () => {
  it('loads the version once, reuses the scores as thresholds move, re-scores for new escalations', async () => {
    const { bundle, heavyRows } = amountModel();
    let loads = 0;
    const source = filePreviewSource({
      config: loadConfig({ PREVIEW_FILES_DIR: dir, MODEL_DIR: path.join(dir, 'models') }),
      loadModel: async (name) => {
        loads += 1;
        expect(name).toBe(VERSION);
        return bundle;
      },
    });
    const current = { ...defaultPolicy(COLD_START_THRESHOLDS, VERSION), version: 3 };
    const narrow = withDetect(current, 0.45, 0.55);

    const first = await source.preview(current, narrow, { file: 'week.jsonl', unlabelled: 'legit' });
    expect(first.source).toMatchObject({ cached: false, modelVersion: VERSION, rows: 2_500 });
    expect(first.source.heavyScored).toBeGreaterThan(0);
    expect(first.money.pFraudSource).toContain(VERSION);
    const scoredOnce = heavyRows();

    // A proposal inside what was heavy-scored: the same scores, decided again.
    const inside = withDetect(current, 0.47, 0.53);
    const second = await source.preview(current, inside, { file: 'week.jsonl', unlabelled: 'unknown' });
    expect(second.source.cached).toBe(true);
    expect(heavyRows()).toBe(scoredOnce);
    expect(second.money.proposed.labelled).toBe(first.source.labelled);

    // A wider escalation band: rows no one heavy-scored yet, so the file is scored again.
    const wide = withDetect(current, 0.05, 0.98);
    const third = await source.preview(current, wide, { file: 'week.jsonl', unlabelled: 'legit' });
    expect(third.source.cached).toBe(false);
    expect(heavyRows()).toBeGreaterThan(scoredOnce);
    const fresh = await samplesFromLabelledFile(path.join(dir, 'week.jsonl'), bundle, [current, wide], { unlabelled: 'legit' });
    const expected = previewPolicy(current, wide, fresh.samples, { version: VERSION, probability: bundle.probability });
    expect(third.proposed).toEqual(expected.proposed);
    expect(third.current).toEqual(expected.current);
    expect(third.money.proposed).toEqual(expected.money.proposed);
    expect(third.money.current).toEqual(expected.money.current);
    expect(loads).toBe(1);
  });

  it('keeps a bounded number of files: the oldest is scored again', async () => {
    const { bundle } = amountModel();
    const source = filePreviewSource({ config: loadConfig({ PREVIEW_FILES_DIR: dir }), keepFiles: 1, loadModel: async () => bundle });
    const p = { ...defaultPolicy(COLD_START_THRESHOLDS, VERSION), version: 1 };
    const src = (file: string) => source.preview(p, p, { file, unlabelled: 'legit' });
    expect((await src('week.jsonl')).source.cached).toBe(false);
    expect((await src('week.jsonl')).source.cached).toBe(true);
    expect((await src('other.jsonl')).source.cached).toBe(false);
    expect((await src('week.jsonl')).source.cached).toBe(false);
  });
});
