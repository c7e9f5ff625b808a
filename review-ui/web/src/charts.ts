import uPlot from 'uplot';
import type { SecondPoint } from './api.ts';
import { alignCurves } from './compare-data.ts';

const COLORS = { ALLOW: '#3fb950', BLOCK: '#f85149', REVIEW: '#d29922', p50: '#58a6ff', p95: '#bc8cff' };

function axes(yLabel: string): uPlot.Axis[] {
  const stroke = '#8b949e';
  const grid = { stroke: '#30363d', width: 1 };
  return [
    { stroke, grid, ticks: grid },
    { stroke, grid, ticks: grid, label: yLabel, size: 50 },
  ];
}

export interface LiveCharts {
  update(series: SecondPoint[]): void;
  destroy(): void;
}

/** Throughput by action and latency percentiles, per second over the last two minutes. */
export function liveCharts(throughputEl: HTMLElement, latencyEl: HTMLElement): LiveCharts {
  const width = () => Math.max(280, (throughputEl.clientWidth || 600) - 8);
  const empty: uPlot.AlignedData = [[], [], [], []];
  const throughput = new uPlot(
    {
      width: width(),
      height: 180,
      title: 'Decisions per second',
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: axes('per s'),
      series: [
        {},
        { label: 'ALLOW', stroke: COLORS.ALLOW, width: 1.5 },
        { label: 'BLOCK', stroke: COLORS.BLOCK, width: 2, fill: 'rgba(248,81,73,0.15)' },
        { label: 'REVIEW', stroke: COLORS.REVIEW, width: 1.5 },
      ],
    },
    empty,
    throughputEl,
  );
  const latency = new uPlot(
    {
      width: width(),
      height: 180,
      title: 'Pipeline latency (sum of stage timings)',
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: axes('ms'),
      series: [
        {},
        { label: 'p50', stroke: COLORS.p50, width: 1.5, spanGaps: true },
        { label: 'p95', stroke: COLORS.p95, width: 1.5, spanGaps: true },
      ],
    },
    [[], [], []],
    latencyEl,
  );
  const onResize = () => {
    throughput.setSize({ width: width(), height: 180 });
    latency.setSize({ width: width(), height: 180 });
  };
  window.addEventListener('resize', onResize);
  return {
    update(series) {
      const t = series.map((p) => p.t);
      throughput.setData([t, series.map((p) => p.ALLOW), series.map((p) => p.BLOCK), series.map((p) => p.REVIEW)]);
      latency.setData([t, series.map((p) => p.p50), series.map((p) => p.p95)]);
    },
    destroy() {
      window.removeEventListener('resize', onResize);
      throughput.destroy();
      latency.destroy();
    },
  };
}

export interface CurveSeries {
  label: string;
  stroke: string;
  dash?: number[];
  points: Array<[number, number]>;
}

/** A PR or ROC chart: x and y both 0..1, one line per curve (curves need not share x values). */
export function curveChart(el: HTMLElement, title: string, xLabel: string, yLabel: string, series: CurveSeries[]): uPlot {
  const stroke = '#8b949e';
  const grid = { stroke: '#30363d', width: 1 };
  return new uPlot(
    {
      width: Math.max(280, (el.clientWidth || 560) - 8),
      height: 300,
      title,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      axes: [
        { stroke, grid, ticks: grid, label: xLabel },
        { stroke, grid, ticks: grid, label: yLabel, size: 50 },
      ],
      series: [{ label: xLabel }, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, spanGaps: true, points: { show: false }, ...(s.dash ? { dash: s.dash } : {}) }))],
    },
    alignCurves(series.map((s) => s.points)) as uPlot.AlignedData,
    el,
  );
}
