import { api, ApiError, type Policy, type PolicyInput, type PreviewResult } from './api.ts';
import { dateTime, h, section, table } from './dom.ts';

const listOf = (text: string): string[] => [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];

export function policyView(root: HTMLElement): void {
  const status = h('p', { id: 'policy-status', role: 'status' });
  const form = h('form', { id: 'policy-form', class: 'policy-form' });
  const previewOut = h('div', { id: 'preview' });
  const versions = h('div', {});
  const samplesInput = h('input', { type: 'number', id: 'preview-n', min: 1, max: 5000, value: 1000 });
  root.append(h('div', { class: 'grid' }, section('Policy', status, form), section('Preview on recent traffic', h('label', {}, 'last ', samplesInput, ' scored transactions'), previewOut)), section('Versions', versions));

  const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  const numberInput = (path: string, value: number | null, attrs: Record<string, string | number> = {}) => {
    const el = h('input', { type: 'number', name: path, value: value === null ? '' : value, ...attrs });
    inputs.set(path, el);
    return el;
  };
  const listInput = (path: string, value: string[]) => {
    const el = h('textarea', { name: path, rows: 2, placeholder: 'one per line or comma-separated' });
    el.value = value.join('\n');
    inputs.set(path, el);
    return el;
  };
  const field = (label: string, el: HTMLElement, hint = '') => h('label', { class: 'field' }, h('span', {}, label), el, hint ? h('small', { class: 'muted' }, hint) : null);

  let current: Policy | undefined;

  const read = (): PolicyInput => {
    if (!current) throw new Error('policy not loaded');
    const n = (path: string) => Number((inputs.get(path) as HTMLInputElement).value);
    const nullable = (path: string) => {
      const v = (inputs.get(path) as HTMLInputElement).value.trim();
      return v === '' ? null : Number(v);
    };
    const l = (path: string) => listOf((inputs.get(path) as HTMLTextAreaElement).value);
    return {
      ...(current.modelVersion ? { modelVersion: current.modelVersion } : {}),
      thresholds: {
        detect: { blockAbove: n('detect.blockAbove'), allowBelow: n('detect.allowBelow'), anomalyEscalateAbove: n('detect.anomalyEscalateAbove') },
        escalate: { blockAbove: n('escalate.blockAbove'), allowBelow: n('escalate.allowBelow') },
      },
      rules: {
        blockAmountAbove: nullable('rules.blockAmountAbove'),
        escalateAmountAbove: nullable('rules.escalateAmountAbove'),
        blockedCountries: l('rules.blockedCountries').map((s) => s.toUpperCase()),
        escalateCountries: l('rules.escalateCountries').map((s) => s.toUpperCase()),
        blockedMccs: l('rules.blockedMccs'),
        escalateMccs: l('rules.escalateMccs'),
      },
      lists: { allowCards: l('lists.allowCards'), blockCards: l('lists.blockCards'), allowMerchants: l('lists.allowMerchants'), blockMerchants: l('lists.blockMerchants') },
      review: { capacity: n('review.capacity') },
    };
  };

  const renderForm = (p: Policy) => {
    inputs.clear();
    const prob = { min: 0, max: 1, step: 0.01 };
    const previewBtn = h('button', { type: 'button', id: 'preview-btn' }, 'Preview');
    const applyBtn = h('button', { type: 'submit', id: 'apply-btn', class: 'primary' }, 'Apply as new version');
    previewBtn.addEventListener('click', () => void preview());
    form.replaceChildren(
      h('p', { class: 'muted' }, `Version ${p.version}, by ${p.updatedBy} at ${dateTime(p.updatedAt)}${p.modelVersion ? ` · model ${p.modelVersion}` : ''}`),
      h('fieldset', {}, h('legend', {}, 'Detect (XGBoost + isolation forest)'),
        field('block at or above', numberInput('detect.blockAbove', p.thresholds.detect.blockAbove, prob)),
        field('allow below', numberInput('detect.allowBelow', p.thresholds.detect.allowBelow, prob)),
        field('escalate anomalies at or above', numberInput('detect.anomalyEscalateAbove', p.thresholds.detect.anomalyEscalateAbove, prob))),
      h('fieldset', {}, h('legend', {}, 'Escalate (heavy model)'),
        field('block at or above', numberInput('escalate.blockAbove', p.thresholds.escalate.blockAbove, prob)),
        field('allow below', numberInput('escalate.allowBelow', p.thresholds.escalate.allowBelow, prob))),
      h('fieldset', {}, h('legend', {}, 'Rules'),
        field('block amounts above (minor units)', numberInput('rules.blockAmountAbove', p.rules.blockAmountAbove, { min: 1, step: 1 }), 'empty = off'),
        field('escalate amounts above (minor units)', numberInput('rules.escalateAmountAbove', p.rules.escalateAmountAbove, { min: 1, step: 1 }), 'empty = off'),
        field('blocked countries', listInput('rules.blockedCountries', p.rules.blockedCountries)),
        field('escalated countries', listInput('rules.escalateCountries', p.rules.escalateCountries)),
        field('blocked MCCs', listInput('rules.blockedMccs', p.rules.blockedMccs)),
        field('escalated MCCs', listInput('rules.escalateMccs', p.rules.escalateMccs))),
      h('fieldset', {}, h('legend', {}, 'Lists'),
        field('allowed cards', listInput('lists.allowCards', p.lists.allowCards)),
        field('blocked cards', listInput('lists.blockCards', p.lists.blockCards)),
        field('allowed merchants', listInput('lists.allowMerchants', p.lists.allowMerchants)),
        field('blocked merchants', listInput('lists.blockMerchants', p.lists.blockMerchants))),
      h('fieldset', {}, h('legend', {}, 'Review'), field('queue capacity (open cases)', numberInput('review.capacity', p.review.capacity, { min: 0, step: 1 }))),
      h('div', { class: 'actions' }, previewBtn, applyBtn),
    );
  };

  const showError = (err: unknown) => {
    status.textContent = err instanceof ApiError ? err.message : String(err);
    status.className = 'error';
  };

  const preview = async () => {
    try {
      const r = await api<PreviewResult>('POST', '/api/policy/preview', { policy: read(), samples: Number(samplesInput.value) || 1000 });
      const rows = (['BLOCK', 'REVIEW', 'ESCALATE', 'ALLOW'] as const).map((a) => {
        const d = r.delta[a];
        return [a, String(r.recorded[a]), String(r.current[a]), String(r.proposed[a]), h('strong', { class: d > 0 ? 'hot-text' : d < 0 ? 'cool-text' : '' }, d > 0 ? `+${d}` : String(d))];
      });
      previewOut.replaceChildren(
        r.samples === 0
          ? h('p', { class: 'muted' }, 'No scored transactions recorded yet: start the detect stage or a replay.')
          : h('p', {}, `${r.samples} transactions; ${r.changed} would be decided differently.`),
        table(['outcome', 'when scored', 'current policy', 'proposed', 'change'], rows, 'compact preview-table'),
        h('p', { class: 'muted' }, 'ESCALATE = sent to the heavy model (no heavy score recorded); REVIEW = would reach a human.'),
        r.examples.length
          ? table(['tx', 'card', 'amount (minor)', 'from', 'to', 'why'], r.examples.map((e) => [e.txId, e.cardId, String(e.amountMinor), e.from, e.to, e.reason]), 'compact')
          : '',
      );
      status.textContent = '';
    } catch (err) {
      showError(err);
    }
  };

  const load = async () => {
    const r = await api<{ current: Policy; history: Policy[]; sampleCount: number }>('GET', '/api/policy');
    current = r.current;
    renderForm(r.current);
    versions.replaceChildren(
      table(
        ['version', 'when', 'by', 'model', 'detect block / allow / anomaly', 'escalate block / allow', 'block amount (minor)', 'lists', ''],
        r.history.map((p) => {
          const btn = p.version === r.current.version ? h('span', { class: 'muted' }, 'current') : h('button', { type: 'button', class: 'rollback', 'data-version': p.version }, `Roll back to v${p.version}`);
          btn.addEventListener('click', () => {
            if (p.version === r.current.version || !window.confirm(`Make version ${p.version} current again (as a new version)?`)) return;
            api('POST', '/api/policy/rollback', { version: p.version })
              .then(() => {
                status.textContent = `Rolled back to the content of v${p.version}.`;
                status.className = 'ok';
                return load();
              })
              .catch(showError);
          });
          const t = p.thresholds;
          const listCount = Object.values(p.lists).reduce((a, l) => a + l.length, 0);
          return [`v${p.version}`, dateTime(p.updatedAt), p.updatedBy, p.modelVersion ?? '—', `${t.detect.blockAbove} / ${t.detect.allowBelow} / ${t.detect.anomalyEscalateAbove}`, `${t.escalate.blockAbove} / ${t.escalate.allowBelow}`, p.rules.blockAmountAbove === null ? 'off' : String(p.rules.blockAmountAbove), String(listCount), btn];
        }),
        'compact',
      ),
    );
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    let input: PolicyInput;
    try {
      input = read();
    } catch (err) {
      showError(err);
      return;
    }
    const loaded = current?.version;
    // A promotion (Models page) or another analyst may have stored a version since this form loaded: applying
    // the stale form would silently undo it, model version included.
    api<{ current: Policy }>('GET', '/api/policy')
      .then((now) => {
        if (now.current.version !== loaded) throw new Error(`The policy changed since this page loaded (now v${now.current.version} by ${now.current.updatedBy}, model ${now.current.modelVersion ?? 'none named'}); reload the page and apply again.`);
        return api<{ current: Policy }>('PUT', '/api/policy', input);
      })
      .then((r) => {
        status.textContent = `Applied as version ${r.current.version}. Running stages pick it up without restart.`;
        status.className = 'ok';
        return load();
      })
      .catch(showError);
  });
  load().catch(showError);
}
