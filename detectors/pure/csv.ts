/** Bring-your-own data: a labelled CSV of numeric columns into time-ordered rows, naming every bad column. */
import { CsvSyntaxError, parseCsv } from '../../core/csv.ts';

export interface CsvSpec {
  label: string;
  time: string;
  exclude?: readonly string[];
}

export interface CsvDataset {
  featureNames: string[];
  rows: Float64Array[];
  labels: Uint8Array;
  ts: Float64Array;
}

/** Thrown with every problem found, so one run names every column to fix. */
export class CsvError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'CsvError';
  }
}

const TRUE = new Set(['1', 'true', 'yes', 't', 'y', 'fraud']);
const FALSE = new Set(['0', 'false', 'no', 'f', 'n', 'legit']);

function parseTime(raw: string): number {
  const t = raw.trim();
  if (t === '') return NaN;
  const n = Number(t);
  if (Number.isFinite(n)) return n;
  return Date.parse(t);
}

export function csvToDataset(text: string, spec: CsvSpec): CsvDataset {
  let table: string[][];
  try {
    table = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvSyntaxError) throw new CsvError([`not a valid CSV: ${err.message}`]);
    throw err;
  }
  if (table.length < 2) throw new CsvError(['the CSV needs a header row and at least one data row']);
  const header = table[0].map((h) => h.trim());
  const problems: string[] = [];
  const dupes = header.filter((h, i) => header.indexOf(h) !== i);
  if (dupes.length) problems.push(`duplicate column names: ${[...new Set(dupes)].join(', ')}`);
  const col = (name: string, flag: string) => {
    const i = header.indexOf(name);
    if (i < 0) problems.push(`--${flag} ${name}: no such column (columns: ${header.join(', ')})`);
    return i;
  };
  const labelAt = col(spec.label, 'label');
  const timeAt = col(spec.time, 'time');
  const exclude = new Set(spec.exclude ?? []);
  for (const e of exclude) if (!header.includes(e)) problems.push(`--exclude ${e}: no such column`);
  if (problems.length) throw new CsvError(problems);

  const featureAt = header.map((_, i) => i).filter((i) => i !== labelAt && i !== timeAt && !exclude.has(header[i]));
  if (featureAt.length === 0) throw new CsvError(['no feature columns left after --label, --time and --exclude']);

  const data = table.slice(1);
  const bad = new Map<number, { count: number; line: number; value: string }>();
  const rows: Float64Array[] = [];
  const labels = new Uint8Array(data.length);
  const ts = new Float64Array(data.length);
  const badLabel: string[] = [];
  const badTime: string[] = [];
  data.forEach((r, k) => {
    const line = k + 2;
    if (r.length !== header.length) problems.push(`line ${line}: ${r.length} fields, header has ${header.length}`);
    const lab = (r[labelAt] ?? '').trim().toLowerCase();
    if (TRUE.has(lab)) labels[k] = 1;
    else if (!FALSE.has(lab) && badLabel.length < 3) badLabel.push(`line ${line}: ${JSON.stringify(r[labelAt] ?? '')}`);
    const t = parseTime(r[timeAt] ?? '');
    if (!Number.isFinite(t) && badTime.length < 3) badTime.push(`line ${line}: ${JSON.stringify(r[timeAt] ?? '')}`);
    ts[k] = t;
    const v = new Float64Array(featureAt.length);
    featureAt.forEach((c, j) => {
      const raw = (r[c] ?? '').trim();
      const x = raw === '' ? NaN : Number(raw);
      if (!Number.isFinite(x)) {
        const b = bad.get(c);
        if (b) b.count++;
        else bad.set(c, { count: 1, line, value: r[c] ?? '' });
      }
      v[j] = x;
    });
    rows.push(v);
  });
  if (problems.length > 5) problems.splice(5, problems.length - 5, `... and more rows with the wrong number of fields`);
  if (badLabel.length) problems.push(`label column ${spec.label} must hold 0/1 (or true/false): ${badLabel.join('; ')}`);
  if (badTime.length) problems.push(`time column ${spec.time} must hold numbers or ISO dates: ${badTime.join('; ')}`);
  if (bad.size) {
    const names = [...bad.keys()].map((c) => header[c]);
    for (const [c, b] of bad) {
      problems.push(`column ${header[c]} is not numeric: ${b.count} bad value(s), first on line ${b.line}: ${JSON.stringify(b.value)}`);
    }
    problems.push(`fix those values or leave the columns out with --exclude ${names.join(',')}`);
  }
  if (problems.length) throw new CsvError(problems);

  const order = Array.from(ts, (_, i) => i).sort((a, b) => ts[a] - ts[b] || a - b);
  return {
    featureNames: featureAt.map((c) => header[c]),
    rows: order.map((i) => rows[i]),
    labels: Uint8Array.from(order, (i) => labels[i]),
    ts: Float64Array.from(order, (i) => ts[i]),
  };
}
