/** The model card: what a version was trained on, how it was chosen and how it did on the test slice. */
import type { Calibrator, Reliability } from './pure/calibration.ts';
import type { ModelThresholds } from '../core/model-registry.ts';
import type { EnsembleBlendChoice, EnsembleMetrics, ModelMetrics } from './pure/evaluate.ts';
import type { RoutingTargets, ThresholdChoice } from './pure/routing.ts';
import type { ModelCurves, ThresholdMark } from './pure/curves.ts';
import type { FirstLineDetector } from './detector.ts';
import { FIRST_LINE_DETECTORS } from './first-line.ts';
import { MODELS, type FirstLineModelId } from '../core/model-registry.ts';

export interface SliceInfo {
  rows: number;
  positives: number;
  novelPositives: number;
  from: number;
  to: number;
}

/** Whether each step earns its place, in numbers and in words (detectors/trainer.ts stepReport). */
export interface StepReport {
  firstLine: { model: string; averagePrecision: number; rocAuc: number };
  /** The rows the routing escalates: does the heavy model rank them better than the band model alone? */
  escalated: { rows: number; positives: number; bandAveragePrecision: number | null; heavyAveragePrecision: number | null; heavyBeatsBand: boolean | null };
  ensemble: { averagePrecision: number; bestMember: string; bestMemberAveragePrecision: number; belowBestMember: boolean; blend?: { member: string; weight: number } };
  lines: string[];
}

export interface ModelCard {
  version: string;
  createdAt: string;
  kind: 'transactions' | 'csv';
  source: Record<string, unknown>;
  dataWindow: { from: number; to: number; rows: number; positives: number; fraudRate: number };
  split: { train: SliceInfo; validation: SliceInfo; test: SliceInfo; fractions: [number, number, number] };
  featureCount: number;
  /** Each first-line detector's own entry (its FittedDetector.card, e.g. the forest's trees, XGBoost's imbalance choice), then the heavy model's. */
  models: Record<FirstLineModelId, Record<string, unknown>> & {
    heavy: Record<string, unknown> | { skipped: string };
  };
  /** What the escalate stage scored with when the thresholds were chosen and the ensemble measured. */
  escalateScoredBy: 'heavy' | 'xgboost (no heavy model)' | 'xgboost (heavy model not better on validation)';
  /** On validation's escalated rows: heavy against the band model, and whether the version routes around heavy. */
  heavyOnValidation?: { rows: number; heavyAveragePrecision: number; bandAveragePrecision: number; routedAround: boolean };
  /** How much of its best member the routed ensemble's ranking takes in, chosen on validation (absent in older cards). */
  ensembleBlend?: EnsembleBlendChoice;
  /** What each step adds on the test slice (absent in cards from before issue 17). */
  steps?: StepReport;
  targets: RoutingTargets;
  thresholds: ModelThresholds;
  thresholdChoice: Omit<ThresholdChoice, 'thresholds'>;
  /** Test-slice metrics of every first-line model (core/model-registry.ts), the heavy model and the routed ensemble. */
  test: Record<FirstLineModelId, ModelMetrics> & {
    heavy: ModelMetrics | null;
    ensemble: EnsembleMetrics;
  };
  /**
   * Test-slice curves per model (isolationForest, xgboost, heavy when trained, ensemble): pr = [[recall, precision],
   * ...] recall ascending, roc = [[fpr, tpr], ...] both ascending; at most ~100 points each. Absent in older cards.
   */
  curves?: Record<string, ModelCurves>;
  /** Where the chosen thresholds sit on those curves (score >= threshold flags). */
  thresholdMarks?: Record<string, ThresholdMark[]>;
  /**
   * The XGBoost score as p(fraud): an isotonic calibrator fitted on the validation slice and its reliability on the
   * test slice, raw and calibrated. Absent in older cards and when a slice had no fraud. Served as the version's
   * p(fraud) (detectors/calibrated.ts); without it the raw XGBoost score stands in.
   */
  calibration?: {
    /** The calibrated model: the registry's band model ('xgboost' in every card so far). */
    model: string;
    fittedOn: string;
    calibrator: Calibrator;
    reliability: { raw: Reliability; calibrated: Reliability; on: string };
  };
  /** The drift reference stored beside the card (quantile bins per feature and score). Absent in older cards. */
  drift?: {
    file: string;
    bins: number;
    features: number;
    scores: string[];
    featureRows: number;
    scoreRows: number;
    featuresFrom: string;
    scoresFrom: string;
  };
  timings: Record<string, number>;
}

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a');
const num = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
const day = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** The card's first-line detectors in its own order (a card lists what its version was trained with). */
function cardDetectors(c: ModelCard, modules: readonly FirstLineDetector[]) {
  return Object.keys(c.models)
    .filter((id) => id !== 'heavy')
    .map((id) => ({ id, module: modules.find((m) => m.id === id), label: modules.find((m) => m.id === id)?.label ?? MODELS.find((m) => m.id === id)?.label ?? id }));
}

/** model-card.md; `detectors` give each first-line model's line (default: the registered ones). */
export function renderModelCardMarkdown(c: ModelCard, detectors: readonly FirstLineDetector[] = FIRST_LINE_DETECTORS): string {
  const firstLine = cardDetectors(c, detectors);
  const tests = c.test as unknown as Record<string, ModelMetrics | undefined>;
  const models: Array<[string, ModelMetrics | null]> = [
    ...firstLine.map(({ id, label }): [string, ModelMetrics | null] => [label, tests[id] ?? null]),
    ['heavy', c.test.heavy],
    ['routed ensemble', c.test.ensemble],
  ];
  const entries = c.models as unknown as Record<string, Record<string, unknown>>;
  const scenarios = [...new Set(models.flatMap(([, m]) => (m ? Object.keys(m.perScenarioRecall) : [])))].sort();
  const e = c.test.ensemble;
  const lines = [
    `# Model card ${c.version}`,
    '',
    `Created ${c.createdAt} from ${c.kind === 'csv' ? 'a CSV file' : 'transaction history'}: ${JSON.stringify(c.source)}.`,
    '',
    '## Data',
    '',
    `Window ${day(c.dataWindow.from)} to ${day(c.dataWindow.to)}: ${c.dataWindow.rows} rows, ${c.dataWindow.positives} fraud (${pct(c.dataWindow.fraudRate)}). ${c.featureCount} features.`,
    '',
    '| slice | rows | fraud | novel fraud | from | to |',
    '|---|---:|---:|---:|---|---|',
    ...(['train', 'validation', 'test'] as const).map((s) => {
      const x = c.split[s];
      return `| ${s} | ${x.rows} | ${x.positives} | ${x.novelPositives} | ${day(x.from)} | ${day(x.to)} |`;
    }),
    '',
    'Time split: train on the past, choose thresholds on the next slice, report on the last. Novel-scenario fraud is left out of supervised training and of threshold choice; the test slice keeps it.',
    '',
    '## Models',
    '',
    ...firstLine.map(({ id, module, label }) => `- ${module?.cardLine ? module.cardLine(entries[id]) : `${label}: ${JSON.stringify(entries[id])}.`}`),
    `- Heavy: ${'skipped' in c.models.heavy ? `not trained (${String(c.models.heavy.skipped)})` : JSON.stringify(c.models.heavy)}.`,
    `- Escalate stage scored by: ${c.escalateScoredBy}.`,
    ...(c.heavyOnValidation
      ? [`- On validation's ${c.heavyOnValidation.rows} escalated rows: heavy ${c.heavyOnValidation.heavyAveragePrecision.toFixed(4)} against the band model ${c.heavyOnValidation.bandAveragePrecision.toFixed(4)} average precision${c.heavyOnValidation.routedAround ? ': the version routes around the heavy model (escalate decides on the band model, thresholds chosen on it)' : ''}.`]
      : []),
    ...(c.ensembleBlend?.member
      ? [`- Ensemble ranking: ${(c.ensembleBlend.weight * 100).toFixed(0)}% ${c.ensembleBlend.member}, ${(100 - c.ensembleBlend.weight * 100).toFixed(0)}% routing, chosen on validation (average precision ${c.ensembleBlend.validation.blendedAveragePrecision.toFixed(4)}; routing alone ${c.ensembleBlend.validation.routedAveragePrecision.toFixed(4)}, ${c.ensembleBlend.member} alone ${c.ensembleBlend.validation.memberAveragePrecision.toFixed(4)}).`]
      : []),
    ...(c.steps ? ['', '## What each step adds (test slice)', '', ...c.steps.lines.map((l) => `- ${l}`)] : []),
    '',
    '## Thresholds (chosen on validation)',
    '',
    `Targets: catch ${pct(c.targets.catchRate)} of fraud, escalate at most ${pct(c.targets.maxEscalateShare)}, review at most ${pct(c.targets.maxReviewShare)}, block at most ${pct(c.targets.maxBlockFpr)} of legitimate traffic per stage.`,
    '',
    `- detect: block if XGBoost >= ${num(c.thresholds.detect.blockAbove)}; escalate if isolation forest >= ${num(c.thresholds.detect.anomalyEscalateAbove)} or XGBoost >= ${num(c.thresholds.detect.allowBelow)}; else allow.`,
    `- escalate: block if score >= ${num(c.thresholds.escalate.blockAbove)}; allow if < ${num(c.thresholds.escalate.allowBelow)}; else review.`,
    `- On validation: caught ${pct(c.thresholdChoice.validation.catchRate)}, escalated ${pct(c.thresholdChoice.validation.escalateShare)}, reviewed ${pct(c.thresholdChoice.validation.reviewShare)}, legitimate blocked ${pct(c.thresholdChoice.validation.legitBlockedShare)}; targets met: ${JSON.stringify(c.thresholdChoice.met)}.`,
    '',
    '## Test slice',
    '',
    '| model | ROC-AUC | AUPRC | recall @1% FPR | flagged |',
    '|---|---:|---:|---:|---:|',
    ...models.map(([name, m]) => (m ? `| ${name} | ${num(m.rocAuc)} | ${num(m.auprc)} | ${pct(m.recallAt1pctFpr)} | ${pct(m.flaggedShare)} |` : `| ${name} | n/a | n/a | n/a | n/a |`)),
    '',
    `Routed ensemble: caught ${pct(e.catchRate)} of fraud; escalated ${pct(e.escalateShare)}, reviewed ${pct(e.reviewShare)}, blocked ${pct(e.blockShare)} of all traffic; ${pct(e.legitBlockedShare)} of legitimate traffic blocked; block precision ${pct(e.blockPrecision)}.`,
    '',
    'Per-scenario recall (single models: above their 1%-FPR threshold; ensemble: blocked or reviewed):',
    '',
    `| scenario | ${models.map(([n]) => n).join(' | ')} |`,
    `|---|${models.map(() => '---:').join('|')}|`,
    ...scenarios.map((s) => `| ${s} | ${models.map(([, m]) => (m && s in m.perScenarioRecall ? pct(m.perScenarioRecall[s]) : 'n/a')).join(' | ')} |`),
    '',
    ...(c.curves
      ? [
          `Curves on the test slice (model-card.json \`curves\`: pr = [recall, precision], roc = [fpr, tpr]): ${Object.entries(c.curves)
            .map(([m, k]) => `${m} ${k.pr.length} PR / ${k.roc.length} ROC points`)
            .join(', ')}; operating points of the chosen thresholds in \`thresholdMarks\`.`,
          '',
        ]
      : []),
    ...(c.calibration
      ? [
          `Calibration (${c.calibration.model}, isotonic, fitted on the ${c.calibration.fittedOn}; reliability on the ${c.calibration.reliability.on}): expected calibration error ${c.calibration.reliability.raw.ece.toFixed(4)} raw, ${c.calibration.reliability.calibrated.ece.toFixed(4)} calibrated; Brier ${c.calibration.reliability.raw.brier.toFixed(4)} raw, ${c.calibration.reliability.calibrated.brier.toFixed(4)} calibrated.`,
          '',
          '| calibrated p | rows | mean predicted | observed fraud rate |',
          '|---|---:|---:|---:|',
          ...c.calibration.reliability.calibrated.bins.map((b) => `| ${b.from.toFixed(1)}-${b.to.toFixed(1)} | ${b.count} | ${b.meanPredicted.toFixed(4)} | ${b.observed.toFixed(4)} |`),
          '',
        ]
      : []),
    ...(c.drift
      ? [
          `Drift reference in \`${c.drift.file}\`: up to ${c.drift.bins} quantile bins for ${c.drift.features} features (${c.drift.featuresFrom}, ${c.drift.featureRows} rows) and the ${c.drift.scores.join(' and ')} scores (${c.drift.scoresFrom}, ${c.drift.scoreRows} rows); \`fraudstream drift\` compares live traffic with it (PSI).`,
          '',
        ]
      : []),
    `Timings (s): ${Object.entries(c.timings).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}.`,
    '',
  ];
  return lines.join('\n');
}
