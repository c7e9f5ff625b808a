import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { UserInputError } from '../../core/errors.ts';
import { logger, type Logger } from '../../core/logger.ts';

/** What TFJS_BACKEND may ask for. `node` is @tensorflow/tfjs-node (tfjs backend name "tensorflow"). */
export const BackendChoices = ['node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BackendChoices)[number];

/**
 * Default order when TFJS_BACKEND is unset. wasm before cpu because it measured faster for this model
 * (see docs/heavy-model.md, `npx tsx bench/heavy.ts --all-backends`).
 */
export const DEFAULT_ORDER: readonly BackendChoice[] = ['node', 'wasm', 'cpu'];

export interface BackendAttempt {
  choice: BackendChoice;
  ok: boolean;
  reason?: string;
}

export interface BackendSelection {
  /** The tfjs backend name now active: "tensorflow", "wasm" or "cpu". */
  backend: string;
  choice: BackendChoice;
  requested: BackendChoice | undefined;
  attempts: BackendAttempt[];
}

export interface BackendDeps {
  /** Each returns the tfjs backend name on success and throws (with a reason) when unavailable. */
  init: Record<BackendChoice, () => Promise<string>>;
  log: (selection: BackendSelection) => void;
}

export function parseBackendChoice(value: string | undefined): BackendChoice | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim().toLowerCase();
  if ((BackendChoices as readonly string[]).includes(v)) return v as BackendChoice;
  throw new UserInputError(`TFJS_BACKEND=${value} is not a backend; use one of ${BackendChoices.join(', ')} (or leave it unset)`);
}

/**
 * Tries the requested backend first, then the default order; the first that initialises wins.
 * A requested backend that cannot start is a fallback with a warning, not a crash: the model still scores.
 */
export async function selectBackend(requested: BackendChoice | undefined, deps: BackendDeps): Promise<BackendSelection> {
  const order = requested ? [requested, ...DEFAULT_ORDER.filter((c) => c !== requested)] : [...DEFAULT_ORDER];
  const attempts: BackendAttempt[] = [];
  for (const choice of order) {
    try {
      const backend = await deps.init[choice]();
      attempts.push({ choice, ok: true });
      const selection: BackendSelection = { backend, choice, requested, attempts };
      deps.log(selection);
      return selection;
    } catch (err) {
      attempts.push({ choice, ok: false, reason: err instanceof Error ? err.message.split('\n')[0] : String(err) });
    }
  }
  throw new Error(`no TensorFlow.js backend could start: ${attempts.map((a) => `${a.choice}: ${a.reason}`).join('; ')}`);
}

async function activate(name: string): Promise<string> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend("${name}") returned false`);
  await tf.ready();
  // A smoke op: a backend that registers but cannot run kernels must not be chosen.
  const probe = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.scalar(1)).dataSync());
  if (probe[0] !== 2 || probe[1] !== 3) throw new Error(`backend ${name} computed a wrong smoke result`);
  return tf.getBackend();
}

export function realBackendDeps(log: Pick<Logger, 'info' | 'warn'> = logger('heavy')): BackendDeps {
  return {
    init: {
      node: async () => {
        // A variable specifier: the package is optional and its types may be absent.
        const specifier = '@tensorflow/tfjs-node';
        await import(specifier);
        return activate('tensorflow');
      },
      wasm: async () => {
        // Load the .wasm binaries from node_modules by file path; nothing is fetched.
        const require = createRequire(import.meta.url);
        const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
        setWasmPaths(dir + path.sep);
        // The emscripten glue adds process-wide handlers that rethrow every uncaught exception and unhandled
        // rejection (and print its whole minified source); the app owns those policies, so take them back.
        const before = new Set<unknown>([...process.listeners('uncaughtException'), ...process.listeners('unhandledRejection')]);
        try {
          return await activate('wasm');
        } finally {
          for (const l of process.listeners('uncaughtException')) if (!before.has(l)) process.removeListener('uncaughtException', l);
          for (const l of process.listeners('unhandledRejection')) if (!before.has(l)) process.removeListener('unhandledRejection', l);
        }
      },
      cpu: async () => activate('cpu'),
    },
    log: (s) => {
      const failed = s.attempts.filter((a) => !a.ok).map((a) => `${a.choice}: ${a.reason}`);
      if (s.requested && s.requested !== s.choice) {
        log.warn({ backend: s.backend, requested: s.requested, failed }, `TFJS_BACKEND=${s.requested} unavailable; heavy model runs on ${s.backend}`);
      } else {
        log.info({ backend: s.backend, failed }, `heavy model runs on TensorFlow.js backend ${s.backend}`);
      }
    },
  };
}

let selected: Promise<BackendSelection> | undefined;

/** Picks and initialises the backend once per process (TFJS_BACKEND overrides), logging the choice once. */
export function heavyBackendSelection(env: NodeJS.ProcessEnv = process.env): Promise<BackendSelection> {
  if (!selected) {
    // tfjs otherwise prints a console banner suggesting tfjs-node; our log line says which backend runs.
    tf.enableProdMode();
    const attempt = (async () => selectBackend(parseBackendChoice(env.TFJS_BACKEND), realBackendDeps()))();
    selected = attempt;
    // A failed selection (e.g. a bad TFJS_BACKEND) may be retried after the caller fixes it.
    attempt.catch(() => {
      if (selected === attempt) selected = undefined;
    });
  }
  return selected;
}

/** The active tfjs backend name ("tensorflow", "wasm" or "cpu"), initialising it on first call. */
export async function heavyBackend(): Promise<string> {
  return (await heavyBackendSelection()).backend;
}
