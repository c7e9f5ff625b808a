/**
 * The Policy page's preview on a labelled replay file: the files an operator put in PREVIEW_FILES_DIR (each with
 * its labels file beside it), scored by the model version the current policy serves, as `fraudstream policy preview
 * --data` scores them. A name from the browser only ever selects a file of that folder's listing.
 *
 * Scoring a file takes seconds, so the scored samples are kept (a few files, a few minutes) per file, its mtime
 * and size, the scoring version and the current policy: moving a threshold on the page re-decides, it does not
 * re-score. A proposal that escalates rows the heavy model has not scored yet is re-scored once for them.
 */
import { createReadStream } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../../core/config.ts';
import { labelsPathFor } from '../../core/codec.ts';
import { PolicyPreviewBodySchema, type Policy } from '../../core/contracts.ts';
import { UserInputError } from '../../core/errors.ts';
import { listModelVersions } from '../../detectors/model-version.ts';
import type { ModelBundle } from '../../detectors/types.ts';
import { decideFirstLine } from '../../router/pure/policy.ts';
import { loadNamedVersion } from '../../router/serving-models.ts';
import type { ScoredSample } from '../../state/types.ts';
import { samplesFromLabelledFile, type UnlabelledAs } from '../file-preview.ts';
import { moneyDelta, type MoneyFigures } from '../../router/pure/money.ts';
import { previewPolicy, type PreviewAction, type PreviewResult, type ServedProbability } from './preview.ts';

export const PreviewSourceSchema = z
  .object({
    file: z.string().min(1).max(255),
    unlabelled: z.enum(['legit', 'unknown']).default('legit'),
  })
  .strict();

/** POST /api/policy/preview: live samples (`samples`), or a labelled file of PREVIEW_FILES_DIR (`source`). */
export const PolicyPreviewRequestSchema = PolicyPreviewBodySchema.extend({ source: PreviewSourceSchema.optional() });
export type PreviewSource = z.infer<typeof PreviewSourceSchema>;

export interface PreviewFileInfo {
  name: string;
  bytes: number;
  /** Lines in the transactions file (one transaction each). */
  rows: number;
  mtime: number;
  /** More rows than PREVIEW_FILE_MAX_ROWS: listed, but a preview on it is refused. */
  tooLarge: boolean;
}

/** How the file preview went, beside the usual preview result. */
export interface FileSourceInfo {
  file: string;
  rows: number;
  labelled: number;
  heavyScored: number;
  /** The version that scored the rows; null: rules only (no version found). */
  modelVersion: string | null;
  unlabelled: UnlabelledAs;
  /** The file's most common currency (amounts are shown in it) and every currency it holds, most common first. */
  currency: string | null;
  currencies: string[];
  /** The scores came from the cache (the same file, version and policy scored a moment ago). */
  cached: boolean;
  scoreMs: number;
}

export type FilePreviewResult = PreviewResult & { source: FileSourceInfo };

const LABELS_SUFFIX = '.labels.jsonl';

/** A transactions file name as the listing shows it: no folder, not hidden, .jsonl, not itself a labels file. */
export function checkPreviewFileName(name: string): string {
  const at = `source.file ${JSON.stringify(name)}`;
  if (/[/\\]/.test(name) || name === '..') throw new UserInputError(`${at}: give a file name from the list (GET /api/policy/preview-files), without a folder`);
  if (name.startsWith('.')) throw new UserInputError(`${at}: hidden files (a leading dot) are not previewed; give a name from the list`);
  if (!name.endsWith('.jsonl') || name.endsWith(LABELS_SUFFIX)) throw new UserInputError(`${at}: give a transactions file (*.jsonl, not *${LABELS_SUFFIX}) from the list`);
  if ([...name].some((c) => c.charCodeAt(0) < 32)) throw new UserInputError(`${at}: control characters in a file name`);
  return name;
}

/** A 413 through the console's error handler: the file is there but too big to score in the console. */
class FileTooLargeError extends Error {
  readonly status = 413;
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  let last = 10;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) n += 1;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  return last === 10 ? n : n + 1;
}

interface Cached<T> {
  value: T;
  at: number;
}

/** A small map that forgets the oldest entry past `max` and any entry older than `ttlMs`. */
class Recent<T> {
  private readonly entries = new Map<string, Cached<T>>();
  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.now() - e.at > this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  set(key: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, { value, at: this.now() });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

interface ScoredFile {
  /** Unlabelled rows carry no isFraud here; `legit` is applied per request. */
  samples: ScoredSample[];
  labelled: number;
  heavyScored: number;
  currencies: Record<string, number>;
  /** The policies whose escalations were heavy-scored. */
  covered: Policy[];
}

export interface FilePreviewSourceOptions {
  config: Config;
  /** Files whose scores are kept (each holds its rows in memory). */
  keepFiles?: number;
  keepMs?: number;
  /** Model versions kept loaded. */
  keepModels?: number;
  /** How a version is loaded (default: from MODEL_DIR, as the stages load it). */
  loadModel?: (name: string) => Promise<ModelBundle>;
}

export interface FilePreviewSource {
  list(): Promise<{ dir: string; maxRows: number; files: PreviewFileInfo[] }>;
  preview(current: Policy, proposed: Policy, source: PreviewSource): Promise<FilePreviewResult>;
}

const asInput = (s: ScoredSample) => ({ scores: s.scores, amountMinor: s.amountMinor, country: s.country, mcc: s.mcc, cardId: s.cardId, merchantId: s.merchantId });

/** Rows some policy would escalate that carry no heavy score: what a version with a heavy model still has to score. */
async function missingHeavy(samples: readonly ScoredSample[], policies: readonly Policy[]): Promise<boolean> {
  for (let from = 0; from < samples.length; from += DECIDE_CHUNK) {
    const part = samples.slice(from, from + DECIDE_CHUNK);
    if (part.some((s) => s.scores.heavy === undefined && policies.some((p) => decideFirstLine(p, asInput(s)).action === 'ESCALATE'))) return true;
    await nextTurn();
  }
  return false;
}

/** Rows decided per turn of the event loop: a few tens of milliseconds each. */
export const DECIDE_CHUNK = 5_000;

function addFigures(a: MoneyFigures, b: MoneyFigures): MoneyFigures {
  const sum = { ...a };
  for (const k of Object.keys(sum) as Array<keyof MoneyFigures>) sum[k] = a[k] + b[k];
  return sum;
}

function addCounts(a: Record<PreviewAction, number>, b: Record<PreviewAction, number>): Record<PreviewAction, number> {
  return { ALLOW: a.ALLOW + b.ALLOW, BLOCK: a.BLOCK + b.BLOCK, ESCALATE: a.ESCALATE + b.ESCALATE, REVIEW: a.REVIEW + b.REVIEW };
}

/**
 * previewPolicy over many samples without holding the event loop: every figure of a preview is a sum over samples
 * except the rate (reviews per hour over the whole span) and the first examples, so chunk previews add up. Equal to
 * previewPolicy on all samples (tests/review-ui/file-preview-source.test.ts holds it to that).
 */
export async function previewInChunks(current: Policy, proposed: Policy, samples: readonly ScoredSample[], served?: ServedProbability, chunk = DECIDE_CHUNK): Promise<PreviewResult> {
  if (samples.length <= chunk) return previewPolicy(current, proposed, samples, served);
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of samples) {
    if (s.ts === undefined) continue;
    lo = Math.min(lo, s.ts);
    hi = Math.max(hi, s.ts);
  }
  const spanHours = hi > lo ? (hi - lo) / 3_600_000 : 0;
  let total: PreviewResult | undefined;
  for (let from = 0; from < samples.length; from += chunk) {
    const part = previewPolicy(current, proposed, samples.slice(from, from + chunk), served);
    if (!total) total = part;
    else {
      const t: PreviewResult = total;
      total = {
        ...t,
        samples: t.samples + part.samples,
        recorded: addCounts(t.recorded, part.recorded),
        current: addCounts(t.current, part.current),
        proposed: addCounts(t.proposed, part.proposed),
        changed: t.changed + part.changed,
        examples: [...t.examples, ...part.examples].slice(0, 25),
        money: {
          ...t.money,
          samples: t.money.samples + part.money.samples,
          current: addFigures(t.money.current, part.money.current),
          proposed: addFigures(t.money.proposed, part.money.proposed),
          curve: t.money.curve.map((c, i) => ({ blockAbove: c.blockAbove, figures: addFigures(c.figures, part.money.curve[i]!.figures) })),
        },
      };
    }
    await nextTurn();
  }
  const r = total!;
  const rate = (f: MoneyFigures): MoneyFigures => ({ ...f, reviewsPerHour: spanHours > 0 ? f.reviewed / spanHours : 0 });
  const delta = { ALLOW: 0, BLOCK: 0, ESCALATE: 0, REVIEW: 0 };
  for (const k of Object.keys(delta) as PreviewAction[]) delta[k] = r.proposed[k] - r.current[k];
  const cur = rate(r.money.current);
  const prop = rate(r.money.proposed);
  return { ...r, delta, money: { ...r.money, spanHours, current: cur, proposed: prop, delta: moneyDelta(cur, prop), curve: r.money.curve.map((c) => ({ ...c, figures: rate(c.figures) })) } };
}

export function filePreviewSource({ config, keepFiles = 3, keepMs = 10 * 60_000, keepModels = 2, loadModel = (name) => loadNamedVersion(config, name, 'its own') }: FilePreviewSourceOptions): FilePreviewSource {
  const dir = path.resolve(config.previewFiles.dir);
  const maxRows = config.previewFiles.maxRows;
  const lineCounts = new Recent<Promise<number>>(256, 24 * 3_600_000);
  const models = new Recent<Promise<ModelBundle>>(keepModels, Infinity);
  const scored = new Recent<Promise<ScoredFile>>(keepFiles, keepMs);

  const rowsOf = (file: string, mtime: number, bytes: number): Promise<number> => {
    const key = `${file}|${mtime}|${bytes}`;
    let p = lineCounts.get(key);
    if (!p) {
      p = countLines(file);
      lineCounts.set(key, p);
      p.catch(() => lineCounts.delete(key));
    }
    return p;
  };

  const list = async () => {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return { dir, maxRows, files: [] };
    }
    const files: PreviewFileInfo[] = [];
    for (const name of names.sort()) {
      if (name.startsWith('.') || !name.endsWith('.jsonl') || name.endsWith(LABELS_SUFFIX)) continue;
      const file = path.join(dir, name);
      const [st, labels] = await Promise.all([stat(file).catch(() => undefined), stat(labelsPathFor(file)).catch(() => undefined)]);
      if (!st?.isFile() || !labels?.isFile()) continue;
      const rows = await rowsOf(file, st.mtimeMs, st.size);
      files.push({ name, bytes: st.size, rows, mtime: Math.round(st.mtimeMs), tooLarge: rows > maxRows });
    }
    return { dir, maxRows, files };
  };

  /** The version the current policy serves (else the newest under MODEL_DIR, else none: rules only), loaded once. */
  const modelFor = async (policy: Policy): Promise<ModelBundle | undefined> => {
    const name = policy.modelVersion ?? (await listModelVersions(config.modelDir).catch(() => [])).at(-1);
    if (name === undefined) return undefined;
    let p = models.get(name);
    if (!p) {
      p = loadModel(name);
      models.set(name, p);
      p.catch(() => models.delete(name));
    }
    return p;
  };

  const preview = async (current: Policy, proposed: Policy, source: PreviewSource): Promise<FilePreviewResult> => {
    const name = checkPreviewFileName(source.file);
    const file = path.join(dir, name);
    const known = (await list()).files.find((f) => f.name === name);
    if (!known) throw new UserInputError(`source.file ${JSON.stringify(name)}: no such file in the preview files folder (PREVIEW_FILES_DIR), or no labels file beside it (${name.replace(/\.jsonl$/, LABELS_SUFFIX)})`);
    if (known.tooLarge) throw new FileTooLargeError(`${name} has ${known.rows.toLocaleString('en-US')} rows, more than PREVIEW_FILE_MAX_ROWS (${maxRows.toLocaleString('en-US')}): preview it with \`npx fraudstream policy preview --data\`, or split it`);
    const bundle = await modelFor(current);
    const version = bundle?.version ?? null;
    const key = `${name}|${known.mtime}|${known.bytes}|${version ?? 'none'}|${current.version}`;
    const started = Date.now();
    let cached = true;
    let entry = scored.get(key);
    const score = (policies: Policy[]) => {
      cached = false;
      const p = samplesFromLabelledFile(file, bundle, policies, { unlabelled: 'unknown' }).then((r) => ({ ...r, covered: policies }));
      scored.set(key, p);
      p.catch(() => scored.delete(key));
      return p;
    };
    let result = await (entry ?? score([current, proposed]));
    if (bundle?.hasHeavy && (await missingHeavy(result.samples, [current, proposed]))) {
      // policies[0] is what the samples record as decided: the current policy stays first.
      entry = score([current, ...result.covered.slice(1).slice(-3), proposed]);
      result = await entry;
    }
    const samples = source.unlabelled === 'legit' ? result.samples.map((s) => (s.isFraud === undefined ? { ...s, isFraud: false } : s)) : result.samples;
    const currencies = Object.entries(result.currencies).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([c]) => c);
    const served = bundle ? { version: bundle.version, probability: bundle.probability } : undefined;
    return {
      ...(await previewInChunks(current, proposed, samples, served)),
      source: { file: name, rows: samples.length, labelled: result.labelled, heavyScored: result.heavyScored, modelVersion: version, unlabelled: source.unlabelled, currency: currencies[0] ?? null, currencies, cached, scoreMs: Date.now() - started },
    };
  };

  return { list, preview };
}
