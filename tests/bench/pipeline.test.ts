import { describe, expect, it } from 'vitest';
import { crowdedBrokerWarning, isGeneratedWorld, renderTables, type BenchResult } from '../../bench/pipeline.ts';
import { escapeXml, niceMax, renderChart } from '../../bench/pipeline/chart.ts';
import { passOn } from '../../bench/pipeline/ceiling.ts';
import { flatObjectField, stringField } from '../../bench/pipeline/harness.ts';
import { DecisionSchema, type Decision } from '../../core/contracts.ts';
import { testTransactions } from '../helpers/transactions.ts';
import {
  cpuMicrosPerEvent,
  eventsPerSecond,
  growthAfterWarmup,
  percentile,
  ratio,
  shareOfBurst,
  summarize,
  summary,
  dueBy,
  medianBurst,
  medianRun,
  repeated,
  spread,
  type PacedResult,
  type SideResult,
} from '../../bench/pipeline/stats.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

function paced(label: string, rate: number, p50: number, p95: number, p99: number): PacedResult {
  const l = { count: 100, p50, p95, p99, max: p99 + 10, mean: p50 };
  return { label, targetRate: rate, sentRate: rate, events: rate * 10, latencyMs: l, visibleLatencyMs: { ...l, p99: p99 + 5 } };
}

function side(eventsPerSec: number, rssMbMax: number, lat: [number, number, number], halfRate: number): SideResult {
  return {
    burst: { events: 20_000, produceSeconds: 1, seconds: 20_000 / eventsPerSec, eventsPerSec, cpuMicrosPerEvent: 100, cpuCores: 0.9, loadAvg1m: 1.5, eventLoopUtilization: 0.8, gcMicrosPerEvent: 10 },
    paced: [paced('500/s', 500, ...lat), paced('50% of burst', halfRate, lat[0] * 2, lat[1] * 2, lat[2] * 2)],
    rssMbMax,
  };
}

describe('bench arithmetic', () => {
  it('percentile is nearest-rank: the smallest value with p% of the values at or below it', () => {
    const v = range(100);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 95)).toBe(95);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 100)).toBe(100);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarize sorts numerically, not as strings', () => {
    const s = summarize([100, 9, 20, 3, 1000]);
    expect(s).toEqual({ count: 5, p50: 20, p95: 1000, p99: 1000, max: 1000, mean: 226.4 });
    expect(summarize([]).p99).toBeNaN();
  });

  it('ratio refuses a missing or non-positive denominator', () => {
    expect(ratio(2_500, 10_000)).toBe(0.25);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(NaN, 2)).toBeNull();
    expect(ratio(undefined, 2)).toBeNull();
  });

  it('rates and per-event costs', () => {
    expect(eventsPerSecond(20_000, 1_000, 3_000)).toBe(10_000);
    expect(eventsPerSecond(20_000, 1_000, 1_000)).toBeNaN();
    expect(cpuMicrosPerEvent({ user: 1_000, system: 500 }, { user: 2_000_000, system: 500_500 }, 10_000)).toBeCloseTo(249.9);
    expect(shareOfBurst(2_466, 0.5)).toBe(1_233);
    expect(shareOfBurst(NaN, 0.5)).toBe(1);
    expect(shareOfBurst(1, 0.1)).toBe(1);
  });

  it('memory growth compares the late samples with the early ones after the warm-up', () => {
    // Warm-up climb to 400, then flat with a GC sawtooth: no growth.
    const flat = [200, 300, 400, 420, 400, 420, 400, 420, 400, 420, 400].map((rssMb, i) => ({ events: i * 50_000, rssMb }));
    expect(Math.abs(growthAfterWarmup(flat)!)).toBeLessThanOrEqual(20);
    // A leak: 10 MB per sample after the warm-up; thirds of 3 samples each, 6 samples apart.
    const leak = Array.from({ length: 11 }, (_, i) => ({ events: i * 50_000, rssMb: 300 + 10 * i }));
    expect(growthAfterWarmup(leak)).toBeCloseTo(60);
    expect(growthAfterWarmup([{ events: 0, rssMb: 100 }, { events: 50_000, rssMb: 130 }])).toBeNull();
    expect(growthAfterWarmup([])).toBeNull();
  });

  it('paces evenly: each message falls due at its own moment, not in ticks; a late wake-up sends what fell due', () => {
    // 500/s: one every 2 ms.
    expect(dueBy(0, 500, 0, 20_000)).toBe(1);
    expect(dueBy(1.9, 500, 1, 20_000)).toBe(2);
    expect(dueBy(2, 500, 1, 20_000)).toBe(2);
    expect(dueBy(4, 500, 2, 20_000)).toBe(3);
    // Woken 10 ms late (a send took long): the five that fell due go together.
    expect(dueBy(14, 500, 3, 20_000)).toBe(8);
    // Never beyond the run, never nothing.
    expect(dueBy(1e9, 500, 10, 100)).toBe(100);
    expect(dueBy(0, 500, 7, 100)).toBe(8);
  });

  it('spread is the median and range of one value over the repeats', () => {
    expect(spread([30, 10, 20])).toEqual({ median: 20, min: 10, max: 30, runs: [30, 10, 20] });
    expect(spread([10, 40]).median).toBe(25);
    expect(spread([]).median).toBeNaN();
  });

  it('repeats: each percentile is the median of the runs, the range kept, the run standing for them says so', () => {
    const runs = [paced('500/s', 500, 10, 20, 90), paced('500/s', 500, 12, 25, 30), paced('500/s', 500, 11, 22, 40)];
    const r = repeated(runs);
    expect(r.repeats).toBe(3);
    expect(r.visibleMs.p99).toEqual({ median: 45, min: 35, max: 95, runs: [95, 35, 45] });
    expect(r.createTimeMs.p50.median).toBe(11);
    const m = medianRun(runs);
    expect(m.label).toBe('500/s (median of 3)');
    expect([m.latencyMs.p99, m.visibleLatencyMs.p99, m.latencyMs.count, m.events]).toEqual([40, 45, 300, 15_000]);
    expect(() => repeated([])).toThrow(/no runs/);
    // The ceilings have no deciding stage.
    expect(m.visibleByStageMs).toBeUndefined();
  });

  it('repeated bursts: the median run whole, the rate of every run kept in order', () => {
    const b = (eventsPerSec: number, cpu: number) => ({ events: 20_000, produceSeconds: 1, seconds: 20_000 / eventsPerSec, eventsPerSec, cpuMicrosPerEvent: cpu, cpuCores: 1, loadAvg1m: 2, eventLoopUtilization: 0.9, gcMicrosPerEvent: 10 });
    const m = medianBurst([b(27_000, 50), b(14_000, 70), b(18_000, 60)]);
    expect([m.eventsPerSec, m.cpuMicrosPerEvent]).toEqual([18_000, 60]);
    expect(m.eventsPerSecRuns).toEqual([27_000, 14_000, 18_000]);
    expect(medianBurst([b(10, 1), b(20, 2)]).eventsPerSec).toBe(10);
    expect(() => medianBurst([])).toThrow(/no runs/);
  });

  it('repeats keep the per-stage split: each percentile of a stage the median of the runs, counts summed', () => {
    const at = (p99: number) => ({ count: 10, p50: p99 / 2, p95: p99 - 5, p99, max: p99 + 1, mean: p99 / 2 });
    const runs = [60, 80, 200].map((e, i) => ({ ...paced('500/s', 500, 10, 20, 30), visibleByStageMs: { detect: at(40 + i), escalate: at(e) } }));
    const m = medianRun(runs);
    expect(m.visibleByStageMs?.escalate).toMatchObject({ count: 30, p99: 80, max: 81 });
    expect(m.visibleByStageMs?.detect.p99).toBe(41);
  });

  it('summary takes throughput from the bursts and latency from the fixed-rate phase', () => {
    const s = summary(side(10_000, 250, [20, 40, 60], 5_000), side(2_500, 420.4, [50, 90, 150], 1_250));
    expect(s.ceilingEventsPerSec).toBe(10_000);
    expect(s.pipelineEventsPerSec).toBe(2_500);
    expect(s.ratio).toBe(0.25);
    expect([s.p50Ms, s.p95Ms, s.p99Ms]).toEqual([50, 90, 150]);
    expect(s.ceilingP99Ms).toBe(60);
    expect(s.p99Ratio).toBe(2.5);
    expect(s.rssMbMax).toBe(420);
  });
});

describe('bench reader: fields found without a full parse', () => {
  const tx = testTransactions(1)[0]!;
  const decision: Decision = {
    decisionId: `${tx.txId}:escalate`,
    txId: tx.txId,
    cardId: tx.cardId,
    action: 'REVIEW',
    stage: 'escalate',
    final: false,
    reason: 'heavy score between thresholds',
    scores: { isolationForest: 0.4, xgboost: 0.5, heavy: 0.6 },
    rulesFired: [{ id: 'amount', description: 'stage "detect" said: action "ALLOW"', effect: 'info', value: 5, threshold: 3 }],
    topFeatures: [{ name: 'amount_z', value: 3, contribution: 0.2 }],
    versions: { model: 'v1', policy: 2 },
    timings: { detect: 0.071, escalate: 1.25 },
    decidedAt: 1,
    tx,
  };

  it('reads the top-level txId, stage, action and timings of a decision as JSON.parse would', () => {
    const text = JSON.stringify(DecisionSchema.parse(decision));
    const parsed = JSON.parse(text) as Decision;
    expect(stringField(text, 'txId')).toBe(parsed.txId);
    expect(stringField(text, 'stage')).toBe('escalate');
    expect(stringField(text, 'action')).toBe('REVIEW');
    expect(flatObjectField(text, 'timings')).toEqual({ detect: 0.071, escalate: 1.25 });
  });

  it('reads the pass-through output and says undefined for what is not there', () => {
    const text = JSON.stringify({ ...tx, passedAt: 5 });
    expect(stringField(text, 'txId')).toBe(tx.txId);
    expect(stringField(text, 'stage')).toBeUndefined();
    expect(flatObjectField(text, 'timings')).toBeUndefined();
    expect(flatObjectField('{"timings":{"detect":', 'timings')).toBeUndefined();
  });
});

describe('bench ceiling: outputs of a decision\'s size', () => {
  it('pads to the size asked, keeps the fields, and a second hop keeps the size', () => {
    const tx = testTransactions(1)[0]!;
    const once = passOn(JSON.stringify(tx), 1_500);
    expect(once.length).toBe(1_500);
    const parsed = JSON.parse(once) as Record<string, unknown>;
    expect(parsed.txId).toBe(tx.txId);
    expect(typeof parsed.passedAt).toBe('number');
    expect(passOn(once, 1_500).length).toBe(1_500);
    // Not padded: the input plus a timestamp, never cut.
    expect(JSON.parse(passOn(JSON.stringify(tx))).txId).toBe(tx.txId);
    expect(passOn(JSON.stringify(tx), 10).length).toBe(JSON.stringify({ ...tx, passedAt: 0 }).length - 1 + String(Date.now()).length);
  });
});

describe('bench chart', () => {
  const input = {
    title: 'pipeline <vs> ceiling & co',
    subtitle: 'test',
    ceiling: side(10_000, 250, [20, 40, 60], 5_000),
    pipeline: side(2_500, 420, [50, 90, 150], 1_250),
    ratio: 0.25,
  };

  it('niceMax rounds up to 1, 2 or 5 times a power of ten', () => {
    expect(niceMax(10_965)).toBe(20_000);
    expect(niceMax(4_840)).toBe(5_000);
    expect(niceMax(150)).toBe(200);
    expect(niceMax(0)).toBe(1);
  });

  it('draws bars in proportion to the values and escapes text', () => {
    const svg = renderChart(input);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain(escapeXml('pipeline <vs> ceiling & co'));
    expect(svg).not.toContain('<vs>');
    const height = (title: string) => {
      const m = new RegExp(`height="([\\d.]+)"[^>]*><title>${title}`).exec(svg);
      expect(m, title).not.toBeNull();
      return Number(m![1]);
    };
    const c = height('ceiling burst');
    const p = height('pipeline burst');
    expect(p / c).toBeCloseTo(0.25, 2);
    expect(height('pipeline p99') / height('ceiling p99')).toBeCloseTo(150 / 60, 2);
    expect(svg).toContain('pipeline / ceiling = 0.25');
    expect(svg).toContain('ceiling at 5,000/s, pipeline at 1,250/s');
    expect(svg).not.toContain('<polyline');
  });

  it('a value that was not measured is labelled n/a and gets no bar; a soak adds its RSS line', () => {
    const broken = { ...input, pipeline: { ...input.pipeline, burst: { ...input.pipeline.burst, eventsPerSec: NaN } }, ratio: null };
    const svg = renderChart({ ...broken, soak: { series: [{ events: 0, rssMb: 300 }, { events: 50_000, rssMb: 310 }] } });
    expect(svg).not.toMatch(/<title>pipeline burst/);
    expect(svg).toContain('>n/a<');
    expect(svg).toContain('ratio: n/a');
    expect(svg).toMatch(/<polyline points="[\d., ]+"/);
  });
});

describe('bench table', () => {
  /** A side whose fixed rate ran three times: visible p99s of lat[2] - 10 + 5, lat[2] + 5 and lat[2] + 30 + 5. */
  const repeatedSide = (eventsPerSec: number, rss: number, lat: [number, number, number], halfRate: number): SideResult => {
    const s = side(eventsPerSec, rss, lat, halfRate);
    const runs = [-10, 0, 30].map((d) => paced('500/s', 500, lat[0], lat[1], lat[2] + d));
    return { ...s, paced: [medianRun(runs), s.paced[1]!], fixedRate: repeated(runs) };
  };

  it('leads with visible latency against both ceilings, median and spread of the repeats, and prints the step costs', () => {
    const ceiling = repeatedSide(10_000, 250, [20, 40, 60], 5_000);
    const twoHop = { ...repeatedSide(5_000, 300, [30, 60, 100], 2_500), outputBytes: 1_500 };
    const pipeline = repeatedSide(2_500, 420, [50, 90, 150], 1_250);
    const steps = {
      method: 'm',
      escalatedShare: 0.03,
      detect: { events: 20_000, logicMicrosPerEvent: 80, logicP50Micros: 75, logicP99Micros: 120, batchMicrosPerEvent: 350, runnerMicrosPerEvent: 270 },
      escalate: { events: 600, logicMicrosPerEvent: 1_400, logicP50Micros: 1_100, logicP99Micros: 4_000, batchMicrosPerEvent: null, runnerMicrosPerEvent: null },
      processCpuMicrosPerEvent: 300,
      phaseMicrosPerEvent: { 'detect.claim': 12.5 },
      bytesPerDecision: 1_432,
    };
    const r: BenchResult = {
      ...summary(ceiling, pipeline, twoHop),
      at: 'now',
      machine: { cpus: 2, loadAvgStart: '1.00', brokerTopicsAtStart: 1234 },
      method: { partitions: 6 },
      ceiling,
      twoHopCeiling: twoHop,
      pipeline: { ...pipeline, model: 'v1', burstDecisions: {}, steps },
    };
    expect([r.visibleP99Ms, r.visibleP99SpreadMs, r.twoHopCeilingVisibleP99Ms, r.ceilingVisibleP99Ms]).toEqual([155, { min: 145, max: 185 }, 105, 65]);
    expect(r.visibleP99RatioTwoHop).toBeCloseTo(155 / 105, 2);
    expect([r.twoHopCeilingEventsPerSec, r.ratioTwoHop]).toEqual([5_000, 0.5]);
    const text = renderTables(r);
    // The headline table comes first: pipeline, two-hop, one-hop, with median (min-max) of the three runs.
    expect(text.split('\n')[0]).toMatch(/^what a decisions consumer sees: produce -> visible to a read_committed reader at 500\/s, median of 3 runs of 5,000 events/);
    expect(text).toMatch(/visible p99 ms\s+155 \(145-185\)\s+105 \(95-135\)\s+65 \(55-95\)\s+1\.48/);
    expect(text).toMatch(/CreateTime p99 ms \(secondary: before the commit\)\s+150 \(140-180\)/);
    expect(text.indexOf('visible p99 ms')).toBeLessThan(text.indexOf('CreateTime p99 ms'));
    expect(text).toMatch(/burst events\/s \(end to end\)\s+10,000\s+5,000\s+2,500\s+0\.25/);
    expect(text).toMatch(/500\/s \(median of 3\): CreateTime latency p99 ms\s+60\s+100\s+150\s+2\.50/);
    expect(text).toMatch(/CPU cores the process got \(load avg\)\s+0\.90 \(1\.5\)/);
    expect(text).toMatch(/escalate: runner, per escalated\s+n\/a/);
    expect(text).toMatch(/runner phase detect\.claim \(wall, per event of its stage\)\s+12\.5/);
    expect(text).toContain('1,432 bytes per decision');
    expect(text).toContain('2 cores, load 1.00 at start, 1,234 topics on the broker at start;');
    expect(crowdedBrokerWarning(231)).toMatch(/^warning: the broker holds 231 topics .* npm run -s kafka:stop -- --wipe && npm run -s kafka:local$/);
    expect(text).toContain("headline at 500/s: visible p99 155 ms (runs 145-185), 1.48x the two-hop ceiling's 105 ms (one-hop 65 ms)");
    expect(text).not.toContain('shadow challenger');

    // The shadow cost: detect with and without a challenger, and the change (issue 13).
    const detectSide = (logic: number, batch: number, cpu: number, eps: number) => ({ detectLogicMicrosPerEvent: logic, detectBatchMicrosPerEvent: batch, processCpuMicrosPerEvent: cpu, eventsPerSec: eps });
    const shadow = { method: 'm', challenger: 'v1', events: 10_000, without: detectSide(120, 400, 900, 2_000), with: detectSide(125.5, 430, 1_300, 1_800), workerMicrosPerEvent: 310.2, shadowedEvents: 10_000, skippedEvents: 0 };
    const withShadow = renderTables({ ...r, pipeline: { ...r.pipeline, shadow } });
    expect(withShadow).toContain('detect with a shadow challenger (v1), bursts of 10,000 events (without = mean of the bursts before and after)');
    expect(withShadow).toMatch(/detect: logic µs per event \(decision path\)\s+120\s+125\.5\s+\+5\.5/);
    expect(withShadow).toMatch(/process CPU µs per event\s+900\s+1,300\s+\+400/);
    expect(withShadow).toMatch(/shadow worker wall µs per shadowed event\s+310\.2/);
    expect(renderTables({ ...r, pipeline: { ...r.pipeline, shadow: { skipped: 'rules-only' } } })).toContain('shadow cost: not measured (rules-only)');
  });
});

describe('bench model choice', () => {
  it('serves only a version trained on the generated world (its own stream), never one trained on a user\'s file', () => {
    expect(isGeneratedWorld({ source: { generator: 'producers/world', seed: 7, events: 100_000 } })).toBe(true);
    expect(isGeneratedWorld({ source: { csv: '/tmp/hb/terminals.csv', map: 'txId=TRANSACTION_ID' } })).toBe(false);
    expect(isGeneratedWorld({ source: { kafka: true } })).toBe(false);
    expect(isGeneratedWorld(null)).toBe(false);
  });
});
