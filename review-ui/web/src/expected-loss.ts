/**
 * Issue 13 in the console: a decision's expected loss as text, the review cutoff on the Live page and the
 * reliability chart of a version's calibration on the Models page. Text and SVG built by node, never markup.
 */
import type { DecisionExpectedLoss } from '../../../core/contracts.ts';
import type { ReviewCutoff } from '../../../state/review-cutoff.ts';
import { amountText } from './format.ts';

/** "p 0.123 (calibrated) · if allowed EUR 12.30 · if blocked EUR 8.77 · at stake EUR 8.77". */
export function lossText(l: DecisionExpectedLoss, currency: string | null): string {
  const m = (x: number) => amountText(x, currency);
  return `p(fraud) ${l.pFraud.toFixed(3)} (${l.calibrated ? 'calibrated' : 'raw score'}) · if allowed ${m(l.ifAllowedMinor)} · if blocked ${m(l.ifBlockedMinor)} · at stake ${m(l.stakeMinor)}`;
}

/** The Live page's counter: what the cutoff is and the review rate it lets through against the staffing. */
export function cutoffText(latest: ReviewCutoff | null, capacityPerHour: number, currency: string | null): string {
  if (!latest) return `no ambiguous case yet · capacity ${capacityPerHour.toFixed(0)}/h`;
  const cut = latest.cutoffMinor === null ? 'no capacity: none queued' : latest.cutoffMinor === 0 ? 'none (all fit)' : `stake ≥ ${amountText(latest.cutoffMinor, currency)}`;
  return `${cut} · ${latest.reviewsPerHour.toFixed(1)} reviews/h of ${latest.ambiguousPerHour.toFixed(1)} ambiguous/h · capacity ${capacityPerHour.toFixed(0)}/h`;
}

interface Bin {
  meanPredicted: number;
  observed: number;
  count: number;
}
export interface CalibrationCard {
  model?: string;
  fittedOn?: string;
  reliability: { raw: { bins: Bin[]; ece?: number }; calibrated: { bins: Bin[]; ece?: number }; on?: string };
}

const isBins = (v: unknown): v is Bin[] =>
  Array.isArray(v) && v.every((b) => typeof b === 'object' && b !== null && ['meanPredicted', 'observed', 'count'].every((k) => typeof (b as Record<string, unknown>)[k] === 'number'));

/** The card's `calibration` when it has the shape the chart needs (older or foreign cards may not). */
export function calibrationOf(card: Record<string, unknown>): CalibrationCard | undefined {
  const c = card.calibration as { reliability?: { raw?: { bins?: unknown }; calibrated?: { bins?: unknown } } } | undefined;
  if (!c || typeof c !== 'object' || !c.reliability || !isBins(c.reliability.raw?.bins) || !isBins(c.reliability.calibrated?.bins)) return undefined;
  return c as CalibrationCard;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Predicted p against the observed fraud rate per bin, raw and calibrated, with the diagonal a perfect model sits on. */
export function reliabilityChart(c: CalibrationCard): SVGElement {
  const W = 360;
  const H = 300;
  const pad = { l: 44, r: 12, t: 14, b: 40 };
  const x = (p: number) => pad.l + p * (W - pad.l - pad.r);
  const y = (p: number) => H - pad.b - p * (H - pad.t - pad.b);
  const grey = '#8b949e';
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', class: 'reliability-chart', 'aria-label': 'reliability: predicted p(fraud) against the observed fraud rate' });
  svg.append(
    s('line', { x1: x(0), y1: y(0), x2: x(1), y2: y(0), stroke: grey }),
    s('line', { x1: x(0), y1: y(0), x2: x(0), y2: y(1), stroke: grey }),
    s('line', { x1: x(0), y1: y(0), x2: x(1), y2: y(1), stroke: grey, 'stroke-dasharray': '4 4', class: 'diagonal' }),
  );
  for (const t of [0, 0.5, 1]) {
    svg.append(s('text', { x: x(t), y: H - pad.b + 14, 'text-anchor': 'middle', fill: grey, 'font-size': 10 }, t.toFixed(1)));
    svg.append(s('text', { x: x(0) - 4, y: y(t) + 3, 'text-anchor': 'end', fill: grey, 'font-size': 10 }, t.toFixed(1)));
  }
  svg.append(s('text', { x: (x(0) + x(1)) / 2, y: H - 6, 'text-anchor': 'middle', fill: grey, 'font-size': 11 }, 'predicted p(fraud), mean per bin'));
  svg.append(s('text', { x: 10, y: (y(0) + y(1)) / 2, 'text-anchor': 'middle', fill: grey, 'font-size': 11, transform: `rotate(-90 10 ${(y(0) + y(1)) / 2})` }, 'observed fraud rate'));
  const series = [
    { key: 'raw' as const, color: '#d29922', label: 'raw XGBoost score' },
    { key: 'calibrated' as const, color: '#3fb950', label: 'calibrated (isotonic)' },
  ];
  series.forEach((ser, i) => {
    const bins = c.reliability[ser.key].bins;
    const g = s('g', { 'data-series': ser.key });
    if (bins.length) g.append(s('polyline', { points: bins.map((b) => `${x(b.meanPredicted).toFixed(1)},${y(b.observed).toFixed(1)}`).join(' '), fill: 'none', stroke: ser.color, 'stroke-width': 2 }));
    for (const b of bins) {
      const dot = s('circle', { cx: x(b.meanPredicted).toFixed(1), cy: y(b.observed).toFixed(1), r: 3, fill: ser.color, class: 'bin' });
      dot.append(s('title', {}, `${ser.label}: predicted ${b.meanPredicted.toFixed(3)}, observed ${b.observed.toFixed(3)} (${b.count} rows)`));
      g.append(dot);
    }
    const ece = c.reliability[ser.key].ece;
    svg.append(g, s('text', { x: pad.l + 6, y: pad.t + 10 + 13 * i, fill: ser.color, 'font-size': 11 }, `${ser.label}${ece === undefined ? '' : ` · ECE ${ece.toFixed(4)}`}`));
  });
  return svg;
}
