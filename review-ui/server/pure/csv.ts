/**
 * CSV of search results for a spreadsheet. A cell a spreadsheet would read as a formula (starting with = + - @, or a
 * tab or carriage return that some strip before looking) is prefixed with a single quote, so it is shown as text and
 * never evaluated ("CSV injection"); then every cell is quoted when it holds a comma, quote or line break (RFC 4180).
 */
import type { Decision } from '../../../core/contracts.ts';

const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell, neutralised and quoted as needed. */
export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(cells: readonly unknown[]): string {
  return cells.map(csvCell).join(',');
}

/** The search row as CSV columns: what the Live page's row shows, one column per model score. */
export function decisionsCsv(rows: ReadonlyArray<Decision & { scenario?: string | null }>, modelIds: readonly string[]): string {
  const header = ['decided_at', 'action', 'stage', 'final', 'tx_id', 'card_id', 'merchant_id', 'merchant_name', 'amount_minor', 'currency', 'country', 'channel', 'stake_minor', ...modelIds.map((m) => `score_${m}`), 'label', 'reason', 'analyst', 'note'];
  const lines = rows.map((d) =>
    csvLine([
      new Date(d.decidedAt).toISOString(), d.action, d.stage, d.final, d.txId, d.cardId, d.tx.merchantId, d.tx.merchantName, d.tx.amountMinor, d.tx.currency, d.tx.country, d.tx.channel,
      d.expectedLoss?.stakeMinor ?? '', ...modelIds.map((m) => (d.scores as Partial<Record<string, number>>)[m] ?? ''), d.scenario ?? '', d.reason, d.analyst ?? '', d.note ?? '',
    ]),
  );
  return `${[csvLine(header), ...lines].join('\r\n')}\r\n`;
}
