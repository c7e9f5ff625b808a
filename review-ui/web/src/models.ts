import { api, ApiError, type LabelSnapshot, type ModelVersion, type ModelsResponse, type Policy, type ServedSummary } from './api.ts';
import { on } from './bus.ts';
import { dateTime, h, kv, num, pre, section, table, time, type Child } from './dom.ts';
import { driftPanel } from './drift.ts';
import { calibrationOf, reliabilityChart, type CalibrationCard } from './expected-loss.ts';

/** The card's calibration: the served p(fraud) and how well it matches observed fraud on the test slice. */
function calibrationPanel(c: CalibrationCard): HTMLElement {
  return h(
    'div',
    { class: 'calibration' },
    h('h3', {}, 'Calibration: p(fraud) the stages serve'),
    h('p', { class: 'muted' }, `Isotonic calibration of the ${c.model ?? 'XGBoost'} score, fitted on the ${c.fittedOn ?? 'validation slice'}; reliability on the ${c.reliability.on ?? 'test slice'}. On the diagonal, predicted p equals the observed fraud rate.`),
    reliabilityChart(c),
  );
}
import { shadowPanel } from './shadow.ts';

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

function versionPanel(m: ModelVersion, active: boolean, promote: (version: string) => void): HTMLElement {
  const card = m.card ?? {};
  const metrics = card.metrics;
  const test = card.test;
  const thresholds = card.thresholds;
  const window = card.dataWindow;
  const summary = Object.entries(card).filter(([, v]) => !isRecord(v) && !Array.isArray(v));
  const action = active
    ? h('span', { class: 'status open' }, 'served by the current policy')
    : h('button', { type: 'button', class: 'promote primary', 'data-version': m.version, disabled: m.card === null }, `Promote ${m.version}`);
  action.addEventListener('click', () => {
    if (!active && m.card !== null) promote(m.version);
  });
  return h(
    'section',
    { class: 'panel model-version', 'data-version': m.version },
    h('div', { class: 'case-head' }, h('h2', {}, `${m.version}${active ? ' (in the current policy)' : ''}`), action, h('a', { href: `#/compare/${encodeURIComponent(m.version)}` }, 'Compare…')),
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
    ((c) => (c ? calibrationPanel(c) : h('p', { class: 'muted no-calibration' }, 'No calibration in this card: the stages serve the raw XGBoost score as p(fraud).')))(calibrationOf(card)),
    h('details', {}, h('summary', {}, 'Full model card'), pre(card)),
  );
}

/** What the policy names beside what the stages stamp on their decisions: they differ until a swap lands. */
function servingPanel(policyVersion: number, inPolicy: string | null, served: ServedSummary | undefined): HTMLElement {
  const seen = served?.latest ?? null;
  const agree = inPolicy !== null && seen === inPolicy;
  const note =
    !served || served.considered === 0
      ? h('p', { class: 'muted', id: 'serving-note' }, 'No stage decisions seen yet: start the stages or a replay.')
      : inPolicy === null
        ? h('p', { class: 'muted', id: 'serving-note' }, 'The policy names no model version: the stages serve what they were started with.')
        : agree
          ? h('p', { class: 'ok', id: 'serving-note' }, `The stages serve ${inPolicy}, as the policy says.`)
          : h('p', { class: 'warn-text', id: 'serving-note' }, `The policy names ${inPolicy} but the latest decisions carry ${seen ?? '—'}: the swap has not reached them yet (or the stages could not load it; see their log).`);
  return h(
    'div',
    {},
    kv([
      ['current policy', h('span', { id: 'policy-model' }, `v${policyVersion} → ${inPolicy ?? '(none named)'}`)],
      ['stages report', h('span', { id: 'stages-model' }, seen === null ? '—' : `${seen} (decided ${time(served?.latestAt ?? 0)})`)],
    ]),
    note,
    served && served.versions.length
      ? table(
          ['model on decisions', `of the last ${served.considered}`, 'by stage', 'last seen'],
          served.versions.map((v) => [v.model, String(v.decisions), Object.entries(v.byStage).map(([s, n]) => `${s} ${n}`).join(', '), time(v.lastAt)]),
          'compact',
        )
      : '',
  );
}

export function modelsView(root: HTMLElement): () => void {
  const liveBox = h('div', {});
  const servingBox = h('div', { id: 'serving' });
  const status = h('p', { id: 'models-status', role: 'status' });
  const useThresholds = h('input', { type: 'checkbox', id: 'promote-thresholds' });
  const historyBox = h('div', { id: 'model-history' });
  const list = h('div', { id: 'models' });
  const drift = driftPanel();
  let versionNames: string[] = [];
  const shadow = shadowPanel(() => versionNames);
  root.append(
    h(
      'div',
      { class: 'grid' },
      section(
        'Serving',
        servingBox,
        h('label', { class: 'field-inline' }, useThresholds, ' promote with the card\'s thresholds too (else the policy keeps its own)'),
        h('p', {}, h('a', { href: '#/compare' }, 'Compare two versions…')),
        status,
      ),
      section('Policy versions (rollback restores the model too)', historyBox),
    ),
    section('Shadow challenger on live traffic', shadow.el),
    section('Live precision and recall against delayed labels', liveBox),
    section('Drift: live traffic against the served version\'s training data (PSI)', drift.el),
    list,
  );
  let state: { policyVersion: number; inPolicy: string | null } = { policyVersion: 0, inPolicy: null };
  let loaded = false;
  const showError = (err: unknown) => {
    status.textContent = err instanceof ApiError ? err.message : String(err);
    status.className = 'error';
  };
  const off = on('stats', (s) => {
    liveBox.replaceChildren(liveTable(s.labels));
    if (state.policyVersion) servingBox.replaceChildren(servingPanel(state.policyVersion, state.inPolicy, s.served));
  });

  const promote = (version: string) => {
    const withThresholds = useThresholds.checked;
    if (!window.confirm(`Serve ${version}${withThresholds ? ' with its card\'s thresholds' : ''}? This stores a new policy version; running stages swap models without a restart.`)) return;
    const send = (confirmImmature: boolean) =>
      api<{ current: Policy }>('POST', '/api/models/promote', { version, policyVersion: state.policyVersion, useCardThresholds: withThresholds, ...(confirmImmature ? { confirmImmature } : {}) }).then(async (r) => {
        await load();
        status.textContent = `Promoted ${version}: policy v${r.current.version}${confirmImmature ? ' (on an immature shadow report, confirmed)' : ''}.`;
        status.className = 'ok';
      });
    send(false)
      .catch((err: unknown) => {
        // An immature shadow report: the server refuses until the admin confirms, knowingly, a second time.
        if (err instanceof ApiError && err.status === 409 && err.message.includes('immature')) {
          if (window.confirm(`${err.message}.\n\nPromote ${version} anyway?`)) return send(true);
          status.textContent = `Not promoted: the shadow report for ${version} is immature.`;
          status.className = 'warn-text';
          return;
        }
        throw err;
      })
      .catch(showError);
  };

  const rollback = (p: Policy) => {
    if (!window.confirm(`Make policy v${p.version} (model ${p.modelVersion ?? 'none named'}) current again, as a new version?`)) return;
    api<{ current: Policy }>('POST', '/api/policy/rollback', { version: p.version })
      .then(async (r) => {
        await load();
        status.textContent = `Rolled back to the content of v${p.version}: policy v${r.current.version} serves ${r.current.modelVersion ?? '(none named)'}.`;
        status.className = 'ok';
      })
      .catch(showError);
  };

  const load = async () => {
    const [r, pol] = await Promise.all([api<ModelsResponse>('GET', '/api/models'), api<{ current: Policy; history: Policy[] }>('GET', '/api/policy')]);
    const before = state.inPolicy;
    state = { policyVersion: r.policyVersion, inPolicy: r.activeInPolicy };
    liveBox.replaceChildren(liveTable(r.live));
    servingBox.replaceChildren(servingPanel(r.policyVersion, r.activeInPolicy, r.served));
    if (loaded && before !== r.activeInPolicy) drift.reload();
    loaded = true;
    versionNames = r.versions.map((v) => v.version);
    shadow.reload();
    historyBox.replaceChildren(
      table(
        ['policy', 'when', 'by', 'model', ''],
        pol.history.slice(0, 12).map((p) => {
          const cell =
            p.version === pol.current.version
              ? h('span', { class: 'muted' }, 'current')
              : h('button', { type: 'button', class: 'model-rollback', 'data-version': p.version }, `Roll back to v${p.version}`);
          cell.addEventListener('click', () => {
            if (p.version !== pol.current.version) rollback(p);
          });
          return [`v${p.version}`, dateTime(p.updatedAt), p.updatedBy, p.modelVersion ?? '—', cell];
        }),
        'compact',
      ),
    );
    if (r.versions.length === 0) {
      list.replaceChildren(section('Model versions', h('p', { class: 'muted' }, `No model versions in ${r.modelDir} yet. Train one with the detectors' train command.`)));
      return;
    }
    list.replaceChildren(...r.versions.map((m) => versionPanel(m, m.version === r.activeInPolicy, promote)));
  };
  load().catch(showError);
  return () => {
    off();
    drift.stop();
    shadow.stop();
  };
}
