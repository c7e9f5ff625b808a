import { api, type LiveDecision, type Stats } from './api.ts';
import { on, scenarios } from './bus.ts';
import { liveCharts } from './charts.ts';
import { guardPanel } from './guard.ts';
import { h, section } from './dom.ts';
import { cutoffText } from './expected-loss.ts';
import { STREAM_HEADINGS, decisionRow } from './decision-row.ts';

const MAX_ROWS = 300;
type ActionKey = 'ALLOW' | 'BLOCK' | 'REVIEW';

export function liveView(root: HTMLElement): () => void {
  const counters = {
    total: h('strong', {}, '0'),
    ALLOW: h('strong', {}, '0'),
    BLOCK: h('strong', {}, '0'),
    REVIEW: h('strong', {}, '0'),
    rate: h('strong', {}, '0'),
    open: h('strong', {}, '0'),
    sla: h('strong', { id: 'sla-age' }, '—'),
    cutoff: h('strong', { id: 'review-cutoff-text' }, '—'),
  };
  let lastCurrency: string | null = null;
  const mixBar = h('div', { class: 'mix' });
  const guard = guardPanel();
  const filters = {
    action: h('select', { id: 'filter-action' }, h('option', { value: '' }, 'all actions'), ...['BLOCK', 'REVIEW', 'ALLOW'].map((a) => h('option', { value: a }, a))),
    stage: h('select', { id: 'filter-stage' }, h('option', { value: '' }, 'all stages'), ...['detect', 'escalate', 'review'].map((s) => h('option', { value: s }, s))),
    scenario: h('select', { id: 'filter-scenario' }, h('option', { value: '' }, 'any label'), h('option', { value: '__unlabelled' }, 'not labelled yet')),
    pause: h('input', { type: 'checkbox', id: 'pause' }),
  };
  const knownScenarios = new Set<string>();
  const tbody = h('tbody', { id: 'decisions' });
  const throughputEl = h('div', { class: 'chart' });
  const latencyEl = h('div', { class: 'chart' });
  root.append(
    h(
      'div',
      { class: 'counters' },
      h('div', { class: 'counter' }, 'decisions', counters.total),
      h('div', { class: 'counter block' }, 'blocked', counters.BLOCK),
      h('div', { class: 'counter review' }, 'to review', counters.REVIEW),
      h('div', { class: 'counter allow' }, 'allowed', counters.ALLOW),
      h('div', { class: 'counter' }, 'per second', counters.rate),
      h('div', { class: 'counter' }, 'open cases', counters.open),
      h('div', { class: 'counter', id: 'sla' }, 'oldest case vs SLA', counters.sla),
      h('div', { class: 'counter', id: 'review-cutoff', title: 'ambiguous cases below the cutoff are decided by their cheaper action, not queued' }, 'review cutoff (capacity)', counters.cutoff),
    ),
    guard.el,
    section('Decision mix', mixBar),
    h('div', { class: 'charts' }, throughputEl, latencyEl),
    section(
      'Decision stream',
      h('div', { class: 'filters' }, filters.action, filters.stage, filters.scenario, h('label', {}, filters.pause, ' pause')),
      h('table', { class: 'stream' }, h('thead', {}, h('tr', {}, ...STREAM_HEADINGS.map((x) => h('th', {}, x)))), tbody),
    ),
  );
  const charts = liveCharts(throughputEl, latencyEl);

  const matches = (d: LiveDecision): boolean => {
    if (filters.action.value && d.action !== filters.action.value) return false;
    if (filters.stage.value && d.stage !== filters.stage.value) return false;
    const sc = filters.scenario.value;
    if (sc === '__unlabelled') return !scenarios.has(d.txId);
    if (sc && scenarios.get(d.txId) !== sc) return false;
    return true;
  };

  const rowsById = new Map<string, { tr: HTMLTableRowElement; d: LiveDecision; labelCell: HTMLElement }>();
  const addRow = (d: LiveDecision, prepend: boolean) => {
    lastCurrency = d.tx.currency;
    if (d.scenario !== undefined && !scenarios.has(d.txId)) scenarios.set(d.txId, d.scenario ?? 'legitimate');
    const { tr, labelCell } = decisionRow(d, scenarios.get(d.txId) ?? '');
    tr.hidden = !matches(d);
    const old = rowsById.get(d.decisionId);
    if (old) old.tr.remove();
    rowsById.set(d.decisionId, { tr, d, labelCell });
    if (prepend) tbody.prepend(tr);
    else tbody.append(tr);
    while (rowsById.size > MAX_ROWS) {
      const [firstKey, first] = rowsById.entries().next().value as [string, { tr: HTMLTableRowElement }];
      const next = first.tr.nextElementSibling;
      if (next?.classList.contains('why-row')) next.remove();
      first.tr.remove();
      rowsById.delete(firstKey);
    }
  };
  const refilter = () => {
    for (const { tr, d } of rowsById.values()) {
      tr.hidden = !matches(d);
      const next = tr.nextElementSibling;
      if (next?.classList.contains('why-row')) (next as HTMLElement).hidden = tr.hidden;
    }
  };
  for (const f of [filters.action, filters.stage, filters.scenario]) f.addEventListener('change', refilter);

  const addScenario = (s: string) => {
    if (knownScenarios.has(s)) return;
    knownScenarios.add(s);
    filters.scenario.append(h('option', { value: s }, s));
  };

  const renderStats = (s: Stats) => {
    const total = s.counts.ALLOW + s.counts.BLOCK + s.counts.REVIEW;
    counters.total.textContent = String(total);
    for (const a of ['ALLOW', 'BLOCK', 'REVIEW'] as ActionKey[]) counters[a].textContent = String(s.counts[a]);
    const last = s.series.slice(-6, -1);
    const rate = last.length ? last.reduce((acc, p) => acc + p.ALLOW + p.BLOCK + p.REVIEW, 0) / last.length : 0;
    counters.rate.textContent = rate.toFixed(1);
    counters.open.textContent = String(s.openCases);
    if (s.sla) {
      counters.sla.textContent = `${Math.floor(s.sla.ageMinutes)} / ${s.sla.slaMinutes} min`;
      counters.sla.className = s.sla.breached ? 'hot-text' : '';
      counters.sla.title = s.sla.breached ? 'the oldest open case is past the review SLA' : 'within the review SLA';
    }
    if (s.reviewCutoff) counters.cutoff.textContent = cutoffText(s.reviewCutoff.latest, s.reviewCutoff.capacityPerHour, lastCurrency);
    mixBar.replaceChildren(
      ...(['ALLOW', 'REVIEW', 'BLOCK'] as ActionKey[]).map((a) => {
        const seg = h('span', { class: `seg ${a.toLowerCase()}`, title: a }, total ? `${a} ${((100 * s.counts[a]) / total).toFixed(1)}%` : '');
        seg.style.flexGrow = String(s.counts[a]);
        return seg;
      }),
    );
    charts.update(s.series);
    if (s.guard) guard.update(s.guard);
  };

  const incoming: LiveDecision[] = [];
  let frame: number | undefined;
  const flush = () => {
    frame = undefined;
    for (const d of incoming.splice(0)) addRow(d, true);
  };

  const offs = [
    on('decision', (d) => {
      if (filters.pause.checked) return;
      // At thousands of decisions a second, render once per frame and only what can stay on screen.
      incoming.push(d);
      if (incoming.length > MAX_ROWS) incoming.splice(0, incoming.length - MAX_ROWS);
      frame ??= requestAnimationFrame(flush);
    }),
    on('label', (l) => {
      const s = scenarios.get(l.txId);
      if (s) addScenario(s);
      for (const r of rowsById.values()) {
        if (r.d.txId === l.txId) {
          r.labelCell.textContent = s ?? '';
          r.labelCell.classList.toggle('fraud', l.isFraud);
        }
      }
    }),
    on('stats', renderStats),
  ];

  void api<{ decisions: LiveDecision[] }>('GET', '/api/decisions/recent?limit=200').then(({ decisions }) => {
    for (const d of decisions) {
      if (!rowsById.has(d.decisionId)) addRow(d, true);
      if (d.scenario) addScenario(d.scenario);
    }
  });
  void api<Stats>('GET', '/api/stats').then(renderStats);

  return () => {
    for (const off of offs) off();
    if (frame !== undefined) cancelAnimationFrame(frame);
    charts.destroy();
  };
}
