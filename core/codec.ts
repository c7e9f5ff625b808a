/**
 * File formats for transactions and labels: JSONL and CSV out, JSONL and CSV (with a user's column mapping) in.
 * Pure: no file or network access, so every error path is unit-testable.
 */
import { describeZodError, LabelSchema, TransactionSchema, type Label, type Transaction } from './contracts.ts';
import { parseCsvLine } from './csv.ts';
import { UserInputError } from './errors.ts';

export type FileFormat = 'jsonl' | 'csv';

/** Columns of a CSV written by `generate`, in schema order. */
export const TX_COLUMNS = ['txId', 'cardId', 'merchantId', 'merchantName', 'mcc', 'amountMinor', 'currency', 'ts', 'channel', 'country', 'lat', 'lon', 'deviceId'] as const;

export function formatFromPath(path: string, explicit?: string): FileFormat {
  if (explicit !== undefined) {
    if (explicit !== 'jsonl' && explicit !== 'csv') throw new UserInputError(`--format must be jsonl or csv, got ${JSON.stringify(explicit)}`);
    return explicit;
  }
  return /\.csv$/i.test(path) ? 'csv' : 'jsonl';
}

/** Where the labels of a transactions file live: beside it, `NAME.labels.jsonl`. */
export function labelsPathFor(txPath: string): string {
  return txPath.replace(/\.(jsonl|json|csv|ndjson)$/i, '') + '.labels.jsonl';
}

export function txToJsonl(tx: Transaction): string {
  return JSON.stringify(tx);
}

function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export const CSV_HEADER = TX_COLUMNS.join(',');

export function txToCsv(tx: Transaction): string {
  return [
    csvCell(tx.txId),
    csvCell(tx.cardId),
    csvCell(tx.merchantId),
    csvCell(tx.merchantName),
    tx.mcc,
    String(tx.amountMinor),
    tx.currency,
    String(tx.ts),
    tx.channel,
    tx.country,
    String(tx.lat),
    String(tx.lon),
    tx.deviceId === null ? '' : csvCell(tx.deviceId),
  ].join(',');
}

// ---------------------------------------------------------------- decoding rows

export type Decoded =
  | { ok: true; tx: Transaction; /** The exact JSON to send (the input line when it was already canonical JSONL). */ json: string; label?: Label }
  | { ok: false; reason: string };

export interface RowDecoder {
  /** `line` is one record without its newline; `row` its 1-based line number in the file. */
  decode(line: string, row: number): Decoded;
}

/** JSONL transactions: each line must parse against the Transaction schema (strict: no extra fields such as labels). */
export function jsonlDecoder(): RowDecoder {
  return {
    decode(line) {
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch (err) {
        return { ok: false, reason: `not JSON: ${(err as Error).message}` };
      }
      const parsed = TransactionSchema.safeParse(raw);
      if (!parsed.success) return { ok: false, reason: describeZodError(parsed.error) };
      return { ok: true, tx: parsed.data, json: line };
    },
  };
}

/** Extra ids a stream may have; a mapped one lands in tx.entities (a feature spec can key entities on it). */
export const EXTRA_ENTITY_FIELDS = ['ip', 'email', 'account', 'terminal'] as const;

/** Target fields a CSV column can be mapped to. `amount` is in major units (x 100), `time` is an alias of `ts`. */
export const MAPPABLE_FIELDS = [
  'txId', 'cardId', 'merchantId', 'merchantName', 'mcc', 'amountMinor', 'amount', 'currency', 'ts', 'time', 'channel', 'country', 'lat', 'lon', 'deviceId', 'label', 'scenario', 'labeledAt',
  ...EXTRA_ENTITY_FIELDS,
] as const;
type Field = (typeof MAPPABLE_FIELDS)[number];

const DEFAULTS: Partial<Record<Field, string>> = {
  merchantId: 'unknown-merchant',
  merchantName: '',
  mcc: '5999',
  currency: 'EUR',
  channel: 'ecommerce',
  country: 'XX',
  lat: '0',
  lon: '0',
  deviceId: '',
};

export interface CsvMappingOptions {
  /** `field=Column` pairs, e.g. "amount=Amount,time=Time". */
  map?: string;
  /** `field=value` constants for fields the file lacks, e.g. "currency=EUR,country=FR". */
  set?: string;
  /** Unit of numeric times: ms (default) or s. Non-numeric times are parsed as ISO 8601. */
  timeUnit?: 'ms' | 's';
  /** Added to numeric times (epoch ms), for files whose time is an offset such as "seconds since the first row". */
  timeBase?: number;
  /** Delay between a row's time and its label's arrival, when a label column is mapped. */
  labelDelayMs?: number;
  /** Used to build txIds when no column is mapped to txId. */
  idPrefix?: string;
  /** Comma-separated columns read as extra numbers (tx.numbers, by numericName of the column): `--extra`. */
  extra?: string;
  /** Or: the numeric names a model version reads (its spec's `numeric`); the columns so named are read. */
  numericNames?: readonly string[];
}

/** The name an extra numeric column gets in tx.numbers and in a feature spec's `numeric` (lower case, _ for the rest). */
export function numericName(column: string): string {
  const n = column.trim().toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 32);
  return /^[a-z]/.test(n) ? n : `c_${n}`.slice(0, 32);
}

/** The header's columns whose numeric names a version reads; a name no column gives is a clear error. */
function numericColumns(columns: readonly string[], names: readonly string[]): Array<{ column: string; index: number; name: string }> {
  return names.map((name) => {
    const index = columns.findIndex((c) => numericName(c) === name);
    if (index < 0) throw new UserInputError(`the model version reads the extra number "${name}" (num_${name}), and no column of this file is named so (columns: ${columns.slice(0, 40).join(', ')})`);
    return { column: columns[index] as string, index, name };
  });
}

/** `--extra A,B`: the header's columns and their numeric names; an unknown column is a clear error. */
export function extraColumns(header: readonly string[], extra: string | undefined): Array<{ column: string; index: number; name: string }> {
  if (extra === undefined || extra.trim() === '') return [];
  const columns = header.map((h) => h.trim());
  const out = extra.split(',').map((c) => c.trim()).filter((c) => c !== '').map((column) => {
    const index = columns.indexOf(column);
    if (index < 0) throw new UserInputError(`--extra ${column}: column "${column}" is not in the CSV header (columns: ${columns.slice(0, 40).join(', ')})`);
    return { column, index, name: numericName(column) };
  });
  const names = out.map((e) => e.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UserInputError(`--extra: two columns give the feature name "${twice}"; rename one`);
  if (out.length > 16) throw new UserInputError(`--extra: at most 16 columns, got ${out.length}`);
  return out;
}

function parsePairs(flag: string, spec: string | undefined): Array<[string, string]> {
  if (spec === undefined || spec.trim() === '') return [];
  return spec.split(',').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UserInputError(`${flag} ${JSON.stringify(pair)}: expected field=value pairs separated by commas, e.g. ${flag} amount=Amount,time=Time`);
    return [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
  });
}

function isField(s: string): s is Field {
  return (MAPPABLE_FIELDS as readonly string[]).includes(s);
}

const TRUTHY = new Set(['1', 'true', 'yes', 'y', 'fraud', 't']);
const FALSY = new Set(['0', 'false', 'no', 'n', 'legit', 'f', '']);

/**
 * A decoder for CSV rows given the file's header. Without --map the header must be the one `generate` writes;
 * with --map each named column must exist (errors name it). cardId, an amount and a time must come from somewhere.
 */
export function csvDecoder(header: string[], opts: CsvMappingOptions = {}): RowDecoder {
  const columns = header.map((h) => h.trim());
  const where = new Map<Field, number>();
  const constants = new Map<Field, string>();
  const pairs = parsePairs('--map', opts.map);
  if (pairs.length === 0) {
    const identity = TX_COLUMNS.every((c) => columns.includes(c));
    if (!identity) {
      throw new UserInputError(
        `CSV header ${JSON.stringify(columns.slice(0, 12).join(','))} is not the generate format; map your columns, e.g. --map cardId=Card,amount=Amount,time=Time (fields: ${MAPPABLE_FIELDS.join(', ')})`,
      );
    }
    for (const c of TX_COLUMNS) where.set(c, columns.indexOf(c));
  }
  for (const [field, column] of pairs) {
    if (!isField(field)) throw new UserInputError(`--map ${field}=${column}: unknown field "${field}"; fields: ${MAPPABLE_FIELDS.join(', ')}`);
    const idx = columns.indexOf(column);
    if (idx < 0) {
      throw new UserInputError(`--map ${field}=${column}: column "${column}" is not in the CSV header (columns: ${columns.slice(0, 40).join(', ')})`);
    }
    where.set(field === 'time' ? 'ts' : field, idx);
  }
  for (const [field, value] of parsePairs('--set', opts.set)) {
    if (!isField(field)) throw new UserInputError(`--set ${field}=${value}: unknown field "${field}"; fields: ${MAPPABLE_FIELDS.join(', ')}`);
    constants.set(field === 'time' ? 'ts' : field, value);
  }
  const has = (f: Field) => where.has(f) || constants.has(f);
  if (!has('cardId')) throw new UserInputError('CSV: no column for cardId; add --map cardId=COLUMN (or --set cardId=VALUE to put every row on one card)');
  if (!has('amount') && !has('amountMinor')) throw new UserInputError('CSV: no column for the amount; add --map amount=COLUMN (major units) or --map amountMinor=COLUMN');
  if (!has('ts')) throw new UserInputError('CSV: no column for the time; add --map time=COLUMN (epoch ms, or seconds with --time-unit s, or ISO 8601)');
  const unit = opts.timeUnit === 's' ? 1000 : 1;
  const base = opts.timeBase ?? 0;
  const prefix = opts.idPrefix ?? 'row';
  const labelDelay = opts.labelDelayMs ?? 0;
  const extraCols = opts.numericNames?.length ? numericColumns(columns, opts.numericNames) : extraColumns(columns, opts.extra);
  for (const e of extraCols) {
    const mapped = [...where.entries()].find(([, i]) => i === e.index);
    if (mapped) throw new UserInputError(`--extra ${e.column}: the column is already mapped to ${mapped[0]} (--map); an extra number must be another column`);
  }

  return {
    decode(line, row) {
      let cells: string[];
      try {
        cells = parseCsvLine(line);
      } catch (err) {
        return { ok: false, reason: `CSV: ${(err as Error).message}` };
      }
      if (cells.length < columns.length) return { ok: false, reason: `expected ${columns.length} columns, found ${cells.length}` };
      const get = (f: Field): string | undefined => {
        const i = where.get(f);
        return i !== undefined ? (cells[i] as string) : (constants.get(f) ?? DEFAULTS[f]);
      };
      const colName = (f: Field) => (where.has(f) ? `column "${columns[where.get(f) as number]}" (${f})` : `--set ${f}`);
      const num = (f: Field): number | string => {
        const s = (get(f) ?? '').trim();
        const n = Number(s);
        return s === '' || !Number.isFinite(n) ? `${colName(f)}: ${JSON.stringify(s)} is not a number` : n;
      };
      let amountMinor: number;
      if (has('amountMinor')) {
        const v = num('amountMinor');
        if (typeof v === 'string') return { ok: false, reason: v };
        amountMinor = v;
      } else {
        const v = num('amount');
        if (typeof v === 'string') return { ok: false, reason: v };
        amountMinor = Math.round(v * 100);
      }
      const rawTs = (get('ts') ?? '').trim();
      let ts: number;
      if (/^-?\d+(\.\d+)?$/.test(rawTs)) ts = Math.round(Number(rawTs) * unit + base);
      else {
        ts = Date.parse(rawTs);
        if (Number.isNaN(ts)) return { ok: false, reason: `${colName('ts')}: ${JSON.stringify(rawTs)} is neither a number nor an ISO 8601 time` };
      }
      const lat = num('lat');
      if (typeof lat === 'string') return { ok: false, reason: lat };
      const lon = num('lon');
      if (typeof lon === 'string') return { ok: false, reason: lon };
      const device = get('deviceId') ?? '';
      const extras: Record<string, string> = {};
      for (const f of EXTRA_ENTITY_FIELDS) {
        const v = has(f) ? (get(f) ?? '').trim() : '';
        if (v !== '') extras[f] = v;
      }
      const numbers: Record<string, number> = {};
      for (const e of extraCols) {
        const s = (cells[e.index] ?? '').trim();
        if (s === '') continue; // missing: the feature reads 0 (feature-spec.ts numeric)
        const n = Number(s);
        if (!Number.isFinite(n)) return { ok: false, reason: `column "${e.column}" (--extra): ${JSON.stringify(s)} is not a number` };
        numbers[e.name] = n;
      }
      const candidate = {
        txId: get('txId') ?? `${prefix}-${row}`,
        cardId: get('cardId') ?? '',
        merchantId: get('merchantId') ?? '',
        merchantName: get('merchantName') ?? '',
        mcc: get('mcc') ?? '',
        amountMinor,
        currency: get('currency') ?? '',
        ts,
        channel: get('channel') ?? '',
        country: get('country') ?? '',
        lat,
        lon,
        deviceId: device === '' ? null : device,
        ...(Object.keys(extras).length ? { entities: extras } : {}),
        ...(Object.keys(numbers).length ? { numbers } : {}),
      };
      const parsed = TransactionSchema.safeParse(candidate);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = String(issue?.path[0] ?? '');
        const f: Field = field === 'amountMinor' && !has('amountMinor') ? 'amount' : isField(field) ? field : 'txId';
        return { ok: false, reason: `${colName(f)}: ${describeZodError(parsed.error)}` };
      }
      const tx = parsed.data;
      let label: Label | undefined;
      if (has('label')) {
        const v = (get('label') ?? '').trim().toLowerCase();
        if (!TRUTHY.has(v) && !FALSY.has(v)) return { ok: false, reason: `${colName('label')}: ${JSON.stringify(v)} is not a fraud flag (1/0, true/false, yes/no)` };
        const scenario = (get('scenario') ?? '').trim();
        const isFraud = TRUTHY.has(v);
        let labeledAt = tx.ts + labelDelay;
        if (has('labeledAt')) {
          const raw = (get('labeledAt') ?? '').trim();
          const at = /^-?\d+(\.\d+)?$/.test(raw) ? Math.round(Number(raw) * unit + base) : Date.parse(raw);
          if (!Number.isFinite(at)) return { ok: false, reason: `${colName('labeledAt')}: ${JSON.stringify(raw)} is neither a number nor an ISO 8601 time` };
          if (at < tx.ts) return { ok: false, reason: `${colName('labeledAt')}: the label arrives before its transaction (${new Date(at).toISOString()} < ${new Date(tx.ts).toISOString()})` };
          labeledAt = at;
        }
        label = { txId: tx.txId, cardId: tx.cardId, merchantId: tx.merchantId, txTs: tx.ts, isFraud, scenario: isFraud && scenario !== '' ? scenario : null, source: 'chargeback', labeledAt };
      }
      return { ok: true, tx, json: JSON.stringify(tx), ...(label ? { label } : {}) };
    },
  };
}

export function decodeLabelLine(line: string): { ok: true; label: Label } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = LabelSchema.safeParse(raw);
  return parsed.success ? { ok: true, label: parsed.data } : { ok: false, reason: describeZodError(parsed.error) };
}
