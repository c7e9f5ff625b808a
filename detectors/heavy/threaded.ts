/**
 * The heavy model off the event loop (issue 20): one worker thread per process holds the loaded heavy models and
 * scores batches of rows (packed, transferred) into probabilities, so a slow escalation never stops a stage sharing
 * the process (detect, the runner's heartbeats and commits) from running meanwhile. Where the worker cannot start,
 * the model loads and scores on the main thread as before; the log says which (HEAVY_THREAD=main asks for that).
 */
import { Worker } from 'node:worker_threads';
import { ErrorCodes, FraudstreamError, UserInputError, type ErrorCode } from '../../core/errors.ts';
import { logger } from '../../core/logger.ts';
import { loadHeavy } from './io.ts';
import type { HeavyItem } from './model.ts';
import { packRows } from './rows.ts';
import type { HeavyReply, HeavyRequest } from './worker-entry.ts';

/** What HEAVY_THREAD may ask for: `worker` (default) or `main` (score on the event loop, as before issue 20). */
export const HeavyThreadModes = ['worker', 'main'] as const;
export type HeavyThreadMode = (typeof HeavyThreadModes)[number];

export function heavyThreadMode(env: NodeJS.ProcessEnv = process.env): HeavyThreadMode {
  const v = env.HEAVY_THREAD?.trim().toLowerCase();
  if (v === undefined || v === '') return 'worker';
  if ((HeavyThreadModes as readonly string[]).includes(v)) return v as HeavyThreadMode;
  throw new UserInputError(`HEAVY_THREAD=${env.HEAVY_THREAD} is not a mode; use worker (the default) or main`);
}

/** The heavy model as the serving code uses it (detectors/model-version.ts HeavyScorer). */
export interface HeavyScoring {
  predict(items: ReadonlyArray<HeavyItem>): Promise<number[]>;
  save(dir: string): Promise<void>;
  dispose(): void;
  /** Where it scores: `worker` or `main`. */
  readonly thread: HeavyThreadMode;
}

type Payload = HeavyRequest extends infer R ? (R extends HeavyRequest ? Omit<R, 'id'> : never) : never;
type Ok = Extract<HeavyReply, { ok: true }>;

const BOOT = new URL('./worker-boot.mjs', import.meta.url);
const ENTRY = new URL('./worker-entry.ts', import.meta.url).href;

/** The process's one heavy worker: started on first use, restarted on the next request after it died. */
class HeavyThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (r: Ok) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  /** Bumped each time a worker starts: models loaded in an earlier one must load again. */
  generation = 0;
  /** Live models across generations: the worker ends when the last one is disposed. */
  models = 0;

  private start(): Worker {
    const w = new Worker(BOOT, { workerData: { entry: ENTRY } });
    this.generation += 1;
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('message', (r: HeavyReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();
      if (r.ok) p.resolve(r);
      else p.reject(r.code ? new FraudstreamError(r.code as ErrorCode, r.message) : new Error(r.message));
    });
    w.on('error', (err) => fail(new Error(`heavy model worker failed: ${err.message}`, { cause: err })));
    w.on('exit', (code) => fail(new Error(`heavy model worker exited (code ${code})`)));
    // Idle, it must not keep a finished command alive; busy, it must (a pending promise alone does not).
    w.unref();
    this.worker = w;
    return w;
  }

  /** The generation of the running worker, starting one if none runs. */
  live(): number {
    if (!this.worker) this.start();
    return this.generation;
  }

  request(payload: Payload, transfer: ArrayBuffer[] = []): Promise<Ok> {
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<Ok>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...payload, id }, transfer);
    });
  }

  /** Stops the worker as a crash would: pending calls fail, the next call starts another. */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  /** Ends the worker once no model is loaded (a test or a command that disposes its models can exit). */
  async release(): Promise<void> {
    if (this.models > 0 || !this.worker || this.pending.size > 0) return;
    const w = this.worker;
    this.worker = undefined;
    await w.terminate();
  }
}

let thread: HeavyThread | undefined;

/** Ends the process's heavy worker as a crash would (for tests of the restart; models load again on their next call). */
export async function killHeavyWorker(): Promise<void> {
  await thread?.kill();
}

class ThreadedHeavy implements HeavyScoring {
  readonly thread = 'worker' as const;
  private disposed = false;
  private reloading: Promise<void> | undefined;

  private constructor(
    private readonly t: HeavyThread,
    private readonly dir: string,
    private model: number,
    private readonly dim: number,
    private generation: number,
  ) {}

  static async load(t: HeavyThread, dir: string): Promise<ThreadedHeavy> {
    const r = await t.request({ op: 'load', dir });
    t.models += 1;
    return new ThreadedHeavy(t, dir, r.model!, r.dim!, t.generation);
  }

  async predict(items: ReadonlyArray<HeavyItem>): Promise<number[]> {
    if (this.disposed) throw new FraudstreamError(ErrorCodes.INTERNAL, 'heavy model used after dispose()');
    if (items.length === 0) return [];
    const rows = packRows(items, this.dim);
    const live = this.t.live();
    if (this.generation !== live) {
      // The worker died and a new one runs: load this model into it first (once for concurrent calls).
      this.reloading ??= this.t.request({ op: 'load', dir: this.dir }).then((r) => {
        this.model = r.model!;
        this.generation = live;
      }).finally(() => (this.reloading = undefined));
      await this.reloading;
    }
    const r = await this.t.request({ op: 'predict', model: this.model, rows }, [rows.values.buffer as ArrayBuffer, rows.counts.buffer as ArrayBuffer]);
    return Array.from(r.probabilities!);
  }

  async save(dir: string): Promise<void> {
    await this.t.request({ op: 'save', model: this.model, dir });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.t.models -= 1;
    const t = this.t;
    void t
      .request({ op: 'dispose', model: this.model })
      .catch(() => undefined)
      .then(() => t.release());
  }
}

/** The same model scoring on the main thread (the fallback, and HEAVY_THREAD=main). */
async function inThread(dir: string): Promise<HeavyScoring> {
  const h = await loadHeavy(dir);
  return { thread: 'main', predict: (items) => h.predict(items), save: (d) => h.save(d), dispose: () => h.dispose() };
}

const log = logger('heavy');
let said: HeavyThreadMode | undefined;
const sayOnce = (mode: HeavyThreadMode, fields: Record<string, unknown>, msg: string) => {
  if (said === mode) return;
  said = mode;
  if (mode === 'worker') log.info(fields, msg);
  else log.warn(fields, msg);
};

/** Errors of the model's files: the main thread would fail on them the same way, so they are not a reason to fall back. */
const MODEL_ERRORS: ReadonlySet<string> = new Set([ErrorCodes.BAD_INPUT, ErrorCodes.MODEL_NOT_FOUND, ErrorCodes.CONFIG_INVALID]);

/**
 * Loads a heavy model folder for serving: on the process's worker thread, or on the main thread when HEAVY_THREAD=main
 * or the worker cannot start (logged once, with the reason).
 */
export async function loadHeavyScoring(dir: string, mode: HeavyThreadMode = heavyThreadMode()): Promise<HeavyScoring> {
  if (mode === 'main') {
    sayOnce('main', { requested: 'main' }, 'heavy model scores on the main thread (HEAVY_THREAD=main)');
    return inThread(dir);
  }
  try {
    thread ??= new HeavyThread();
    const h = await ThreadedHeavy.load(thread, dir);
    sayOnce('worker', {}, 'heavy model scores on a worker thread');
    return h;
  } catch (err) {
    if (err instanceof FraudstreamError && MODEL_ERRORS.has(err.code)) throw err;
    sayOnce('main', { reason: err instanceof Error ? err.message : String(err) }, 'heavy model worker could not start: scoring on the main thread');
    return inThread(dir);
  }
}
