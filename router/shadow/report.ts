/** The shadow report as the CLI and the console show it: the pure report over a version's stored pairs and labels. */
import type { Redis } from 'ioredis';
import { UserInputError } from '../../core/errors.ts';
import { SHADOW_ACTIONS, ShadowStore, type ShadowRun, type ShadowStats } from '../../state/shadow.ts';
import { DEFAULT_MIN_DELAYS, delaysInDays, shadowReport, type ShadowReport } from '../pure/shadow.ts';

export interface ShadowReportView extends ShadowReport {
  model: string;
  run: ShadowRun;
  /** True while this version is the active challenger. */
  active: boolean;
  stats: ShadowStats;
  labelled: number;
  /** How many label delays the maturity is estimated from (below minDelays maturity is 0). */
  delaysKnown: number;
  minDelays: number;
  matureAt: number;
  generatedAt: number;
}

/**
 * The report for `model` (default: the active challenger, else the latest run; undefined when there is none). Reading it also files the label delays of
 * newly labelled pairs into the delay distribution (state/shadow.ts), so every report learns from the labels so far.
 */
export async function readShadowReport(redis: Redis, prefix: string, model?: string, now = Date.now()): Promise<ShadowReportView | undefined> {
  const store = new ShadowStore(redis, prefix);
  const active = await store.active();
  const name = model ?? active?.model ?? (await store.lastModel());
  if (!name) return undefined;
  const run = active?.model === name ? active : await store.run(name);
  if (!run) return undefined;
  const [{ pairs, delaysMs }, stats] = await Promise.all([store.pairs(name), store.stats(name)]);
  const report = shadowReport(pairs, now, { delaysDays: delaysInDays(delaysMs.map((ms) => ({ ts: 0, labeledAt: ms }))), matureAt: run.matureAt, minDelays: DEFAULT_MIN_DELAYS });
  return {
    model: name,
    run,
    active: active?.model === name,
    stats,
    labelled: pairs.filter((p) => p.isFraud !== undefined).length,
    delaysKnown: delaysMs.length,
    minDelays: DEFAULT_MIN_DELAYS,
    matureAt: run.matureAt,
    generatedAt: now,
    ...report,
  };
}

export function requireReport(r: ShadowReportView | undefined, model?: string): ShadowReportView {
  if (r) return r;
  throw new UserInputError(model ? `no shadow run for model ${model}` : 'no shadow challenger is active (start one with: fraudstream shadow start --model VERSION)');
}

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
const money = (minor: number) => (minor / 100).toFixed(2);

/** The report as a few readable tables. */
export function formatShadowReport(r: ShadowReportView): string {
  const lines: string[] = [];
  const state = r.active ? 'active' : `stopped ${new Date(r.run.stoppedAt ?? 0).toISOString()}`;
  lines.push(`shadow challenger ${r.model} (${state}; started ${new Date(r.run.startedAt).toISOString()} by ${r.run.by}; thresholds: ${r.run.thresholds})`);
  lines.push(`transactions ${r.transactions} · agreement ${pct(r.agreementRate)} · labelled ${r.labelled} · skipped ${r.stats.skippedTransactions} tx in ${r.stats.skippedBatches} batches · failed batches ${r.stats.failedBatches}`);
  const mature = r.immature ? `IMMATURE (below ${pct(r.matureAt)}; precision and recall will still move)` : 'mature';
  lines.push(`label maturity ${pct(r.maturity)}: ${mature}; from ${r.delaysKnown} observed label delays${r.delaysKnown < r.minDelays ? ` (fewer than ${r.minDelays}: unknown, counted as 0)` : ''}`);
  lines.push('');
  lines.push('agreement (rows: champion, columns: challenger)');
  const w = 10;
  lines.push(['', ...SHADOW_ACTIONS].map((s) => s.padStart(w)).join(''));
  for (const a of SHADOW_ACTIONS) lines.push([a, ...SHADOW_ACTIONS.map((b) => String(r.agreement[a][b]))].map((s) => s.padStart(w)).join(''));
  lines.push('');
  const tag = r.immature ? ' (immature)' : '';
  lines.push(['', 'block', 'review', 'escalate', 'money blocked', `precision${tag}`, `recall${tag}`].map((s, i) => (i === 0 ? s.padEnd(12) : s.padStart(i >= 5 ? 22 : 14))).join(''));
  for (const [name, s] of [['champion', r.champion], ['challenger', r.challenger]] as const) {
    lines.push([name, pct(s.blockRate), pct(s.reviewRate), pct(s.escalationRate), money(s.moneyBlocked), pct(s.precision), pct(s.recall)].map((v, i) => (i === 0 ? v.padEnd(12) : v.padStart(i >= 5 ? 22 : 14))).join(''));
  }
  if (r.cohorts.length > 0) {
    lines.push('');
    lines.push('cohort (UTC day)   transactions   labelled   maturity');
    for (const c of r.cohorts) lines.push(`${new Date(c.day).toISOString().slice(0, 10).padEnd(19)}${String(c.transactions).padStart(12)}${String(c.labelled).padStart(11)}${pct(c.maturity).padStart(11)}`);
  }
  return lines.join('\n');
}
