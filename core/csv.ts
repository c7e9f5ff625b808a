/**
 * The one CSV reader (RFC 4180: commas, double-quoted fields with "" escapes, CRLF or LF line ends), used by the
 * streaming replay (a line at a time) and the labelled-data trainer (a whole file). Pure: no I/O.
 */
import { UserInputError } from './errors.ts';

/** A CSV that does not follow RFC 4180; the message gives the 1-based position in the record. */
export class CsvSyntaxError extends UserInputError {
  constructor(message: string) {
    super(message);
    this.name = 'CsvSyntaxError';
  }
}

/** The record starting at `start`: its cells and the index just past its line end (or text.length). */
function readRecord(text: string, start: number): { cells: string[]; next: number } {
  const cells: string[] = [];
  const n = text.length;
  let i = start;
  for (;;) {
    if (text[i] === '"') {
      let cell = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new CsvSyntaxError('unterminated quoted field');
        cell += text.slice(i, q);
        if (text[q + 1] === '"') {
          cell += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      cells.push(cell);
      if (i >= n) return { cells, next: n };
      const ch = text[i];
      if (ch === ',') {
        i++;
        continue;
      }
      if (ch === '\n' || ch === '\r') return { cells, next: lineEnd(text, i) };
      throw new CsvSyntaxError(`unexpected character after a quoted field at position ${i - start + 1}`);
    }
    let j = i;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 44 /* , */ || c === 10 /* \n */ || c === 13 /* \r */) break;
      j++;
    }
    cells.push(text.slice(i, j));
    if (j >= n) return { cells, next: n };
    if (text[j] === ',') {
      i = j + 1;
      continue;
    }
    return { cells, next: lineEnd(text, j) };
  }
}

function lineEnd(text: string, i: number): number {
  return text[i] === '\r' && text[i + 1] === '\n' ? i + 2 : i + 1;
}

/** Splits one CSV line (no line break outside quotes). Throws CsvSyntaxError on an unterminated quote. */
export function parseCsvLine(line: string): string[] {
  const { cells, next } = readRecord(line, 0);
  if (next < line.length) throw new CsvSyntaxError(`unexpected line break at position ${next}`);
  return cells;
}

/** Every record of a CSV text (a BOM and blank lines skipped; quoted fields may span lines). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < text.length) {
    const { cells, next } = readRecord(text, i);
    if (cells.length > 1 || cells[0] !== '') rows.push(cells);
    i = next;
  }
  return rows;
}
