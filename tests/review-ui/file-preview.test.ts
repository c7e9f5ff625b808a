import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Label } from '../../core/contracts.ts';
import { labelsPathFor } from '../../core/codec.ts';
import { UserInputError } from '../../core/errors.ts';
import { RAW_BAND_P } from '../../detectors/calibrated.ts';
import { FEATURE_NAMES } from '../../detectors/features.ts';
import type { FeatureVector, ModelBundle } from '../../detectors/types.ts';
import { generateToFile } from '../../producers/generate.ts';
import { samplesFromLabelledFile } from '../../review-ui/file-preview.ts';
import { moneyPreview } from '../../review-ui/server/preview.ts';
import { COLD_START_THRESHOLDS, defaultPolicy } from '../../state/policy.ts';

/** A model bundle whose scores follow the amount, and which records what the heavy model was asked. */
function amountModel() {
  const amountAt = FEATURE_NAMES.indexOf('amount_log');
  const heavyCalls: Array<{ history: FeatureVector[]; current: FeatureVector }> = [];
  const score = (row: FeatureVector) => Math.min(1, Math.max(0, (row[amountAt]! % 1) * 1.2));
  const bundle: ModelBundle = {
    version: 'vtest',
    featureNames: FEATURE_NAMES,
    thresholds: COLD_START_THRESHOLDS,
    scoreFirstLine: (rows) => rows.map((r) => ({ isolationForest: score(r), xgboost: score(r) })),
    explain: () => [],
    hasHeavy: true,
    probability: RAW_BAND_P,
    scoreHeavy: async (items) => {
      heavyCalls.push(...items);
      return items.map((it) => (it.history.length >= 2 ? 0.95 : 0.05));
    },
  };
  return { bundle, heavyCalls };
}

let dir: string;
let txPath: string;
let labels: Label[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fraudstream-file-preview-'));
  txPath = path.join(dir, 'tx.jsonl');
  await generateToFile({ world: { seed: 7, events: 4_000, cards: 300, merchants: 80, fraudRate: 0.04, legitLabelShare: 0.1 }, out: txPath, format: 'jsonl', progress: false });
  labels = (await readFile(labelsPathFor(txPath), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Label);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a labelled replay file as preview samples', () => {
  it('scores every row in time order, carries its label, and counts unlabelled rows as chosen', async () => {
    const { bundle } = amountModel();
    const policy = defaultPolicy(COLD_START_THRESHOLDS);
    const asLegit = await samplesFromLabelledFile(txPath, bundle, [policy], { unlabelled: 'legit' });
    expect(asLegit.samples).toHaveLength(4_000);
    const byTx = new Map(labels.map((l) => [l.txId, l.isFraud]));
    expect(asLegit.labelled).toBe(asLegit.samples.filter((s) => byTx.has(s.txId)).length);
    for (const s of asLegit.samples) expect(s.isFraud).toBe(byTx.get(s.txId) ?? false);
    const ts = asLegit.samples.map((s) => s.ts!);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    const unknown = await samplesFromLabelledFile(txPath, bundle, [policy], { unlabelled: 'unknown' });
    expect(unknown.samples.filter((s) => s.isFraud === undefined)).toHaveLength(4_000 - unknown.labelled);
  });

  it('gives the heavy model the rows either policy escalates, with the card history before each row', async () => {
    const { bundle, heavyCalls } = amountModel();
    const base = defaultPolicy(COLD_START_THRESHOLDS);
    const narrow = { ...base, thresholds: { ...base.thresholds, detect: { ...base.thresholds.detect, allowBelow: 0.6, blockAbove: 0.7 } } };
    const wide = { ...base, thresholds: { ...base.thresholds, detect: { ...base.thresholds.detect, allowBelow: 0.1, blockAbove: 0.99 } } };
    const onlyNarrow = await samplesFromLabelledFile(txPath, bundle, [narrow], { unlabelled: 'legit' });
    const narrowCalls = heavyCalls.length;
    heavyCalls.length = 0;
    const both = await samplesFromLabelledFile(txPath, bundle, [narrow, wide], { unlabelled: 'legit' });
    expect(onlyNarrow.heavyScored).toBe(narrowCalls);
    expect(both.heavyScored).toBeGreaterThan(onlyNarrow.heavyScored);
    expect(both.samples.filter((s) => s.scores.heavy !== undefined)).toHaveLength(both.heavyScored);
    // A card's first transaction has no history before it; later ones do (never more than 16 rows).
    expect(heavyCalls.some((c) => c.history.length === 0)).toBe(true);
    expect(heavyCalls.some((c) => c.history.length > 0)).toBe(true);
    expect(Math.max(...heavyCalls.map((c) => c.history.length))).toBeLessThanOrEqual(16);
    // The money preview follows escalations to the heavy score: a wider escalation band changes what is blocked.
    const m = moneyPreview(narrow, wide, both.samples);
    expect(m.samples).toBe(4_000);
    expect(m.current.labelled).toBe(4_000);
    expect(m.delta.blocked).toBe(m.proposed.blocked - m.current.blocked);
  });

  it('names the missing labels file', async () => {
    const lonely = path.join(dir, 'lonely.jsonl');
    await writeFile(lonely, '');
    await expect(samplesFromLabelledFile(lonely, undefined, [defaultPolicy(COLD_START_THRESHOLDS)], { unlabelled: 'legit' })).rejects.toThrow(UserInputError);
    await expect(samplesFromLabelledFile(lonely, undefined, [defaultPolicy(COLD_START_THRESHOLDS)], { unlabelled: 'legit' })).rejects.toThrow(/labels/);
  });
});
