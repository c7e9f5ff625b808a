import { api, type LabelSnapshot } from './api.ts';
import { on } from './bus.ts';
import { dateTime, h, kv, num, pre, section, table, type Child } from './dom.ts';

interface ModelVersion {
  version: string;
  card: Record<string, unknown> | null;
  error?: string;
  modifiedAt: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Flattens nested metrics ({test: {auc: 0.9}}) into rows "test.auc  0.900". */
function flatten(v: unknown, prefix = '', out: Array<[string, Child]> = []): Array<[string, Child]> {
  if (isRecord(v)) for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  else if (typeof v === 'number') out.push([prefix, Number.isInteger(v) ? String(v) : num(v, 4)]);
  else if (Array.isArray(v)) out.push([prefix, v.length > 8 ? `[${v.length} values]` : JSON.stringify(v)]);
  else out.push([prefix, String(v)]);
  return out;
}

function liveTable(live: LabelSnapshot): HTMLElement {
  const rows = Object.entries(live.bySourceAndModel)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, c]) => {
      const [source, model] = key.split('|');
      return [source ?? '', model === '*' ? 'all versions' : (model ?? ''), String(c.tp), String(c.fp), String(c.fn), String(c.tn), num(c.precision), num(c.recall)];
    });
  return h(
    'div',
    { id: 'live-metrics' },
    h('p', { class: 'muted' }, `${live.labels} labels received since the console started; ${live.pending} waiting for their final decision. Predicted fraud = final BLOCK.`),
    rows.length ? table(['labels from', 'model', 'TP', 'FP', 'FN', 'TN', 'precision', 'recall'], rows, 'compact') : h('p', { class: 'muted' }, 'No labelled decisions yet: chargebacks arrive with a delay.'),
  );
}

const METRIC_COLUMNS: Array<[string, string]> = [
  ['rocAuc', 'ROC AUC'],
  ['auprc', 'AUPRC'],
  ['recallAt1pctFpr', 'recall @1% FPR'],
  ['flaggedShare', 'flagged share'],
];
const ENSEMBLE_COLUMNS: Array<[string, string]> = [
  ['catchRate', 'fraud caught'],
  ['blockPrecision', 'block precision'],
  ['blockShare', 'blocked'],
  ['reviewShare', 'to review'],
  ['escalateShare', 'escalated'],
  ['legitBlockedShare', 'legit blocked'],
];
const pct = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '—');
const numCell = (v: unknown) => (typeof v === 'number' ? num(v, 4) : '—');

/** The trainer's card (detectors/model-card.ts): test-slice metrics per model and for the routed ensemble. */
function testMetrics(test: Record<string, unknown>): HTMLElement {
  const models = Object.entries(test).filter(([, v]) => isRecord(v)) as Array<[string, Record<string, unknown>]>;
  const scenarioNames = [...new Set(models.flatMap(([, v]) => (isRecord(v.perScenarioRecall) ? Object.keys(v.perScenarioRecall) : [])))].sort();
  const ensemble = test.ensemble;
  return h(
    'div',
    {},
    table(['model', ...METRIC_COLUMNS.map(([, l]) => l)], models.map(([name, v]) => [name, ...METRIC_COLUMNS.map(([k]) => numCell(v[k]))]), 'compact'),
    isRecord(ensemble) ? h('div', {}, h('h3', {}, 'Routed ensemble on the test slice'), table(ENSEMBLE_COLUMNS.map(([, l]) => l), [ENSEMBLE_COLUMNS.map(([k]) => pct(ensemble[k]))], 'compact')) : '',
    scenarioNames.length
      ? h(
          'div',
          {},
          h('h3', {}, 'Recall per fraud scenario'),
          table(['scenario', ...models.map(([n]) => n)], scenarioNames.map((sc) => [sc, ...models.map(([, v]) => pct(isRecord(v.perScenarioRecall) ? v.perScenarioRecall[sc] : undefined))]), 'compact'),
        )
      : '',
  );
}

function versionPanel(m: ModelVersion, active: boolean): HTMLElement {
  const card = m.card ?? {};
  const metrics = card.metrics;
  const test = card.test;
  const thresholds = card.thresholds;
  const window = card.dataWindow;
  const summary = Object.entries(card).filter(([, v]) => !isRecord(v) && !Array.isArray(v));
  return section(
    `${m.version}${active ? ' (in the current policy)' : ''}`,
    m.error ? h('p', { class: 'error' }, `model-card.json: ${m.error}`) : '',
    h(
      'div',
      { class: 'grid' },
      h(
        'div',
        {},
        h('h3', {}, 'Card'),
        kv([
          ...summary.map(([k, v]): [string, Child] => [k, String(v)]),
          ...(isRecord(window)
            ? ([
                ['data window', `${typeof window.from === 'number' ? dateTime(window.from) : '?'} → ${typeof window.to === 'number' ? dateTime(window.to) : '?'}`],
                ['rows / fraud', `${String(window.rows)} / ${String(window.positives)} (${pct(window.fraudRate)})`],
              ] as Array<[string, Child]>)
            : []),
          ['folder modified', dateTime(m.modifiedAt)],
        ]),
      ),
      h('div', {}, h('h3', {}, 'Thresholds'), thresholds !== undefined ? kv(flatten(thresholds)) : h('p', { class: 'muted' }, 'none recorded')),
    ),
    h('h3', {}, 'Metrics'),
    isRecord(test) ? testMetrics(test) : metrics !== undefined ? kv(flatten(metrics)) : h('p', { class: 'muted' }, 'none recorded'),
    h('details', {}, h('summary', {}, 'Full model card'), pre(card)),
  );
}

export function modelsView(root: HTMLElement): () => void {
  const liveBox = h('div', {});
  const list = h('div', { id: 'models' });
  root.append(section('Live precision and recall against delayed labels', liveBox), list);
  const off = on('stats', (s) => liveBox.replaceChildren(liveTable(s.labels)));
  void api<{ modelDir: string; versions: ModelVersion[]; activeInPolicy: string | null; live: LabelSnapshot }>('GET', '/api/models').then((r) => {
    liveBox.replaceChildren(liveTable(r.live));
    if (r.versions.length === 0) {
      list.replaceChildren(section('Model versions', h('p', { class: 'muted' }, `No model versions in ${r.modelDir} yet. Train one with the detectors' train command.`)));
      return;
    }
    list.replaceChildren(...r.versions.map((m) => versionPanel(m, m.version === r.activeInPolicy)));
  });
  return off;
}
