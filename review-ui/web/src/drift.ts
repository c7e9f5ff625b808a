/**
 * Drift panel on the Models page: PSI per feature and model score for the version the policy serves (live
 * traffic as the detect stage counted it against that version's training reference), as text-labelled bars.
 */
import { api, ApiError } from './api.ts';
import type { DriftResponse } from '../../server/drift.ts';
import type { DriftRow } from '../../../detectors/pure/drift.ts';
import { h, num, table } from './dom.ts';

/** Bars are drawn on 0..SCALE; a PSI above it fills the bar (its number is still shown). */
const SCALE = 0.5;
const REFRESH_MS = 10_000;
const TOP_DETAIL = 3;

function mark(at: number, label: string): HTMLElement {
  const m = h('span', { class: 'drift-mark', title: label });
  m.style.left = `${(at / SCALE) * 100}%`;
  return m;
}

function psiBar(r: DriftRow, thresholds: DriftResponse['thresholds']): HTMLElement {
  const fill = h('span', { class: `drift-fill ${r.note ? 'expected' : r.status.replace(' ', '-')}` });
  fill.style.width = `${Math.min(1, Math.max(0, (r.psi ?? 0) / SCALE)) * 100}%`;
  return h(
    'div',
    { class: `drift-row ${r.status.replace(' ', '-')}`, 'data-name': r.name },
    h('span', { class: 'drift-name' }, r.name, r.kind === 'score' ? h('span', { class: 'muted' }, ' (score)') : ''),
    h('span', { class: 'drift-track' }, fill, mark(thresholds.moderate, `moderate ≥ ${thresholds.moderate}`), mark(thresholds.shifted, `shifted > ${thresholds.shifted}`)),
    h('span', { class: 'drift-psi' }, r.psi === null ? '—' : num(r.psi, 3)),
    h('span', { class: `drift-status ${r.note ? 'expected' : r.status.replace(' ', '-')}` }, r.note ? `${r.status} (expected: ${r.note})` : r.status === 'stable' ? '' : r.status),
  );
}

const range = (edges: number[], i: number): string => {
  const f = (x: number) => (Number.isInteger(x) ? String(x) : num(x, 3));
  if (edges.length === 0) return 'all';
  if (i === 0) return `≤ ${f(edges[0] as number)}`;
  if (i === edges.length) return `> ${f(edges[i - 1] as number)}`;
  return `${f(edges[i - 1] as number)} – ${f(edges[i] as number)}`;
};

function shareBar(share: number, cls: string): HTMLElement {
  const fill = h('span', { class: `bar-fill ${cls}` });
  fill.style.width = `${Math.round(Math.min(1, share) * 100)}%`;
  return h('span', { class: 'bar' }, fill);
}

/** Reference vs live share per bin for one entry. */
function binsTable(r: DriftRow): HTMLElement {
  return h(
    'div',
    { class: 'drift-detail', 'data-name': r.name },
    h('h3', {}, `${r.name}: PSI ${r.psi === null ? '—' : num(r.psi, 3)}`),
    table(
      ['bin', 'training', '', 'live', ''],
      r.referenceShares.map((ref, i) => {
        const live = r.liveShares[i] ?? 0;
        return [range(r.edges, i), `${(ref * 100).toFixed(1)}%`, shareBar(ref, 'cool'), `${(live * 100).toFixed(1)}%`, shareBar(live, live > ref * 1.5 + 0.01 ? 'hot' : '')];
      }),
      'compact drift-bins',
    ),
  );
}

export function renderDrift(d: DriftResponse): HTMLElement[] {
  const out: HTMLElement[] = [];
  const who = d.version === null ? '(none)' : `${d.version}${d.served ? ` (served by policy v${d.policyVersion})` : ''}`;
  if (d.message || !d.rows) {
    out.push(h('p', { class: 'muted', id: 'drift-summary' }, `${who}: ${d.message ?? 'no drift data'}`));
    return out;
  }
  const c = d.counts ?? { shifted: 0, moderate: 0, expected: 0 };
  out.push(
    h(
      'p',
      { id: 'drift-summary', class: c.shifted ? 'warn-text' : '' },
      `${who}: `,
      h('strong', { id: 'drift-rows' }, String(d.liveRows ?? 0)),
      ' live rows counted by detect; ',
      `${c.shifted} shifted (PSI > ${d.thresholds.shifted}), ${c.moderate} moderate (${d.thresholds.moderate} to ${d.thresholds.shifted})`,
      c.expected ? `; ${c.expected} expected to move with time, not counted` : '',
      '.',
    ),
  );
  if (!d.liveRows) {
    out.push(h('p', { class: 'muted' }, 'No live rows yet: the detect stage adds its counts after each batch it scores with this version.'));
    return out;
  }
  out.push(
    h(
      'div',
      { class: 'drift-chart', id: 'drift-chart' },
      h('div', { class: 'drift-row drift-axis' }, h('span', { class: 'drift-name muted' }, 'PSI'), h('span', { class: 'drift-track-axis muted' }, `0 … ${SCALE}+ (marks at ${d.thresholds.moderate} and ${d.thresholds.shifted})`), h('span', {}), h('span', {})),
      ...d.rows.map((r) => psiBar(r, d.thresholds)),
    ),
  );
  const counted = d.rows.filter((r) => !r.note && r.psi !== null);
  const top = counted.filter((r) => r.status === 'shifted' || r.status === 'moderate').slice(0, TOP_DETAIL);
  const detail = top.length ? top : counted.slice(0, 1);
  out.push(
    h('h3', {}, top.length ? 'Most shifted: training vs live share per bin' : 'Largest PSI: training vs live share per bin'),
    h('div', { class: 'grid', id: 'drift-details' }, ...detail.map(binsTable)),
  );
  return out;
}

/** The panel, refreshed every 10 s while the page is open; returns the element and a stop function. */
export function driftPanel(): { el: HTMLElement; stop: () => void; reload: () => void } {
  const body = h('div', { id: 'drift' }, h('p', { class: 'muted' }, 'loading…'));
  const load = () => {
    api<DriftResponse>('GET', '/api/drift')
      .then((d) => body.replaceChildren(...renderDrift(d)))
      .catch((err: unknown) => body.replaceChildren(h('p', { class: 'error', id: 'drift-summary' }, err instanceof ApiError ? err.message : String(err))));
  };
  load();
  const timer = window.setInterval(load, REFRESH_MS);
  return { el: body, stop: () => window.clearInterval(timer), reload: load };
}
