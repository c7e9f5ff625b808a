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
    list.replaceChildren(
      ...r.versions.map((m) => {
        const card = m.card ?? {};
        const metrics = card.metrics;
        const thresholds = card.thresholds;
        const known = new Set(['metrics', 'thresholds']);
        const summary = Object.entries(card).filter(([k, v]) => !known.has(k) && !isRecord(v) && !Array.isArray(v));
        const details = h('details', {}, h('summary', {}, 'Full model card'), pre(card));
        return section(
          `${m.version}${m.version === r.activeInPolicy ? ' (in the current policy)' : ''}`,
          m.error ? h('p', { class: 'error' }, `model-card.json: ${m.error}`) : null,
          h('p', { class: 'muted' }, `folder modified ${dateTime(m.modifiedAt)}`),
          h(
            'div',
            { class: 'grid' },
            h('div', {}, h('h3', {}, 'Card'), summary.length ? kv(summary.map(([k, v]) => [k, String(v)])) : h('p', { class: 'muted' }, '—')),
            h('div', {}, h('h3', {}, 'Metrics'), metrics !== undefined ? kv(flatten(metrics)) : h('p', { class: 'muted' }, 'none recorded')),
            h('div', {}, h('h3', {}, 'Thresholds'), thresholds !== undefined ? kv(flatten(thresholds)) : h('p', { class: 'muted' }, 'none recorded')),
          ),
          details,
        );
      }),
    );
  });
  return off;
}
