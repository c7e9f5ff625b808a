/** Dead letters: what the stages could not process, counted by reason, each payload shown as text only. */
import { api, type DeadLetterSummary, type DeadLetterView } from './api.ts';
import { dateTime, h, kv, section, table } from './dom.ts';

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: Array<SVGElement | string>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** Dead letters per minute over the last hour, one bar per minute (all kinds, or the filtered one). */
function perMinuteChart(perMinute: DeadLetterSummary['perMinute'], kind: string): SVGSVGElement {
  const W = 600;
  const H = 90;
  const values = perMinute.map((m) => (kind ? (m.counts[kind] ?? 0) : Object.values(m.counts).reduce((a, b) => a + b, 0)));
  const max = Math.max(1, ...values);
  const bw = W / Math.max(1, values.length);
  const bars = values.map((v, i) => {
    const bh = (v / max) * (H - 14);
    const minute = perMinute[i]?.minute ?? 0;
    return svg('rect', { x: (i * bw).toFixed(1), y: (H - bh).toFixed(1), width: Math.max(1, bw - 1).toFixed(1), height: bh.toFixed(1), class: 'dlq-bar' }, svg('title', {}, `${dateTime(minute)}: ${v}`));
  });
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'dlq-chart', id: 'dlq-chart', role: 'img', 'aria-label': 'dead letters per minute, last hour' }, svg('text', { x: 2, y: 10, class: 'dlq-axis' }, `max ${max}/min`), svg('text', { x: W - 2, y: 10, class: 'dlq-axis', 'text-anchor': 'end' }, `${values.length} min to now`), ...bars);
}

function letterRow(l: DeadLetterView): HTMLElement[] {
  const preview = h('pre', { class: 'json dlq-preview' }, l.preview, l.previewCut ? '…' : '');
  return [
    h('span', { class: 'dlq-time' }, dateTime(l.failedAt)),
    h('span', {}, h('strong', {}, l.kind), h('br'), h('span', { class: 'muted dlq-reason' }, l.reason)),
    h('span', {}, `${l.sourceTopic} / ${l.partition} / ${l.offset}`, l.key === null ? '' : h('span', { class: 'muted' }, ` key ${l.key}`)),
    h('span', {}, l.stage),
    h('span', {}, l.rawBytes === null ? '—' : `${l.rawBytes} B`, l.truncated ? h('span', { class: 'error' }, ' truncated') : '', l.sha256 ? h('br') : '', l.sha256 ? h('code', { class: 'muted', title: 'sha256 of the original payload' }, l.sha256.slice(0, 16)) : ''),
    // Older servers send no `masked`.
    l.masked ? h('div', {}, preview, h('small', { class: 'muted dlq-masked' }, `${l.masked} card number${l.masked === 1 ? '' : 's'} or security code${l.masked === 1 ? '' : 's'} masked here; the DLQ topic keeps the raw bytes`)) : preview,
  ];
}

export function deadLettersView(root: HTMLElement): () => void {
  const kindSelect = h('select', { id: 'dlq-kind' }, h('option', { value: '' }, 'all reasons'));
  const counts = h('div', { id: 'dlq-counts' });
  const chart = h('div', { id: 'dlq-chart-box' });
  const list = h('div', { id: 'dlq-letters' });
  const load = () => {
    const kind = kindSelect.value;
    void api<DeadLetterSummary>('GET', `/api/dead-letters?limit=200${kind ? `&kind=${encodeURIComponent(kind)}` : ''}`).then((s) => {
      const known = new Set([...kindSelect.options].map((o) => o.value));
      for (const k of s.byKind) if (!known.has(k.kind)) kindSelect.append(h('option', { value: k.kind }, k.kind));
      counts.replaceChildren(
        kv([
          ['total', String(s.total)],
          ['unreadable', String(s.unreadable)],
          ...s.byKind.map((k): [string, string] => [k.kind, String(k.count)]),
        ]),
      );
      chart.replaceChildren(perMinuteChart(s.perMinute, kind));
      list.replaceChildren(
        s.letters.length
          ? table(['failed', 'reason', 'source topic / partition / offset', 'stage', 'size / sha256', 'payload (text)'], s.letters.map(letterRow), 'compact dlq-table')
          : h('p', { class: 'muted' }, 'No dead letters.'),
      );
    });
  };
  kindSelect.addEventListener('change', load);
  root.append(
    section('Dead letters', h('p', { class: 'muted' }, 'Messages a stage could not process, with the reason. Payloads are shown as text, cut to their first characters.'), counts),
    section('Per minute, last hour', chart),
    section('Letters', h('div', { class: 'filters' }, kindSelect), list),
  );
  load();
  const timer = setInterval(load, 5_000);
  return () => clearInterval(timer);
}
