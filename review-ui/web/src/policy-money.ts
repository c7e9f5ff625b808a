/** The Policy page's preview in money: a table of figures and an SVG curve as the block threshold moves. */
import type { PreviewResult } from './api.ts';
import { h } from './dom.ts';
import { amountText } from './format.ts';

type MoneyPreview = PreviewResult['money'];
type Figures = MoneyPreview['current'];

const MONEY_KEYS = ['fraudMoneyCaught', 'fraudMoneyMissed', 'legitMoneyBlocked'] as const;
const LABELS: Record<keyof Figures, string> = {
  fraudMoneyCaught: 'fraud money caught',
  fraudMoneyMissed: 'fraud money let through',
  legitMoneyBlocked: 'legitimate money blocked',
  reviewsPerHour: 'reviews per hour',
  blocked: 'blocked',
  reviewed: 'reviewed',
  transactions: 'transactions',
  labelled: 'with a label',
};

const signed = (text: string, d: number) => (d > 0 ? `+${text}` : text);

export function moneyTable(m: MoneyPreview, currency: string | null): HTMLElement {
  const show = (k: keyof Figures, v: number) => (MONEY_KEYS.includes(k as (typeof MONEY_KEYS)[number]) ? amountText(Math.round(v), currency) : k === 'reviewsPerHour' ? v.toFixed(1) : String(Math.round(v)));
  const rows = (Object.keys(LABELS) as Array<keyof Figures>).map((k) => {
    const d = m.delta[k];
    return h('tr', {}, h('td', {}, LABELS[k]), h('td', {}, show(k, m.current[k])), h('td', {}, show(k, m.proposed[k])), h('td', { class: d === 0 ? '' : 'delta' }, signed(show(k, d), d)));
  });
  return h(
    'div',
    { class: 'money-preview' },
    h('table', { class: 'compact money-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'in money'), h('th', {}, 'current'), h('th', {}, 'proposed'), h('th', {}, 'change'))), h('tbody', {}, ...rows)),
    h('p', { class: 'muted' }, `p(fraud): ${m.pFraudSource}; labelled transactions count as what they were. ${m.spanHours > 0 ? `Span ${m.spanHours.toFixed(2)} h.` : 'Too few timed samples for a rate: reviews per hour shown as 0.'}`),
  );
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Fraud caught and legitimate money blocked (money, left axis) as detect.blockAbove goes from 0.05 to 1. */
export function moneyCurve(m: MoneyPreview, currency: string | null): Element {
  const W = 560;
  const H = 240;
  const pad = { l: 80, r: 12, t: 16, b: 36 };
  const series = [
    { key: 'fraudMoneyCaught' as const, color: '#3fb950' },
    { key: 'legitMoneyBlocked' as const, color: '#f85149' },
    { key: 'fraudMoneyMissed' as const, color: '#d29922' },
  ];
  const max = Math.max(1, ...m.curve.flatMap((c) => series.map((x) => c.figures[x.key])));
  const x = (t: number) => pad.l + t * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', class: 'money-curve', 'aria-label': 'money as the block threshold moves' });
  svg.append(s('line', { x1: x(0), y1: y(0), x2: x(1), y2: y(0), stroke: '#8b949e' }), s('line', { x1: x(0), y1: y(0), x2: x(0), y2: y(max), stroke: '#8b949e' }));
  svg.append(s('text', { x: x(0) - 4, y: y(max) + 4, 'text-anchor': 'end', fill: '#8b949e', 'font-size': 10 }, amountText(Math.round(max), currency)));
  svg.append(s('text', { x: x(0) - 4, y: y(0), 'text-anchor': 'end', fill: '#8b949e', 'font-size': 10 }, '0'));
  for (const t of [0, 0.25, 0.5, 0.75, 1]) svg.append(s('text', { x: x(t), y: H - pad.b + 14, 'text-anchor': 'middle', fill: '#8b949e', 'font-size': 10 }, t.toFixed(2)));
  svg.append(s('text', { x: (x(0) + x(1)) / 2, y: H - 4, 'text-anchor': 'middle', fill: '#8b949e', 'font-size': 11 }, 'detect: block at or above'));
  series.forEach((ser, i) => {
    const pts = m.curve.map((c) => `${x(c.blockAbove).toFixed(1)},${y(c.figures[ser.key]).toFixed(1)}`).join(' ');
    svg.append(s('polyline', { points: pts, fill: 'none', stroke: ser.color, 'stroke-width': 2, 'data-series': ser.key }));
    svg.append(s('text', { x: W - pad.r, y: pad.t + 12 * i, 'text-anchor': 'end', fill: ser.color, 'font-size': 11 }, LABELS[ser.key]));
  });
  return svg;
}
