/**
 * The review console's pages: built with vite into review-ui/dist when missing or stale. A stamp in the build
 * records a hash of every source it was built from, so "stale" means the sources changed, whatever the mtimes say
 * (a checkout, a copy or an unpacked archive all reset them).
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const UI_ROOT = fileURLToPath(new URL('.', import.meta.url));
export const WEB_DIR = path.join(UI_ROOT, 'web');
export const DEFAULT_DIST = path.join(UI_ROOT, 'dist');
const STAMP = 'build-stamp.json';
/** Besides review-ui/web: the build config, and the lock file that pins vite and the bundled libraries. */
const EXTRA_SOURCES = [path.join(UI_ROOT, 'vite.config.ts'), path.join(UI_ROOT, '..', 'package-lock.json')];

export type UiBuildState = 'fresh' | 'missing' | 'stale';

export interface UiBuildStatus {
  state: UiBuildState;
  /** Why it is missing or stale, for a person. */
  detail: string;
  distDir: string;
  /** Source file (relative to the project) -> sha256, as they are now. */
  sources: Record<string, string>;
}

interface Stamp {
  builtAt: number;
  sources: Record<string, string>;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

async function sourceHashes(): Promise<Record<string, string>> {
  const files = [...(await filesUnder(WEB_DIR)), ...EXTRA_SOURCES.filter((f) => existsSync(f))].sort();
  const base = path.join(UI_ROOT, '..');
  const entries = await Promise.all(files.map(async (f) => [path.relative(base, f), createHash('sha256').update(await readFile(f)).digest('hex')] as const));
  return Object.fromEntries(entries);
}

async function readStamp(distDir: string): Promise<Stamp | undefined> {
  try {
    return JSON.parse(await readFile(path.join(distDir, STAMP), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

const listFew = (names: string[]) => (names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`);

/** Is the build there, and was it built from the sources as they are now? */
export async function uiBuildStatus(distDir = DEFAULT_DIST): Promise<UiBuildStatus> {
  const sources = await sourceHashes();
  if (!existsSync(path.join(distDir, 'index.html')) || !existsSync(path.join(distDir, 'login.html'))) {
    return { state: 'missing', detail: `no build in ${distDir}`, distDir, sources };
  }
  const stamp = await readStamp(distDir);
  if (!stamp) return { state: 'stale', detail: 'the build has no record of its sources', distDir, sources };
  const changed = Object.keys({ ...sources, ...stamp.sources }).filter((f) => sources[f] !== stamp.sources[f]);
  if (changed.length > 0) {
    return { state: 'stale', detail: `${changed.length} source file${changed.length === 1 ? '' : 's'} changed since it was built (${listFew(changed.map((f) => path.basename(f)))})`, distDir, sources };
  }
  return { state: 'fresh', detail: `built ${new Date(stamp.builtAt).toISOString()}`, distDir, sources };
}

export interface UiBuildResult {
  /** What was found before building. */
  before: UiBuildStatus;
  built: boolean;
  seconds?: number;
  files?: number;
  bytes?: number;
  /** vite's warnings, kept for whoever wants them (the progress line only counts them). */
  warnings: string[];
}

export interface UiBuildOptions {
  distDir?: string;
  /** Build even when fresh. */
  force?: boolean;
  /** One line per phase. */
  onProgress?: (line: string) => void;
}

async function sizeOf(dir: string): Promise<{ files: number; bytes: number }> {
  const files = (await filesUnder(dir)).filter((f) => path.basename(f) !== STAMP);
  const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
  return { files: files.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/**
 * Builds the pages when missing or stale (or forced). Builds into a temporary folder next to the target and
 * swaps it in, so a server reading the old build, or a second process building at the same time, never sees
 * a half-written one.
 */
export async function ensureUiBuilt(opts: UiBuildOptions = {}): Promise<UiBuildResult> {
  const distDir = opts.distDir ?? DEFAULT_DIST;
  const say = opts.onProgress ?? (() => {});
  const before = await uiBuildStatus(distDir);
  if (before.state === 'fresh' && !opts.force) return { before, built: false, warnings: [] };

  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch (err) {
    const why = `vite is not installed (${(err as Error).message.split('\n')[0]}); install the dev dependencies (npm ci) and run npm run build:ui`;
    if (before.state === 'missing') throw new Error(`the review UI is not built and cannot be: ${why}`);
    say(`review UI: ${before.detail}, but ${why}; serving the existing build`);
    return { before, built: false, warnings: [] };
  }
  say(before.state === 'missing' ? 'review UI: no build yet: building the pages (vite)' : before.state === 'stale' ? `review UI: ${before.detail}: rebuilding (vite)` : 'review UI: building the pages (vite)');

  const { default: config } = await import('./vite.config.ts');
  const tmp = `${distDir}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
  const warnings: string[] = [];
  const errors: string[] = [];
  const warned = new Set<string>();
  const logger: import('vite').Logger = {
    hasWarned: false,
    info: () => {},
    warn: (msg) => {
      warnings.push(msg);
      logger.hasWarned = true;
    },
    warnOnce: (msg) => {
      if (warned.has(msg)) return;
      warned.add(msg);
      logger.warn(msg);
    },
    error: (msg) => {
      errors.push(msg);
    },
    clearScreen: () => {},
    hasErrorLogged: () => errors.length > 0,
  };
  const started = performance.now();
  try {
    await vite.build({ ...config, configFile: false, customLogger: logger, logLevel: 'warn', build: { ...config.build, outDir: tmp, emptyOutDir: true } });
    await writeFile(path.join(tmp, STAMP), JSON.stringify({ builtAt: Date.now(), sources: before.sources } satisfies Stamp, null, 2) + '\n');
    const old = `${distDir}.old-${process.pid}-${randomUUID().slice(0, 8)}`;
    await rename(distDir, old).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    try {
      await rename(tmp, distDir);
    } catch (err) {
      // Another process swapped its build in between: built from the same sources, so keep it.
      if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
    await rm(old, { recursive: true, force: true });
  } catch (err) {
    const detail = errors.length ? `\n${errors.join('\n')}` : '';
    throw new Error(`building the review UI failed: ${(err as Error).message}${detail}`, { cause: err });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  const { files, bytes } = await sizeOf(distDir);
  const note = warnings.length ? `, ${warnings.length} vite warning${warnings.length === 1 ? '' : 's'} (npm run build:ui shows them)` : '';
  say(`review UI: built in ${seconds.toFixed(1)} s (${files} files, ${(bytes / 1024).toFixed(0)} kB)${note}`);
  return { before, built: true, seconds, files, bytes, warnings };
}
