/**
 * `fraudstream score`: backtest a model version on a user's file. Features are computed point in time over the
 * whole file through the memory store (labels known only from their arrival: the transaction's time plus the label
 * delay, or a mapped labeledAt column), the version scores every row, and the policy decides as the stages would
 * (first line, then the heavy model on what it escalates). One CSV row per transaction: txId, one column per model,
 * pFraud (what the policy's money rules act on), action and reason.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PolicySchema, type Label, type Policy, type Transaction } from '../core/contracts.ts';
import { UserInputError } from '../core/errors.ts';
import { LineWriter } from '../core/files.ts';
import { MemoryFeatureStore } from '../detectors/feature-store/memory.ts';
import { LabelArrivals } from '../detectors/pure/arrival.ts';
import { averagePrecision, rocAuc } from '../detectors/pure/metrics.ts';
import { firstLineScores, MODELS } from '../core/model-registry.ts';
import type { ModelBundle } from '../detectors/types.ts';
import type { FeatureSpec } from '../detectors/pure/feature-spec.ts';
import { defaultPolicy } from '../state/policy.ts';
import { bandScore, escalateScore } from './pure/band-score.ts';
import { decideEscalation, decideFirstLine } from './pure/policy.ts';

export interface ScoreOptions {
  model: ModelBundle;
  txs: readonly Transaction[];
  labels: ReadonlyMap<string, Label>;
  out: string;
  spec?: FeatureSpec;
  policy?: Policy;
  /** Rows per step (features, first line, heavy). */
  chunk?: number;
  historyLength?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ScoreSummary {
  rows: number;
  seconds: number;
  rowsPerSec: number;
  actions: Record<string, number>;
  heavyScored: number;
  /** Against the file's labels, when it has them: how pFraud ranks. */
  labelled: number;
  rocAuc: number | null;
  averagePrecision: number | null;
  out: string;
}

const cell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const num = (x: number | undefined) => (x === undefined ? '' : String(Number(x.toPrecision(6))));

export async function scoreFile(o: ScoreOptions): Promise<ScoreSummary> {
  const started = performance.now();
  const store = new MemoryFeatureStore({ spec: o.spec });
  const policy = o.policy ?? defaultPolicy(o.model.thresholds, o.model.version);
  const ids = MODELS.filter((m) => m.stage === 'detect').map((m) => m.id);
  const arrivals = new LabelArrivals();
  const step = o.chunk ?? 2_000;
  const k = o.historyLength ?? 16;
  const w = new LineWriter(o.out);
  await w.write(['txId', ...ids, 'heavy', 'pFraud', 'action', 'reason'].join(','));
  const actions: Record<string, number> = {};
  const pFraud: number[] = [];
  const truth: number[] = [];
  let heavyScored = 0;
  for (let from = 0; from < o.txs.length; from += step) {
    const part = o.txs.slice(from, from + step);
    const vectors = store.replayEvents(part.map((tx) => ({ tx, label: o.labels.get(tx.txId) ?? null })), step, undefined, arrivals);
    const scored = o.model.scoreFirstLine(vectors);
    const first = part.map((tx, i) => {
      const scores = firstLineScores(scored[i] as unknown as Record<string, number>);
      return { scores, routed: decideFirstLine(policy, { scores, amountMinor: tx.amountMinor, country: tx.country, mcc: tx.mcc, cardId: tx.cardId, merchantId: tx.merchantId }) };
    });
    const escalated = first.flatMap((f, i) => (f.routed.action === 'ESCALATE' ? [i] : []));
    const heavy = new Map<number, number>();
    if (o.model.hasHeavy && escalated.length > 0) {
      const histories = await Promise.all(escalated.map((i) => store.history(part[i].cardId, k, part[i].ts)));
      const h = await o.model.scoreHeavy(escalated.map((i, j) => ({ history: histories[j], current: vectors[i] })));
      escalated.forEach((i, j) => heavy.set(i, h[j]));
      heavyScored += escalated.length;
    }
    for (let i = 0; i < part.length; i++) {
      const f = first[i];
      let action: string = f.routed.action;
      let reason = f.routed.reason;
      if (action === 'ESCALATE') {
        const second = decideEscalation(policy, escalateScore(heavy.get(i), f.scores), 0);
        action = second.action;
        reason = `escalated (${reason}); ${second.reason}`;
      }
      const band = bandScore(f.scores);
      const p = band === undefined ? undefined : o.model.probability.fromBandScore(band);
      actions[action] = (actions[action] ?? 0) + 1;
      const label = o.labels.get(part[i].txId);
      if (label && p !== undefined) {
        pFraud.push(p);
        truth.push(label.isFraud ? 1 : 0);
      }
      await w.write([cell(part[i].txId), ...ids.map((id) => num(f.scores[id])), num(heavy.get(i)), num(p), action, cell(reason)].join(','));
    }
    o.onProgress?.(Math.min(o.txs.length, from + step), o.txs.length);
  }
  await w.commit();
  const seconds = (performance.now() - started) / 1000;
  const hasBoth = truth.includes(1) && truth.includes(0);
  return {
    rows: o.txs.length,
    seconds,
    rowsPerSec: seconds > 0 ? o.txs.length / seconds : 0,
    actions,
    heavyScored,
    labelled: truth.length,
    rocAuc: hasBoth ? rocAuc(pFraud, truth) : null,
    averagePrecision: hasBoth ? averagePrecision(pFraud, truth) : null,
    out: path.resolve(o.out),
  };
}

/** `--policy FILE.json`: a policy document as the console exports it. */
export async function readPolicyFile(file: string): Promise<Policy> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UserInputError(`--policy ${file}: cannot read it as JSON (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const parsed = PolicySchema.safeParse(raw);
  if (!parsed.success) throw new UserInputError(`--policy ${file}: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}
