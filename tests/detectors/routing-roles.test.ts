/**
 * Routing roles come from the registry: a toy detector registered (in a test registry) as an escalateAbove model
 * gets a threshold from the trainer, is counted by the trainer's routed ensemble, is copied into a decision's
 * scores and escalates at detect with a rule hit naming it; unregistered, the same scores decide as before.
 * And a registry whose roles are declared wrongly is refused when the routing reads it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../../core/contracts.ts';
import { trainJson, trainSummary } from '../../detectors/commands.ts';
import { FIRST_LINE_DETECTORS } from '../../detectors/first-line.ts';
import { loadModelVersion } from '../../detectors/model-version.ts';
import { ensembleMetrics } from '../../detectors/pure/evaluate.ts';
import { isEscalated, Outcome, registryProblems, routeAll, routingRoles, type RoutedRows } from '../../detectors/pure/routing.ts';
import { coldStartThresholds, firstLineScores, MODELS, scoreColumns, stageThresholds, type ModelSpec } from '../../core/model-registry.ts';
import { CURVE_MODELS } from '../../review-ui/web/src/compare-data.ts';
import { trainModels, type Dataset, type TrainResult } from '../../detectors/trainer.ts';
import { decideFirstLine, type FirstLineInput } from '../../router/pure/policy.ts';
import { defaultPolicy } from '../../state/policy.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';
import { datasetFromCsv } from '../../detectors/trainer.ts';
import { velocityRule } from './toy-detector.ts';

/** The toy's registry entry: what a new detector adds to core/model-registry.ts. */
const toySpec: ModelSpec = {
  id: 'velocityRule',
  label: 'velocity rule',
  stage: 'detect',
  learns: 'unsupervised',
  score: '1 when velocity is above the 95th percentile of legitimate training rows, else 0',
  thresholds: [{ key: 'velocityRuleEscalateAbove', description: 'Velocity rule score at or above which detect escalates.', coldStart: 0.5 }],
  routing: { role: 'escalateAbove', threshold: 'velocityRuleEscalateAbove', ruleId: 'model.velocity_rule_escalate', description: 'velocity rule fires', reasonLabel: 'velocity rule' },
};
const withToyRegistry: readonly ModelSpec[] = [...MODELS, toySpec];
const withToy = [...FIRST_LINE_DETECTORS, velocityRule];

describe('the registry declares the routing roles', () => {
  it('the registered models: XGBoost holds the band, the isolation forest escalates above its threshold', () => {
    expect(registryProblems(MODELS)).toEqual([]);
    const roles = routingRoles();
    expect(roles.band).toMatchObject({ model: 'xgboost', block: 'blockAbove', allow: 'allowBelow', blockRuleId: 'model.xgboost_block', ambiguousRuleId: 'model.xgboost_ambiguous' });
    expect(roles.escalateAbove.map((r) => [r.model, r.threshold, r.ruleId])).toEqual([['isolationForest', 'anomalyEscalateAbove', 'model.anomaly_escalate']]);
    expect(routingRoles(withToyRegistry).escalateAbove.map((r) => r.model)).toEqual(['isolationForest', 'velocityRule']);
    // The toy's threshold lands in the detect policy with its cold-start value.
    expect(coldStartThresholds(withToyRegistry).detect).toEqual({ ...coldStartThresholds().detect, velocityRuleEscalateAbove: 0.5 });
    expect(stageThresholds('detect', withToyRegistry).map((t) => t.model)).toContain('velocityRule');
  });

  it('refuses a registry without exactly one band model, a detect model without a role, a role naming an undeclared key, a key or rule id twice', () => {
    const xgb = MODELS.find((m) => m.id === 'xgboost')!;
    const forest = MODELS.find((m) => m.id === 'isolationForest')!;
    const cases: Array<[readonly ModelSpec[], RegExp]> = [
      [MODELS.filter((m) => m.id !== 'xgboost'), /exactly one detect model must hold the block\/allow band, found 0/],
      [[...MODELS, { ...xgb, id: 'xgb2', thresholds: [{ ...xgb.thresholds[0], key: 'b2' }, { ...xgb.thresholds[1], key: 'a2' }], routing: { ...xgb.routing, block: 'b2', allow: 'a2', blockRuleId: 'x', ambiguousRuleId: 'y' } }], /found 2 \(xgboost, xgb2\)/],
      [[...MODELS, { ...toySpec, routing: undefined }], /velocityRule runs at detect but declares no routing role/],
      [[...MODELS, { ...toySpec, routing: { ...toySpec.routing!, threshold: 'nope' } as ModelSpec['routing'] }], /velocityRule's routing names threshold nope, which it does not declare/],
      [[...MODELS, { ...toySpec, thresholds: [{ ...toySpec.thresholds[0], key: 'anomalyEscalateAbove' }], routing: { ...forest.routing, ruleId: 'z' } }], /detect threshold key anomalyEscalateAbove is declared twice/],
      [[...MODELS, { ...toySpec, routing: { ...toySpec.routing!, ruleId: 'model.anomaly_escalate' } as ModelSpec['routing'] }], /rule id model.anomaly_escalate is declared twice/],
      [[...MODELS, toySpec, toySpec], /model id velocityRule is declared twice/],
      [MODELS.map((m) => (m.id === 'heavy' ? { ...m, routing: toySpec.routing } : m)), /heavy runs at escalate but declares a detect routing role/],
    ];
    for (const [models, problem] of cases) {
      expect(registryProblems(models).join('; ')).toMatch(problem);
      expect(() => routingRoles(models)).toThrow(expect.objectContaining({ code: 'INTERNAL', message: expect.stringMatching(problem) }));
    }
  });

  it('the console lists score columns and curves from the registry: band, escalateAbove, escalate; a new model included', () => {
    expect(scoreColumns()).toEqual([{ id: 'xgboost', heading: 'xgb' }, { id: 'isolationForest', heading: 'anomaly' }, { id: 'heavy', heading: 'heavy' }]);
    expect(scoreColumns(withToyRegistry).map((c) => c.heading)).toEqual(['xgb', 'anomaly', 'velocityRule', 'heavy']);
    expect(CURVE_MODELS).toEqual([...MODELS.map((m) => m.id), 'ensemble']);
  });

  it('a decision copies every registered first-line score and no other', () => {
    const row = { isolationForest: 0.1, xgboost: 0.2, velocityRule: 1 };
    expect(firstLineScores(row)).toEqual({ isolationForest: 0.1, xgboost: 0.2 });
    expect(firstLineScores(row, withToyRegistry)).toEqual(row);
    expect(firstLineScores({ xgboost: 0.2, heavy: 0.9 } as Record<string, number>)).toEqual({ xgboost: 0.2 });
  });
});

/**
 * 4,000 rows: known fraud (6%) has high amounts and ordinary velocity, so XGBoost learns amounts; a burst scenario
 * (2%, novel: left out of the supervised slices) has ordinary amounts and the highest velocities. Legitimate
 * velocity is spread evenly, so the toy (velocity above the legitimate 95th percentile) also flags some legitimate
 * rows the forest finds ordinary and XGBoost allows.
 */
function burstDataset(): Dataset {
  const rand = mulberry32(5);
  const rows: Float64Array[] = [];
  const labels: number[] = [];
  const kinds: Array<'legit' | 'known' | 'burst'> = [];
  for (let i = 0; i < 4_000; i++) {
    const r = rand();
    const kind = r < 0.06 ? 'known' : r < 0.08 ? 'burst' : 'legit';
    const amount = kind === 'known' ? 300 + rand() * 700 : 5 + rand() * 150;
    const velocity = kind === 'burst' ? 10 + rand() * 2 : rand() * 10;
    rows.push(Float64Array.from([amount, velocity, Math.floor(rand() * 24)]));
    labels.push(kind === 'legit' ? 0 : 1);
    kinds.push(kind);
  }
  const ts = Float64Array.from(rows, (_, i) => Date.UTC(2024, 0, 1) + i * 60_000);
  const ds = datasetFromCsv({ featureNames: ['amount', 'velocity', 'hour'], rows, labels: Uint8Array.from(labels), ts }, { file: 'generated in the test' });
  return { ...ds, scenarios: kinds.map((k) => (k === 'legit' ? null : k)), novel: Uint8Array.from(kinds, (k) => (k === 'burst' ? 1 : 0)) };
}

let dir: string;
let ds: Dataset;
let result: TrainResult;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fraudstream-routing-'));
  ds = burstDataset();
  result = await trainModels(ds, { modelDir: path.join(dir, 'models'), heavy: { enabled: false }, xgboost: { iterations: 20 }, detectors: withToy, models: withToyRegistry });
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a registered escalateAbove detector decides', () => {
  const testRows = (): RoutedRows => ({ ...result.test, second: result.test.xgboost });
  const toy = () => (result.test as unknown as Record<string, Float64Array>).velocityRule;

  it('the trainer gives it a threshold and a mark, and its routed ensemble counts it', () => {
    const t = result.card.thresholds.detect as Record<string, number>;
    expect(Object.keys(t)).toEqual(['blockAbove', 'allowBelow', 'anomalyEscalateAbove', 'velocityRuleEscalateAbove']);
    expect(t.velocityRuleEscalateAbove).toBeGreaterThan(0);
    expect(t.velocityRuleEscalateAbove).toBeLessThanOrEqual(1);
    expect(result.card.thresholdMarks?.velocityRule?.map((m) => m.name)).toEqual(['detect.velocityRuleEscalateAbove']);

    const rows = testRows();
    const y = result.test.indices.map((i) => ds.labels[i]);
    const sc = result.test.indices.map((i) => ds.scenarios[i]);
    const routed = routeAll(result.card.thresholds, rows, withToyRegistry);
    const unrouted = routeAll(result.card.thresholds, rows);
    // The card's ensemble is the routing with the toy, not without it.
    expect(result.card.test.ensemble).toEqual(ensembleMetrics(routed, rows, y, sc, withToyRegistry));
    expect(result.card.test.ensemble.escalateShare).toBeGreaterThan(ensembleMetrics(unrouted, rows, y, sc).escalateShare);
    // Exactly the rows the toy flags (and the band does not block or already escalate) change, to escalated.
    let changed = 0;
    for (let i = 0; i < routed.length; i++) {
      if (routed[i] === unrouted[i]) continue;
      changed++;
      expect(unrouted[i]).toBe(Outcome.ALLOW_DETECT);
      expect(isEscalated(routed[i])).toBe(true);
      expect(toy()[i]).toBeGreaterThanOrEqual(t.velocityRuleEscalateAbove);
    }
    expect(changed).toBeGreaterThan(0);
  });

  it('loaded and live: a transaction the toy flags is escalated by decideFirstLine naming it, one it does not flag is not', async () => {
    const model = await loadModelVersion(result.dir, { detectors: withToy });
    try {
      const { velocityRuleEscalateAbove: _toy, ...registered } = result.card.thresholds.detect as Record<string, number>;
      const base = defaultPolicy({ ...result.card.thresholds, detect: registered as Policy['thresholds']['detect'] });
      // The policy as the schema would hold it once the toy is registered (PolicySchema is built from MODELS).
      const policy: Policy = { ...base, thresholds: { ...base.thresholds, detect: result.card.thresholds.detect } };
      const t = policy.thresholds.detect as Record<string, number>;
      const scored = model.scoreFirstLine(result.test.indices.map((i) => ds.rows[i]));
      const input = (i: number, models?: readonly ModelSpec[]): FirstLineInput => ({ scores: firstLineScores(scored[i], models), amountMinor: 100, country: 'FR', mcc: '5411', cardId: 'c', merchantId: 'm' });
      const calm = (i: number) => scored[i].xgboost < t.allowBelow && scored[i].isolationForest < t.anomalyEscalateAbove;
      const score = (i: number) => (scored[i] as unknown as Record<string, number>).velocityRule;
      const flagged = scored.map((_, i) => i).filter((i) => calm(i) && score(i) >= t.velocityRuleEscalateAbove);
      const quiet = scored.map((_, i) => i).filter((i) => calm(i) && score(i) < t.velocityRuleEscalateAbove);
      expect(flagged.length).toBeGreaterThan(0);
      expect(quiet.length).toBeGreaterThan(0);
      for (const i of flagged) {
        const d = decideFirstLine(policy, input(i, withToyRegistry), withToyRegistry);
        expect(d.action).toBe('ESCALATE');
        expect(d.rulesFired).toEqual([{ id: 'model.velocity_rule_escalate', description: 'velocity rule fires', effect: 'escalate', value: score(i), threshold: t.velocityRuleEscalateAbove }]);
        expect(d.reason).toBe(`velocity rule ${score(i).toFixed(3)} >= ${t.velocityRuleEscalateAbove.toFixed(3)}`);
        // Unregistered, the toy's score is not copied and the same transaction is allowed.
        expect(decideFirstLine(policy, input(i)).action).toBe('ALLOW');
      }
      for (const i of quiet) expect(decideFirstLine(policy, input(i, withToyRegistry), withToyRegistry)).toMatchObject({ action: 'ALLOW', rulesFired: [] });
      // Both escalateAbove models firing: one hit each, in registry order, both named in the reason.
      const both = decideFirstLine(policy, { ...input(flagged[0], withToyRegistry), scores: { ...input(flagged[0], withToyRegistry).scores, isolationForest: 1 } }, withToyRegistry);
      expect(both.rulesFired.map((h) => h.id)).toEqual(['model.anomaly_escalate', 'model.velocity_rule_escalate']);
      expect(both.reason).toMatch(/^anomaly 1\.000 >= \S+; velocity rule 1\.000 >= /);
    } finally {
      model.dispose();
    }
  });

  it('the train summary and its JSON list every first-line model the version measured', () => {
    const summary = trainSummary(result);
    expect(summary).toMatch(/^isolation forest +\d\.\d{4} /m);
    expect(summary).toMatch(/^XGBoost +\d\.\d{4} /m);
    expect(summary).toMatch(/^velocityRule +\d\.\d{4} /m);
    expect(summary).toContain(`test fraud rate ${((result.card.test.xgboost.positives / result.card.test.xgboost.rows) * 100).toFixed(2)}%`);
    expect(Object.keys(trainJson(result).test as object)).toEqual(['isolationForest', 'xgboost', 'velocityRule', 'heavy', 'ensemble']);
  });

  it('the trainer refuses a registry that routes a model it was not given', async () => {
    await expect(trainModels(ds, { modelDir: path.join(dir, 'never'), heavy: { enabled: false }, models: withToyRegistry })).rejects.toThrow(/the routing reads velocityRule, which the trainer was not given/);
  });
});
