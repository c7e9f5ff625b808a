import { ApiError, api, type Policy, type PolicyInput, type PreviewResult } from './api.ts';
import { dateTime, h, section, table } from './dom.ts';
import { moneyCurve, moneyTable } from './policy-money.ts';
import { fileSourceLine, sourcePicker, type FilePreviewResult } from './policy-source.ts';
import { stageLegend, thresholdFields } from './policy-thresholds.ts';
import { amountText, majorInput, minorDigits, minorFromInput, thresholdText } from './format.ts';

interface Amounts {
  /** The currency amount rules are shown in (the most common in recent decisions); null before any. */
  currency: string | null;
  seen: string[];
}

const STAGES = ['detect', 'escalate'] as const;
const FIELDS = { detect: thresholdFields('detect'), escalate: thresholdFields('escalate') };

const listOf = (text: string): string[] => [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];

/** A threshold of a policy by key (the server fills a key a stored policy lacks, so one is always there). */
const thresholdOf = (p: Policy, stage: (typeof STAGES)[number], key: string): number => (p.thresholds[stage] as Readonly<Record<string, number>>)[key]!;

export function policyView(root: HTMLElement): void {
  const status = h('p', { id: 'policy-status', role: 'status' });
  const form = h('form', { id: 'policy-form', class: 'policy-form' });
  const previewOut = h('div', { id: 'preview' });
  const versions = h('div', {});
  const source = sourcePicker();
  root.append(h('div', { class: 'grid' }, section('Policy', status, form), section('Preview', source.el, previewOut)), section('Versions', versions));

  const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  const exact = new Map<string, { shown: string; value: number }>();
  let amounts: Amounts = { currency: null, seen: [] };
  const numberInput = (path: string, value: number | null, attrs: Record<string, string | number> = {}) => {
    const el = h('input', { type: 'number', name: path, value: value === null ? '' : value, ...attrs });
    inputs.set(path, el);
    return el;
  };
  // Shown rounded; the stored value is kept as it is unless the field is edited, so applying an unrelated
  // change never moves a threshold. Any precision can be typed.
  const thresholdInput = (path: string, value: number) => {
    const shown = thresholdText(value);
    exact.set(path, { shown, value });
    return numberInput(path, null, { min: 0, max: 1, step: 'any', value: shown, title: String(value) });
  };
  const amountInput = (path: string, minor: number | null) => {
    const el = numberInput(path, null, { min: 0, step: 10 ** -minorDigits(amounts.currency), value: minor === null ? '' : majorInput(minor, amounts.currency) });
    const shown = h('small', { class: 'amount-shown', 'data-for': path });
    const update = () => {
      try {
        shown.textContent = el.value.trim() === '' ? 'off' : amountText(minorFromInput(el.value, amounts.currency, 'amount'), amounts.currency);
        shown.className = 'amount-shown';
      } catch (err) {
        shown.textContent = (err as Error).message.replace(/^amount: /, '');
        shown.className = 'amount-shown error';
      }
    };
    el.addEventListener('input', update);
    update();
    return h('span', { class: 'amount' }, h('span', { class: 'amount-row' }, amounts.currency ?? '', el), shown);
  };
  const amountHint = () => {
    const others = amounts.seen.filter((c) => c !== amounts.currency);
    return `empty = off; compared with each transaction's amount in its own currency${others.length ? ` (the same number in ${others.join(', ')})` : ''}`;
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
    const n = (path: string) => {
      const v = (inputs.get(path) as HTMLInputElement).value.trim();
      const kept = exact.get(path);
      return kept && kept.shown === v ? kept.value : Number(v);
    };
    const amount = (path: string, what: string) => {
      const v = (inputs.get(path) as HTMLInputElement).value.trim();
      return v === '' ? null : minorFromInput(v, amounts.currency, what);
    };
    const cost = (path: string, what: string) => {
      const v = amount(path, what);
      if (v === null) throw new Error(`${what}: give an amount (0 for none)`);
      return v;
    };
    const l = (path: string) => listOf((inputs.get(path) as HTMLTextAreaElement).value);
    return {
      ...(current.modelVersion ? { modelVersion: current.modelVersion } : {}),
      thresholds: Object.fromEntries(STAGES.map((s) => [s, Object.fromEntries(FIELDS[s].map((f) => [f.key, n(f.path)]))])) as PolicyInput['thresholds'],
      rules: {
        blockAmountAbove: amount('rules.blockAmountAbove', 'block amounts above'),
        escalateAmountAbove: amount('rules.escalateAmountAbove', 'escalate amounts above'),
        blockedCountries: l('rules.blockedCountries').map((s) => s.toUpperCase()),
        escalateCountries: l('rules.escalateCountries').map((s) => s.toUpperCase()),
        blockedMccs: l('rules.blockedMccs'),
        escalateMccs: l('rules.escalateMccs'),
      },
      lists: { allowCards: l('lists.allowCards'), blockCards: l('lists.blockCards'), allowMerchants: l('lists.allowMerchants'), blockMerchants: l('lists.blockMerchants') },
      review: { capacity: n('review.capacity'), analysts: n('review.analysts'), casesPerAnalystHour: n('review.casesPerAnalystHour'), slaMinutes: n('review.slaMinutes') },
      money: { chargebackFeeMinor: cost('money.chargebackFeeMinor', 'chargeback fee'), falseBlockCostMinor: cost('money.falseBlockCostMinor', 'cost of blocking a legitimate payment') },
    };
  };

  const renderForm = (p: Policy) => {
    inputs.clear();
    exact.clear();
    const previewBtn = h('button', { type: 'button', id: 'preview-btn' }, 'Preview');
    const applyBtn = h('button', { type: 'submit', id: 'apply-btn', class: 'primary' }, 'Apply as new version');
    previewBtn.addEventListener('click', () => void preview());
    form.replaceChildren(
      h('p', { class: 'muted' }, `Version ${p.version}, by ${p.updatedBy} at ${dateTime(p.updatedAt)}${p.modelVersion ? ` · model ${p.modelVersion}` : ''}`),
      ...STAGES.map((s) =>
        h('fieldset', {}, h('legend', {}, stageLegend(s)),
          ...FIELDS[s].map((f) => {
            const el = field(f.label, thresholdInput(f.path, thresholdOf(p, s, f.key)));
            el.title = f.description;
            return el;
          }))),
      h('fieldset', {}, h('legend', {}, 'Rules'),
        field('block amounts above', amountInput('rules.blockAmountAbove', p.rules.blockAmountAbove), amountHint()),
        field('escalate amounts above', amountInput('rules.escalateAmountAbove', p.rules.escalateAmountAbove), amountHint()),
        field('blocked countries', listInput('rules.blockedCountries', p.rules.blockedCountries)),
        field('escalated countries', listInput('rules.escalateCountries', p.rules.escalateCountries)),
        field('blocked MCCs', listInput('rules.blockedMccs', p.rules.blockedMccs)),
        field('escalated MCCs', listInput('rules.escalateMccs', p.rules.escalateMccs))),
      h('fieldset', {}, h('legend', {}, 'Lists'),
        field('allowed cards', listInput('lists.allowCards', p.lists.allowCards)),
        field('blocked cards', listInput('lists.blockCards', p.lists.blockCards)),
        field('allowed merchants', listInput('lists.allowMerchants', p.lists.allowMerchants)),
        field('blocked merchants', listInput('lists.blockMerchants', p.lists.blockMerchants))),
      h('fieldset', {}, h('legend', {}, 'Review'),
        field('queue capacity (open cases)', numberInput('review.capacity', p.review.capacity, { min: 0, step: 1 })),
        field('analysts', numberInput('review.analysts', p.review.analysts, { min: 0, step: 1 })),
        field('cases per analyst hour', numberInput('review.casesPerAnalystHour', p.review.casesPerAnalystHour, { min: 0, step: 'any' })),
        field('decide within (minutes)', numberInput('review.slaMinutes', p.review.slaMinutes, { min: 1, step: 'any' }), 'the SLA the Live page measures the oldest open case against')),
      h('fieldset', {}, h('legend', {}, 'Money'),
        field('chargeback fee', amountInput('money.chargebackFeeMinor', p.money.chargebackFeeMinor), 'added to the amount when fraud goes through'),
        field('cost of blocking a legitimate payment', amountInput('money.falseBlockCostMinor', p.money.falseBlockCostMinor), 'lost margin, support contact, a customer who leaves')),
      h('div', { class: 'actions' }, previewBtn, applyBtn),
    );
  };

  const showError = (err: unknown) => {
    status.textContent = err instanceof Error ? err.message : String(err);
    status.className = 'error';
  };

  let previewing = false;
  const preview = async () => {
    if (previewing) return;
    previewing = true;
    const btn = form.querySelector<HTMLButtonElement>('#preview-btn');
    try {
      const body = { policy: read(), ...source.request() };
      if (btn) btn.disabled = true;
      previewOut.setAttribute('aria-busy', 'true');
      previewOut.replaceChildren(h('p', { class: 'muted', id: 'preview-scoring' }, `Scoring ${source.describe()}…`));
      const r = await api<PreviewResult | FilePreviewResult>('POST', '/api/policy/preview', body);
      const file = 'source' in r ? r.source : undefined;
      const currency = file ? file.currency : amounts.currency;
      const rows = (['BLOCK', 'REVIEW', 'ESCALATE', 'ALLOW'] as const).map((a) => {
        const d = r.delta[a];
        return [a, String(r.recorded[a]), String(r.current[a]), String(r.proposed[a]), h('strong', { class: d > 0 ? 'hot-text' : d < 0 ? 'cool-text' : '' }, d > 0 ? `+${d}` : String(d))];
      });
      previewOut.replaceChildren(
        file ? fileSourceLine(file) : '',
        r.samples === 0
          ? h('p', { class: 'muted' }, file ? 'The file holds no transactions.' : 'No scored transactions recorded yet: start the detect stage or a replay.')
          : h('p', {}, `${r.samples} transactions; ${r.changed} would be decided differently.`),
        table(['outcome', file ? 'first line, current' : 'when scored', 'current policy', 'proposed', 'change'], rows, 'compact preview-table'),
        h('p', { class: 'muted' }, 'ESCALATE = sent to the heavy model (no heavy score recorded); REVIEW = would reach a human.'),
        moneyTable(r.money, currency),
        moneyCurve(r.money, currency),
        r.examples.length
          ? table(['tx', 'card', 'amount', 'from', 'to', 'why'], r.examples.map((e) => [e.txId, e.cardId, amountText(e.amountMinor, null), e.from, e.to, e.reason]), 'compact')
          : '',
      );
      status.textContent = '';
    } catch (err) {
      previewOut.replaceChildren();
      showError(err);
    } finally {
      previewing = false;
      if (btn) btn.disabled = false;
      previewOut.removeAttribute('aria-busy');
    }
  };

  const load = async () => {
    const r = await api<{ current: Policy; history: Policy[]; sampleCount: number; amounts?: Amounts }>('GET', '/api/policy');
    current = r.current;
    amounts = r.amounts ?? { currency: null, seen: [] };
    renderForm(r.current);
    versions.replaceChildren(
      table(
        ['version', 'when', 'by', 'model', ...STAGES.map((s) => `${s} ${FIELDS[s].map((f) => f.short).join(' / ')}`), 'block amounts above', 'lists', ''],
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
          const stageCell = (s: (typeof STAGES)[number]) => FIELDS[s].map((f) => thresholdText(thresholdOf(p, s, f.key))).join(' / ');
          const listCount = Object.values(p.lists).reduce((a, l) => a + l.length, 0);
          return [`v${p.version}`, dateTime(p.updatedAt), p.updatedBy, p.modelVersion ?? '—', ...STAGES.map(stageCell), p.rules.blockAmountAbove === null ? 'off' : amountText(p.rules.blockAmountAbove, amounts.currency), String(listCount), btn];
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
    const baseVersion = current?.version;
    // The server applies the edit only if baseVersion is still current (a promotion or another admin may have saved
    // one since this form loaded); on 409 the form reloads with what is current and says so, rather than undoing it.
    api<{ current: Policy }>('PUT', '/api/policy', { ...input, baseVersion })
      .then((r) => {
        status.textContent = `Applied as version ${r.current.version}. Running stages pick it up without restart.`;
        status.className = 'ok';
        return load();
      })
      .catch(async (err: unknown) => {
        if (!(err instanceof ApiError && err.status === 409)) return showError(err);
        await load().catch(() => undefined);
        status.textContent = `Not applied: ${err.message} The form now shows v${current?.version ?? '?'}; your edit was discarded.`;
        status.className = 'error conflict';
      });
  });
  load().catch(showError);
  source.refresh().catch(showError);
}
