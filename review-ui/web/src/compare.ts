import type uPlot from 'uplot';
import { api, ApiError, type ModelVersion, type ModelsResponse } from './api.ts';
import { curveChart, type CurveSeries } from './charts.ts';
import { cardCurves, compareCards, type CurveModel, type MetricRow } from './compare-data.ts';
import { dateTime, h, kv, num, section, type Child } from './dom.ts';

const MODEL_COLORS: Partial<Record<CurveModel, string>> = { isolationForest: '#d29922', xgboost: '#58a6ff', heavy: '#bc8cff', ensemble: '#3fb950' };
/** Colours for models without their own (a newly registered detector), picked by name so A and B agree. */
const MORE_COLORS = ['#f778ba', '#39c5cf', '#e3b341', '#ff7b72'];
const colorOf = (m: CurveModel) => MODEL_COLORS[m] ?? MORE_COLORS[[...m].reduce((acc, c) => acc + c.charCodeAt(0), 0) % MORE_COLORS.length];
const DASH_B = [7, 5];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function value(v: number | null, kind: MetricRow['kind']): string {
  if (v === null) return '—';
  return kind === 'share' ? `${(v * 100).toFixed(2)}%` : num(v, 4);
}

function change(r: MetricRow): string {
  if (r.delta === null) return 'n/a';
  const sign = r.delta > 0 ? '+' : r.delta < 0 ? '−' : '±';
  const abs = Math.abs(r.delta);
  return r.kind === 'share' ? `${sign}${(abs * 100).toFixed(2)} pts` : `${sign}${abs.toFixed(4)}`;
}

function metricTable(rows: MetricRow[], a: string, b: string, id: string): HTMLElement {
  const body = rows.map((r) =>
    h(
      'tr',
      { class: `diff-${r.verdict}`, 'data-metric': r.label },
      h('td', {}, r.label),
      h('td', { class: 'num' }, value(r.a, r.kind)),
      h('td', { class: 'num' }, value(r.b, r.kind)),
      h('td', { class: 'num delta' }, change(r)),
    ),
  );
  return h(
    'table',
    { class: 'compact compare-table', id },
    h('thead', {}, h('tr', {}, h('th', {}, 'metric'), h('th', { class: 'num' }, `A: ${a}`), h('th', { class: 'num' }, `B: ${b}`), h('th', { class: 'num' }, 'B − A'))),
    h('tbody', {}, ...body),
  );
}

function cardSummary(m: ModelVersion): HTMLElement {
  const c = m.card ?? {};
  const w = isRecord(c.dataWindow) ? c.dataWindow : undefined;
  const rows: Array<[string, Child]> = [
    ['created', typeof c.createdAt === 'string' ? c.createdAt : '—'],
    ['data rows / fraud', w ? `${String(w.rows)} / ${String(w.positives)}` : '—'],
    ['escalate scored by', typeof c.escalateScoredBy === 'string' ? c.escalateScoredBy : '—'],
    ['folder modified', dateTime(m.modifiedAt)],
  ];
  return h('div', {}, h('h3', {}, m.version), m.error ? h('p', { class: 'error' }, `model-card.json: ${m.error}`) : '', kv(rows));
}

/** Compare page: #/compare/<A>/<B>. Two versions' test metrics side by side, B − A highlighted, PR and ROC curves. */
export function compareView(root: HTMLElement, params: string[]): () => void {
  const status = h('p', { id: 'compare-status', role: 'status' });
  const pickA = h('select', { id: 'compare-a' });
  const pickB = h('select', { id: 'compare-b' });
  const swap = h('button', { type: 'button', id: 'compare-swap' }, 'Swap');
  const out = h('div', { id: 'compare' });
  root.append(
    section('Compare model versions', h('div', { class: 'filters' }, h('label', {}, 'A ', pickA), h('label', {}, 'B ', pickB), swap, h('a', { href: '#/models' }, 'Models')), status),
    out,
  );
  let charts: uPlot[] = [];
  const dropCharts = () => {
    for (const c of charts) c.destroy();
    charts = [];
  };
  let versions: ModelVersion[] = [];

  const render = () => {
    dropCharts();
    const a = versions.find((v) => v.version === pickA.value);
    const b = versions.find((v) => v.version === pickB.value);
    if (!a || !b) {
      out.replaceChildren();
      return;
    }
    history.replaceState(null, '', `#/compare/${encodeURIComponent(a.version)}/${encodeURIComponent(b.version)}`);
    const rows = compareCards(a.card, b.card);
    const group = (g: MetricRow['group']) => rows.filter((r) => r.group === g);
    const noMetrics = rows.length === 0;
    const curvesA = cardCurves(a.card);
    const curvesB = cardCurves(b.card);
    const prBox = h('div', { class: 'chart', id: 'pr-chart' });
    const rocBox = h('div', { class: 'chart', id: 'roc-chart' });
    const missing = [
      curvesA ? null : h('p', { class: 'muted no-curves', 'data-version': a.version }, `A (${a.version}): no curves in this card.`),
      curvesB ? null : h('p', { class: 'muted no-curves', 'data-version': b.version }, `B (${b.version}): no curves in this card.`),
    ];
    out.replaceChildren(
      section('Cards', h('div', { class: 'grid' }, cardSummary(a), cardSummary(b))),
      section(
        'Test-slice metrics',
        a.version === b.version ? h('p', { class: 'muted' }, 'A and B are the same version.') : '',
        noMetrics
          ? h('p', { class: 'muted' }, 'Neither card has test metrics.')
          : h(
              'div',
              {},
              h('p', { class: 'muted' }, 'Green: B is better than A; red: worse; amber: changed where neither direction is better (blocked share).'),
              h('h3', {}, 'Models'),
              metricTable(group('models'), a.version, b.version, 'compare-models'),
              group('ensemble').length ? h('div', {}, h('h3', {}, 'Routed ensemble'), metricTable(group('ensemble'), a.version, b.version, 'compare-ensemble')) : '',
              group('scenarios').length ? h('div', {}, h('h3', {}, 'Recall per fraud scenario'), metricTable(group('scenarios'), a.version, b.version, 'compare-scenarios')) : '',
            ),
      ),
      section(
        'Curves on the test slice',
        h('p', { class: 'muted' }, `Solid: A (${a.version}); dashed: B (${b.version}).`),
        ...missing,
        curvesA || curvesB ? h('div', { class: 'charts' }, prBox, rocBox) : '',
      ),
    );
    if (!curvesA && !curvesB) return;
    const series = (kind: 'pr' | 'roc'): CurveSeries[] => {
      const out: CurveSeries[] = [];
      for (const [tag, curves, dash] of [['A', curvesA, undefined], ['B', curvesB, DASH_B]] as const) {
        if (!curves) continue;
        for (const m of Object.keys(curves)) {
          const pts = curves[m]?.[kind];
          if (pts) out.push({ label: `${tag} ${m}`, stroke: colorOf(m), ...(dash ? { dash: [...dash] } : {}), points: pts });
        }
      }
      return out;
    };
    const pr = series('pr');
    const roc = series('roc');
    if (pr.length) charts.push(curveChart(prBox, 'Precision–recall', 'recall', 'precision', pr));
    else prBox.append(h('p', { class: 'muted' }, 'No PR curves in these cards.'));
    if (roc.length) charts.push(curveChart(rocBox, 'ROC', 'false positive rate', 'true positive rate', roc));
    else rocBox.append(h('p', { class: 'muted' }, 'No ROC curves in these cards.'));
  };

  pickA.addEventListener('change', render);
  pickB.addEventListener('change', render);
  swap.addEventListener('click', () => {
    const x = pickA.value;
    pickA.value = pickB.value;
    pickB.value = x;
    render();
  });

  api<ModelsResponse>('GET', '/api/models')
    .then((r) => {
      versions = r.versions;
      if (versions.length === 0) {
        status.textContent = `No model versions in ${r.modelDir} yet.`;
        return;
      }
      const names = versions.map((v) => v.version);
      for (const sel of [pickA, pickB]) sel.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
      // Default: A = what the policy serves (or the second newest), B = the newest other version.
      const [wantA, wantB] = params;
      const a = wantA && names.includes(wantA) ? wantA : r.activeInPolicy && names.includes(r.activeInPolicy) ? r.activeInPolicy : (names[1] ?? names[0]);
      const b = wantB && names.includes(wantB) ? wantB : (names.find((n) => n !== a) ?? a);
      pickA.value = a as string;
      pickB.value = b as string;
      if (wantA && !names.includes(wantA)) status.textContent = `No version ${wantA} under ${r.modelDir}.`;
      if (names.length === 1) status.textContent = 'Only one version: nothing to compare it with yet.';
      render();
    })
    .catch((err: unknown) => {
      status.textContent = err instanceof ApiError ? err.message : String(err);
      status.className = 'error';
    });
  return dropCharts;
}
