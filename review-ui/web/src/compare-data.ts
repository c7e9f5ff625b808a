/** Pure logic of the Compare page: metric rows of two model cards and their PR/ROC curves. No DOM here. */
import { MODEL_IDS } from '../../../core/model-registry.ts';

export type Direction = 'higher' | 'lower' | 'neutral';
export type Verdict = 'better' | 'worse' | 'changed' | 'same' | 'missing';
export type MetricKind = 'score' | 'share';

export interface MetricRow {
  group: 'models' | 'ensemble' | 'scenarios';
  label: string;
  kind: MetricKind;
  a: number | null;
  b: number | null;
  /** b - a */
  delta: number | null;
  direction: Direction;
  verdict: Verdict;
}

/** The curves drawn, in order: every registered model, then the routed ensemble (a newly registered detector's too). */
export const CURVE_MODELS: readonly string[] = [...MODEL_IDS, 'ensemble'];
export type CurveModel = string;
export type Point = [number, number];
export interface ModelCurves {
  pr?: Point[];
  roc?: Point[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Differences this small are rounding, not a change worth a colour. */
export const SAME_WITHIN = 1e-4;

const MODEL_METRICS: Array<[string, string, MetricKind]> = [
  ['rocAuc', 'ROC AUC', 'score'],
  ['auprc', 'AUPRC', 'score'],
  ['recallAt1pctFpr', 'recall @1% FPR', 'share'],
];
const ENSEMBLE_METRICS: Array<[string, string, Direction]> = [
  ['catchRate', 'fraud caught', 'higher'],
  ['blockPrecision', 'block precision', 'higher'],
  ['escalateShare', 'escalated', 'lower'],
  ['reviewShare', 'to review', 'lower'],
  ['blockShare', 'blocked', 'neutral'],
  ['legitBlockedShare', 'legit blocked', 'lower'],
];

function verdictOf(a: number | null, b: number | null, direction: Direction): Verdict {
  if (a === null || b === null) return 'missing';
  const d = b - a;
  if (Math.abs(d) <= SAME_WITHIN) return 'same';
  if (direction === 'neutral') return 'changed';
  return (d > 0) === (direction === 'higher') ? 'better' : 'worse';
}

function row(group: MetricRow['group'], label: string, kind: MetricKind, a: unknown, b: unknown, direction: Direction): MetricRow {
  const x = finite(a);
  const y = finite(b);
  return { group, label, kind, a: x, b: y, delta: x !== null && y !== null ? y - x : null, direction, verdict: verdictOf(x, y, direction) };
}

/** Model names in a stable order: the registered ones and the ensemble first, then any other, sorted. */
const inOrder = (names: string[]): string[] => [...CURVE_MODELS.filter((m) => names.includes(m)), ...names.filter((k) => !CURVE_MODELS.includes(k)).sort()];

/** The test-slice models of a card in a stable order: the known four first, then any other. */
function testModels(card: unknown): Map<string, Record<string, unknown>> {
  const test = isRecord(card) && isRecord(card.test) ? card.test : {};
  const names = inOrder(Object.keys(test));
  const out = new Map<string, Record<string, unknown>>();
  for (const n of names) {
    const v = test[n];
    if (isRecord(v)) out.set(n, v);
  }
  return out;
}

/** Side-by-side rows of two cards' test metrics (B relative to A). A metric either card lacks is "missing". */
export function compareCards(cardA: unknown, cardB: unknown): MetricRow[] {
  const a = testModels(cardA);
  const b = testModels(cardB);
  const models = [...new Set([...a.keys(), ...b.keys()])];
  const rows: MetricRow[] = [];
  for (const m of models) for (const [key, label, kind] of MODEL_METRICS) rows.push(row('models', `${m} · ${label}`, kind, a.get(m)?.[key], b.get(m)?.[key], 'higher'));
  const ea = a.get('ensemble');
  const eb = b.get('ensemble');
  if (ea || eb) for (const [key, label, dir] of ENSEMBLE_METRICS) rows.push(row('ensemble', label, 'share', ea?.[key], eb?.[key], dir));
  const scen = (v: Record<string, unknown> | undefined) => (v && isRecord(v.perScenarioRecall) ? v.perScenarioRecall : {});
  const scenarios = [...new Set(models.flatMap((m) => [...Object.keys(scen(a.get(m))), ...Object.keys(scen(b.get(m)))]))].sort();
  for (const s of scenarios) for (const m of models) {
    const x = scen(a.get(m))[s];
    const y = scen(b.get(m))[s];
    if (x !== undefined || y !== undefined) rows.push(row('scenarios', `${s} · ${m}`, 'share', x, y, 'higher'));
  }
  return rows;
}

const MAX_POINTS = 2000;

function points(v: unknown): Point[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: Point[] = [];
  for (const p of v.slice(0, MAX_POINTS)) {
    if (!Array.isArray(p) || p.length < 2) continue;
    const x = finite(p[0]);
    const y = finite(p[1]);
    if (x === null || y === null || x < 0 || x > 1 || y < 0 || y > 1) continue;
    out.push([x, y]);
  }
  return out.length >= 2 ? out : undefined;
}

/** The card's `curves` ({model: {pr: [[recall, precision]], roc: [[fpr, tpr]]}}), malformed points dropped; null when it has none. */
export function cardCurves(card: unknown): Partial<Record<CurveModel, ModelCurves>> | null {
  if (!isRecord(card) || !isRecord(card.curves)) return null;
  const out: Partial<Record<CurveModel, ModelCurves>> = {};
  for (const m of CURVE_MODELS) {
    const c = card.curves[m];
    if (!isRecord(c)) continue;
    const pr = points(c.pr);
    const roc = points(c.roc);
    if (pr || roc) out[m] = { ...(pr ? { pr } : {}), ...(roc ? { roc } : {}) };
  }
  return Object.keys(out).length ? out : null;
}

/**
 * Several curves with their own x values as one uPlot data table: the union of x ascending, each curve's
 * y at its own points and null elsewhere (drawn with spanGaps). Equal x values stay in the curve's order,
 * so the vertical steps of a PR curve are drawn the way the card lists them.
 */
export function alignCurves(curves: Point[][]): Array<Array<number | null>> {
  const rows: Array<{ x: number; s: number; y: number; i: number }> = [];
  curves.forEach((c, s) => {
    const ordered = c.length > 1 && (c[0] as Point)[0] > (c[c.length - 1] as Point)[0] ? [...c].reverse() : c;
    ordered.forEach(([x, y], i) => rows.push({ x, s, y, i }));
  });
  rows.sort((p, q) => p.x - q.x || p.s - q.s || p.i - q.i);
  const xs = rows.map((r) => r.x);
  const ys = curves.map((_, s) => rows.map((r) => (r.s === s ? r.y : null)));
  return [xs, ...ys];
}
