/** Reads a transactions file written by `generate` (JSONL) and its labels file, for `train --history`. */
import type { Label, Transaction } from '../core/contracts.ts';
import { UserInputError } from '../core/errors.ts';
import { decodeLabelLine, jsonlDecoder, labelsPathFor } from '../core/codec.ts';
import { exists, readLines, requireFile } from '../core/files.ts';

export async function readHistoryFile(
  txPath: string,
  labelsPath: string | undefined,
  onProgress?: (n: number) => void,
): Promise<Array<{ tx: Transaction; label: Label | null }>> {
  await requireFile(txPath, '--history');
  if (/\.csv$/i.test(txPath)) throw new UserInputError(`--history ${txPath}: give the JSONL file written by generate (--format jsonl); for a labelled feature CSV use --data`);
  const lp = labelsPath ?? labelsPathFor(txPath);
  if (labelsPath !== undefined) await requireFile(lp, '--labels');
  else if (!(await exists(lp))) throw new UserInputError(`--history ${txPath}: no labels file beside it (${lp}); pass --labels FILE`);

  // The latest label per transaction wins (an analyst may overrule a chargeback).
  const labels = new Map<string, Label>();
  for await (const chunk of readLines(lp)) {
    chunk.lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const d = decodeLabelLine(line);
      if (!d.ok) throw new UserInputError(`${lp} line ${chunk.firstLine + i}: ${d.reason}`);
      const prev = labels.get(d.label.txId);
      if (!prev || prev.labeledAt <= d.label.labeledAt) labels.set(d.label.txId, d.label);
    });
  }

  const decoder = jsonlDecoder();
  const out: Array<{ tx: Transaction; label: Label | null }> = [];
  for await (const chunk of readLines(txPath)) {
    chunk.lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const d = decoder.decode(line, chunk.firstLine + i);
      if (!d.ok) throw new UserInputError(`${txPath} line ${chunk.firstLine + i}: ${d.reason}`);
      out.push({ tx: d.tx, label: labels.get(d.tx.txId) ?? null });
    });
    onProgress?.(out.length);
  }
  // Point-in-time replay needs time order; a stable sort keeps the file's order among equal times.
  return out.map((e, i) => ({ e, i })).sort((a, b) => a.e.tx.ts - b.e.tx.ts || a.i - b.i).map((x) => x.e);
}
