/**
 * A labelled replay file as preview samples: the transactions a `generate` run (or an export in its JSONL form)
 * wrote, with the labels file beside it, scored offline by a model version as the stages would score them.
 * Features come from an in-memory card store replayed in time order (point in time, as the trainer does); the
 * heavy model scores the rows the current or the proposed policy would escalate, with the card history it would
 * see then. No Kafka or Redis is touched: a policy can be judged on last month's labelled traffic.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Policy } from '../core/contracts.ts';
import { MemoryFeatureStore } from '../detectors/feature-store/memory.ts';
import { readHistoryFile } from '../detectors/history-file.ts';
import { LabelArrivals } from '../detectors/pure/arrival.ts';
import type { ModelBundle } from '../detectors/types.ts';
import { firstLineScores } from '../core/model-registry.ts';
import { decideFirstLine } from '../router/pure/policy.ts';
import type { ScoredSample } from '../state/types.ts';

/** How a transaction without a label counts: as legitimate (old history: its chargeback window has passed), or unknown (its p(fraud) is the expectation). */
export type UnlabelledAs = 'legit' | 'unknown';

export interface FileSamplesOptions {
  /** The labels file; default: the one beside the transactions file. */
  labelsPath?: string;
  unlabelled: UnlabelledAs;
  /** Card history length the heavy model sees (the escalate stage's default). */
  historyLength?: number;
  /** Rows scored per step (features, first line, heavy). */
  chunk?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface FileSamples {
  samples: ScoredSample[];
  /** Rows whose label came from the labels file (the rest follow `unlabelled`). */
  labelled: number;
  /** Rows the heavy model scored. */
  heavyScored: number;
  /** Rows per currency (amounts are minor units of each row's own currency). */
  currencies: Record<string, number>;
}

/**
 * Scores every row of the file. `policies` are those the preview compares: a row either would escalate gets a
 * heavy score, so both sides are followed to their final action. Without a model (rules-only) rows carry no
 * scores, as rules-only detect decisions do.
 */
export async function samplesFromLabelledFile(
  txPath: string,
  models: ModelBundle | undefined,
  policies: readonly Policy[],
  opts: FileSamplesOptions,
): Promise<FileSamples> {
  const rows = await readHistoryFile(txPath, opts.labelsPath);
  // the version's own spec (its label delay, entities and windows), as the stages serving it compute
  const store = new MemoryFeatureStore({ spec: models?.spec });
  // the file's chargebacks reach the features at their arrival, as the labels stage feeds them online
  const arrivals = new LabelArrivals();
  const k = opts.historyLength ?? 16;
  const step = opts.chunk ?? 2_000;
  const samples: ScoredSample[] = [];
  let labelled = 0;
  let heavyScored = 0;
  const currencies: Record<string, number> = {};
  for (let from = 0; from < rows.length; from += step) {
    const part = rows.slice(from, from + step);
    const vectors = store.replayEvents(part, step, undefined, arrivals);
    const scored = models ? models.scoreFirstLine(vectors) : undefined;
    const chunkSamples = part.map(({ tx, label }, i): ScoredSample => {
      const s = scored?.[i];
      const scores = s ? firstLineScores(s) : {};
      const input = { scores, amountMinor: tx.amountMinor, country: tx.country, mcc: tx.mcc, cardId: tx.cardId, merchantId: tx.merchantId };
      const routed = decideFirstLine(policies[0]!, input);
      if (label) labelled += 1;
      currencies[tx.currency] = (currencies[tx.currency] ?? 0) + 1;
      const isFraud = label ? label.isFraud : opts.unlabelled === 'legit' ? false : undefined;
      return {
        txId: tx.txId,
        cardId: tx.cardId,
        merchantId: tx.merchantId,
        mcc: tx.mcc,
        country: tx.country,
        amountMinor: tx.amountMinor,
        scores,
        rulesFired: routed.rulesFired,
        action: routed.action,
        ts: tx.ts,
        ...(isFraud === undefined ? {} : { isFraud }),
      };
    });
    if (models?.hasHeavy) {
      const escalated = chunkSamples.flatMap((smp, i) => (policies.some((p) => decideFirstLine(p, { ...smp }).action === 'ESCALATE') ? [i] : []));
      if (escalated.length > 0) {
        // Each card's history as it stood before the row: the store keeps the vectors of the rows just applied.
        const histories = await Promise.all(escalated.map((i) => store.history(part[i]!.tx.cardId, k, part[i]!.tx.ts)));
        const heavy = await models.scoreHeavy(escalated.map((i, j) => ({ history: histories[j]!, current: vectors[i]! })));
        escalated.forEach((i, j) => {
          chunkSamples[i]!.scores = { ...chunkSamples[i]!.scores, heavy: heavy[j]! };
        });
        heavyScored += escalated.length;
      }
    }
    samples.push(...chunkSamples);
    opts.onProgress?.(Math.min(rows.length, from + step), rows.length);
    // A chunk at a time, so a server scoring a file (the Policy page) keeps answering other requests meanwhile.
    await nextTurn();
  }
  return { samples, labelled, heavyScored, currencies };
}
