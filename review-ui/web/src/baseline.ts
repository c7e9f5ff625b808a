/**
 * The case page's "against normal" panel (issue 21 item 2): beside the model's top contributions, what this card,
 * its merchant and its device usually do and where the transaction falls. Every string goes in as text (h()).
 */
import type { CaseDetail } from './api.ts';
import { dateTime, h, money, num, section, table } from './dom.ts';

const LEVEL_TEXT = { unusual: 'unusual', notable: 'notable', usual: 'usual' } as const;

/** "Why the model flagged it": the deciding model's top contributions, strongest first. */
export function contributionsPanel(d: CaseDetail): HTMLElement {
  const top = [...d.case.topFeatures].sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
  return section(
    'Why the model flagged it',
    top.length
      ? table(
          ['feature', 'value', 'contribution'],
          top.map((f) => [h('span', { class: 'mono' }, f.name), num(f.value, 3), h('span', { class: f.contribution > 0 ? 'hot-text' : 'cool-text' }, `${f.contribution > 0 ? '+' : ''}${num(f.contribution)}`)]),
          'compact',
        )
      : h('p', { class: 'muted' }, 'The deciding model recorded no contributions.'),
    h('p', { class: 'muted' }, 'Positive pushes towards fraud (occlusion against legitimate traffic’s medians).'),
  );
}

/** "Against normal": findings (unusual first) and the baselines they were read from. */
export function baselinePanel(d: CaseDetail): HTMLElement {
  const b = d.baseline;
  const cur = b.currency;
  const findings = h(
    'ul',
    { id: 'baseline-findings', class: 'findings' },
    ...b.findings.map((f) => h('li', { class: `finding ${f.level}`, 'data-id': f.id, 'data-level': f.level }, h('span', { class: `level ${f.level}` }, LEVEL_TEXT[f.level]), ' ', h('span', { class: 'entity' }, f.entity), ' ', h('span', { class: 'finding-text' }, f.text))),
  );
  const profiles = table(
    ['', 'days before', 'active days', 'transactions', 'mean amount', 'largest', 'distinct', 'fraud labels', 'first seen'],
    b.entities.map((e) => [
      h('span', {}, h('strong', {}, e.entity), ' ', h('span', { class: 'mono' }, e.id)),
      String(e.days),
      String(e.activeDays),
      String(e.count),
      e.meanMinor === null ? '—' : money(Math.round(e.meanMinor), cur),
      e.maxMinor === null ? '—' : money(e.maxMinor, cur),
      e.distinct ? `${e.distinct.n} ${e.distinct.of} (${e.distinct.days} d)` : '—',
      String(e.fraudLabels),
      e.firstSeen === null ? '—' : dateTime(e.firstSeen),
    ]),
    'compact',
  );
  profiles.id = 'baseline-entities';
  const usual = b.usual.merchants.length
    ? h('p', { id: 'baseline-usual' }, 'Usual merchants: ', ...b.usual.merchants.flatMap((m, i) => [i ? ', ' : '', h('span', { class: 'merchant' }, m.merchantName), ` (${m.n})`]), b.usual.hours.length ? ` · hours (UTC): ${b.usual.hours.join(', ')}` : '')
    : null;
  return section(
    'Against normal',
    b.findings.length ? findings : h('p', { class: 'muted' }, 'Nothing to compare: the feature store knows nothing of this card or its merchant.'),
    usual,
    profiles,
    b.notes.length ? h('p', { class: 'muted', id: 'baseline-notes' }, `Not compared: ${b.notes.join('; ')}.`) : null,
    h('p', { class: 'muted' }, `Baselines from the feature store as of ${dateTime(b.asOf)}: whole days before the transaction’s day; fraud labels that have arrived by now; novelty and velocity as detect saw them.`),
  );
}
