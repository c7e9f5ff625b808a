/**
 * The bench chart as a hand-written SVG (no chart library): burst throughput of ceiling and pipeline, and the
 * latency percentiles of both at each paced rate, side by side; the soak's RSS series when there is one.
 */
import type { SideResult } from './stats.ts';

export interface ChartInput {
  title: string;
  subtitle: string;
  ceiling: SideResult;
  pipeline: SideResult;
  ratio: number | null;
  soak?: { series: Array<{ events: number; rssMb: number }> };
}

const COLORS = { ceiling: '#7f8c9a', pipeline: '#e07b39' } as const;
const W = 1080;
const PANEL_H = 330;
const SOAK_H = 260;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The smallest 1, 2 or 5 times a power of ten at or above v (the axis top). */
export function niceMax(v: number): number {
  if (!Number.isFinite(v) || v <= 0) return 1;
  const pow = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * pow >= v) return m * pow;
  return 10 * pow;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return String(Math.round(v));
  return String(Math.round(v * 10) / 10);
}

interface Bar {
  group: string;
  series: keyof typeof COLORS;
  value: number;
}

/** One bar panel: groups along x, one bar per series in each group, values printed above the bars. */
function barPanel(x: number, y: number, w: number, h: number, title: string, note: string, unit: string, bars: Bar[]): string {
  const top = 48;
  const bottom = 34;
  const left = 66;
  const plotH = h - top - bottom;
  const plotW = w - left - 12;
  const max = niceMax(Math.max(0, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0))));
  const groups = [...new Set(bars.map((b) => b.group))];
  const series = [...new Set(bars.map((b) => b.series))];
  const groupW = plotW / Math.max(1, groups.length);
  const barW = Math.min(56, (groupW * 0.7) / Math.max(1, series.length));
  const out: string[] = [`<g transform="translate(${x},${y})">`];
  out.push(`<text x="${w / 2}" y="18" text-anchor="middle" class="t">${escapeXml(title)}</text>`);
  if (note) out.push(`<text x="${w / 2}" y="34" text-anchor="middle" class="ax">${escapeXml(note)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const gy = top + plotH - (plotH * i) / 4;
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${gy}" y2="${gy}" class="grid"/>`);
    out.push(`<text x="${left - 6}" y="${gy + 4}" text-anchor="end" class="ax">${escapeXml(fmt(v))}</text>`);
  }
  out.push(`<text x="12" y="${top + plotH / 2}" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle" class="ax">${escapeXml(unit)}</text>`);
  groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const b = bars.find((bb) => bb.group === g && bb.series === s);
      if (!b) return;
      const bx = gx + si * barW;
      const ok = Number.isFinite(b.value) && b.value >= 0;
      const bh = ok ? (plotH * b.value) / max : 0;
      const by = top + plotH - bh;
      if (ok) out.push(`<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${bh.toFixed(1)}" fill="${COLORS[s]}"><title>${escapeXml(`${s} ${g}: ${fmt(b.value)} ${unit}`)}</title></rect>`);
      out.push(`<text x="${(bx + (barW - 4) / 2).toFixed(1)}" y="${(by - 4).toFixed(1)}" text-anchor="middle" class="v">${escapeXml(fmt(b.value))}</text>`);
    });
    out.push(`<text x="${left + gi * groupW + groupW / 2}" y="${top + plotH + 18}" text-anchor="middle" class="ax">${escapeXml(g)}</text>`);
  });
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" class="axis"/>`);
  out.push('</g>');
  return out.join('\n');
}

function soakPanel(x: number, y: number, w: number, h: number, series: Array<{ events: number; rssMb: number }>): string {
  const top = 36;
  const bottom = 34;
  const left = 56;
  const plotH = h - top - bottom;
  const plotW = w - left - 48;
  const maxX = niceMax(Math.max(1, ...series.map((s) => s.events)));
  const maxY = niceMax(Math.max(1, ...series.map((s) => s.rssMb)));
  const px = (e: number) => left + (plotW * e) / maxX;
  const py = (m: number) => top + plotH - (plotH * m) / maxY;
  const out: string[] = [`<g transform="translate(${x},${y})">`];
  out.push(`<text x="${w / 2}" y="18" text-anchor="middle" class="t">soak: process RSS (MB) against events through the pipeline</text>`);
  for (let i = 0; i <= 4; i++) {
    const gy = py((maxY * i) / 4);
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${gy}" y2="${gy}" class="grid"/>`);
    out.push(`<text x="${left - 6}" y="${gy + 4}" text-anchor="end" class="ax">${escapeXml(fmt((maxY * i) / 4))}</text>`);
    const gx = px((maxX * i) / 4);
    out.push(`<text x="${gx}" y="${top + plotH + 18}" text-anchor="middle" class="ax">${escapeXml(fmt((maxX * i) / 4))}</text>`);
  }
  if (series.length) {
    const pts = series.map((s) => `${px(s.events).toFixed(1)},${py(s.rssMb).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${COLORS.pipeline}" stroke-width="2"/>`);
  }
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" class="axis"/>`);
  out.push('</g>');
  return out.join('\n');
}

export function renderChart(input: ChartInput): string {
  const soak = input.soak && input.soak.series.length > 0 ? input.soak : undefined;
  const height = 70 + PANEL_H + (soak ? SOAK_H : 0) + 10;
  const panelW = W / 3;
  const latencyBars = (i: number): Bar[] =>
    (['p50', 'p95', 'p99'] as const).flatMap((p) => [
      { group: p, series: 'ceiling' as const, value: input.ceiling.paced[i]?.latencyMs[p] ?? NaN },
      { group: p, series: 'pipeline' as const, value: input.pipeline.paced[i]?.latencyMs[p] ?? NaN },
    ]);
  const pacedTitle = (i: number): [string, string] => {
    const c = input.ceiling.paced[i];
    const p = input.pipeline.paced[i];
    if (!c && !p) return ['latency (not measured)', ''];
    if (c && p && c.targetRate === p.targetRate) return [`latency at ${fmt(c.targetRate)} tx/s (ms)`, 'produce to output'];
    return [`latency at ${c?.label ?? p?.label} (ms)`, `ceiling at ${fmt(c?.targetRate ?? NaN)}/s, pipeline at ${fmt(p?.targetRate ?? NaN)}/s`];
  };
  const ratioText = input.ratio === null ? 'ratio: n/a' : `pipeline / ceiling = ${input.ratio.toFixed(2)}`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="system-ui, sans-serif">`,
    '<style>.t{font-size:14px;font-weight:600}.ax{font-size:11px;fill:#444}.v{font-size:11px;fill:#222}.grid{stroke:#e4e4e4}.axis{stroke:#888}.h{font-size:17px;font-weight:700}.s{font-size:12px;fill:#555}</style>',
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="26" class="h">${escapeXml(input.title)}</text>`,
    `<text x="16" y="46" class="s">${escapeXml(input.subtitle)}</text>`,
    `<g transform="translate(${W - 230},16)"><rect width="12" height="12" fill="${COLORS.ceiling}"/><text x="18" y="11" class="ax">ceiling (kafkajs pass-through)</text>`,
    `<rect y="18" width="12" height="12" fill="${COLORS.pipeline}"/><text x="18" y="29" class="ax">pipeline (detect + escalate)</text></g>`,
    barPanel(0, 60, panelW, PANEL_H, 'burst throughput (events/s)', ratioText, 'events/s', [
      { group: 'burst', series: 'ceiling', value: input.ceiling.burst.eventsPerSec },
      { group: 'burst', series: 'pipeline', value: input.pipeline.burst.eventsPerSec },
    ]),
    barPanel(panelW, 60, panelW, PANEL_H, ...pacedTitle(0), 'ms', latencyBars(0)),
    barPanel(2 * panelW, 60, panelW, PANEL_H, ...pacedTitle(1), 'ms', latencyBars(1)),
  ];
  if (soak) parts.push(soakPanel(0, 60 + PANEL_H, W, SOAK_H, soak.series));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
