/**
 * A decision as one row of a stream table: the Live page's format, which the Search page uses too. Clicking the row
 * (or Enter) opens the "why" below it. Built only from text nodes (dom.ts).
 */
import type { LiveDecision } from './api.ts';
import { badge, bar, h, kv, money, num, table, time } from './dom.ts';
import { lossText } from './expected-loss.ts';
import { amountText } from './format.ts';
import { scoreColumns } from '../../../core/model-registry.ts';

const SCORE_COLUMNS = scoreColumns();

export const STREAM_HEADINGS = ['time', 'action', 'stage', 'card', 'merchant', 'amount', 'at stake', 'country', ...SCORE_COLUMNS.map((c) => c.heading), 'label', 'reason'];

/** What the features were computed on: whole history, or the partial state left after Redis lost it (issue 18). */
export function historyText(partial: boolean | undefined): string {
  return partial ? 'partial: decided while the feature state was being rebuilt after a loss (run `fraudstream restore features`)' : 'complete';
}

export function why(d: LiveDecision): HTMLElement {
  const scores = Object.entries(d.scores).map(([k, v]) => h('div', { class: 'score' }, h('span', { class: 'label' }, k), bar(v ?? 0, v !== undefined && v >= 0.5 ? 'hot' : ''), h('span', {}, num(v))));
  const maxContribution = Math.max(1e-9, ...d.topFeatures.map((f) => Math.abs(f.contribution)));
  return h(
    'div',
    { class: 'why' },
    h('div', { class: 'why-col' }, h('h3', {}, 'Reason'), h('p', {}, d.reason), h('h3', {}, 'Scores'), ...scores),
    h(
      'div',
      { class: 'why-col' },
      h('h3', {}, 'Rules fired'),
      d.rulesFired.length
        ? h('ul', { class: 'rules' }, ...d.rulesFired.map((r) => h('li', { class: `rule ${r.effect}` }, h('code', {}, r.id), ` ${r.description}`, r.value !== undefined ? ` (${String(r.value)}${r.threshold !== undefined ? ` vs ${String(r.threshold)}` : ''})` : '')))
        : h('p', { class: 'muted' }, 'none'),
      h('h3', {}, 'Top features'),
      d.topFeatures.length
        ? table(
            ['feature', 'value', 'contribution'],
            d.topFeatures.map((f) => [f.name, num(f.value, 2), h('span', { class: 'contrib' }, bar(Math.abs(f.contribution) / maxContribution, f.contribution > 0 ? 'hot' : 'cool'), ` ${f.contribution > 0 ? '+' : ''}${num(f.contribution)}`)]),
            'compact',
          )
        : h('p', { class: 'muted' }, 'not computed for this decision'),
    ),
    h(
      'div',
      { class: 'why-col' },
      h('h3', {}, 'Transaction'),
      kv([
        ['tx', d.txId],
        ['card', d.cardId],
        ['merchant', `${d.tx.merchantName} (${d.tx.merchantId}, MCC ${d.tx.mcc})`],
        ['amount', money(d.tx.amountMinor, d.tx.currency)],
        ['expected loss', h('span', { class: 'expected-loss' }, d.expectedLoss ? lossText(d.expectedLoss, d.tx.currency) : 'not computed (no model version served)')],
        ['where', `${d.tx.country} · ${d.tx.channel}`],
        ['versions', `model ${d.versions.model} · policy v${d.versions.policy}`],
        ['history', h('span', { class: d.partialHistory ? 'partial-history error' : 'partial-history' }, historyText(d.partialHistory))],
        ['timings', Object.entries(d.timings).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(' · ') || '—'],
        ...(d.analyst ? ([['analyst', `${d.analyst}${d.note ? `: ${d.note}` : ''}`]] as Array<[string, string]>) : []),
      ]),
    ),
  );
}

/** The row (data-tx = the tx id, class row + the action) and its label cell, which a later label updates. */
export function decisionRow(d: LiveDecision, label: string, timeText: (ms: number) => string = time): { tr: HTMLTableRowElement; labelCell: HTMLElement } {
  const labelCell = h('td', { class: 'label-cell' }, label);
  const tr = h(
    'tr',
    { class: `row ${d.action.toLowerCase()}`, 'data-tx': d.txId, tabindex: 0 },
    h('td', {}, timeText(d.decidedAt)),
    h('td', {}, badge(d.action)),
    h('td', {}, d.stage),
    h('td', { class: 'mono' }, d.cardId),
    h('td', { class: 'merchant' }, d.tx.merchantName),
    h('td', { class: 'num' }, money(d.tx.amountMinor, d.tx.currency)),
    h('td', { class: 'num stake', title: d.expectedLoss ? lossText(d.expectedLoss, d.tx.currency) : 'no expected loss on this decision' }, d.expectedLoss ? amountText(d.expectedLoss.stakeMinor, d.tx.currency) : '—'),
    h('td', {}, d.tx.country),
    ...SCORE_COLUMNS.map((c) => h('td', { class: 'num' }, num((d.scores as Partial<Record<string, number>>)[c.id], 2))),
    labelCell,
    h('td', { class: 'reason' }, d.partialHistory ? `${d.reason} (partial history)` : d.reason),
  );
  const toggle = () => {
    const next = tr.nextElementSibling;
    if (next?.classList.contains('why-row')) next.remove();
    else tr.after(h('tr', { class: 'why-row' }, h('td', { colspan: STREAM_HEADINGS.length }, why(d))));
  };
  tr.addEventListener('click', toggle);
  tr.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') toggle();
  });
  return { tr, labelCell };
}
