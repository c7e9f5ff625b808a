import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { UserInputError } from '../../../core/errors.ts';
import {
  heavyBackend,
  heavyBackendSelection,
  parseBackendChoice,
  realBackendDeps,
  selectBackend,
  type BackendDeps,
  type BackendSelection,
} from '../../../detectors/heavy/backend.ts';

function fakeDeps(available: Partial<Record<'node' | 'wasm' | 'cpu', string>>) {
  const logged: BackendSelection[] = [];
  const tried: string[] = [];
  const make = (choice: 'node' | 'wasm' | 'cpu') => async () => {
    tried.push(choice);
    const name = available[choice];
    if (!name) throw new Error(`${choice} not installed`);
    return name;
  };
  const deps: BackendDeps = { init: { node: make('node'), wasm: make('wasm'), cpu: make('cpu') }, log: (s) => logged.push(s) };
  return { deps, logged, tried };
}

describe('heavy backend selection', () => {
  it('falls back from tfjs-node to wasm and logs the chosen backend once', async () => {
    const { deps, logged, tried } = fakeDeps({ wasm: 'wasm', cpu: 'cpu' });
    const s = await selectBackend(undefined, deps);
    expect(s.backend).toBe('wasm');
    expect(tried).toEqual(['node', 'wasm']);
    expect(logged).toHaveLength(1);
    expect(logged[0]!.backend).toBe('wasm');
    expect(logged[0]!.attempts).toEqual([
      { choice: 'node', ok: false, reason: 'node not installed' },
      { choice: 'wasm', ok: true },
    ]);
  });

  it('falls back to cpu when neither node nor wasm starts', async () => {
    const { deps, logged } = fakeDeps({ cpu: 'cpu' });
    expect((await selectBackend(undefined, deps)).backend).toBe('cpu');
    expect(logged.map((s) => s.backend)).toEqual(['cpu']);
  });

  it('prefers tfjs-node when it loads', async () => {
    const { deps, tried } = fakeDeps({ node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' });
    expect((await selectBackend(undefined, deps)).backend).toBe('tensorflow');
    expect(tried).toEqual(['node']);
  });

  it('tries the TFJS_BACKEND choice first, and falls back when it cannot start', async () => {
    const a = fakeDeps({ node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' });
    expect((await selectBackend('cpu', a.deps)).backend).toBe('cpu');
    expect(a.tried).toEqual(['cpu']);
    const b = fakeDeps({ wasm: 'wasm', cpu: 'cpu' });
    const s = await selectBackend('node', b.deps);
    expect(s).toMatchObject({ backend: 'wasm', requested: 'node', choice: 'wasm' });
  });

  it('fails with every reason when nothing starts', async () => {
    const { deps, logged } = fakeDeps({});
    await expect(selectBackend(undefined, deps)).rejects.toThrow(/node: node not installed; wasm: wasm not installed; cpu: cpu not installed/);
    expect(logged).toHaveLength(0);
  });

  it('rejects an unknown TFJS_BACKEND naming the variable and the choices', () => {
    expect(() => parseBackendChoice('gpu')).toThrow(UserInputError);
    expect(() => parseBackendChoice('gpu')).toThrow(/TFJS_BACKEND=gpu .*node, wasm, cpu/);
    expect(parseBackendChoice(' WASM ')).toBe('wasm');
    expect(parseBackendChoice('')).toBeUndefined();
    expect(parseBackendChoice(undefined)).toBeUndefined();
  });

  it('really starts a backend here (wasm unless tfjs-node or TFJS_BACKEND says otherwise), once per process', async () => {
    const exceptionListeners = process.listenerCount('uncaughtException');
    const rejectionListeners = process.listenerCount('unhandledRejection');
    const first = heavyBackendSelection();
    expect(heavyBackendSelection()).toBe(first);
    const s = await first;
    const expected = process.env.TFJS_BACKEND ? undefined : s.attempts.some((a) => a.choice === 'node' && a.ok) ? 'tensorflow' : 'wasm';
    if (expected) expect(s.backend).toBe(expected);
    expect(await heavyBackend()).toBe(tf.getBackend());
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0]);
    expect(y).toBe(11);
    // The wasm glue's process-wide rethrow handlers must not survive initialisation.
    expect(process.listenerCount('uncaughtException')).toBe(exceptionListeners);
    expect(process.listenerCount('unhandledRejection')).toBe(rejectionListeners);
  });

  it('logs the chosen backend at info, and a fallback from TFJS_BACKEND at warn', () => {
    const log = { info: vi.fn(), warn: vi.fn() };
    const deps = realBackendDeps(log as unknown as Parameters<typeof realBackendDeps>[0]);
    deps.log({ backend: 'wasm', choice: 'wasm', requested: undefined, attempts: [{ choice: 'node', ok: false, reason: 'x' }, { choice: 'wasm', ok: true }] });
    expect(log.info).toHaveBeenCalledWith(expect.objectContaining({ backend: 'wasm', failed: ['node: x'] }), expect.stringContaining('backend wasm'));
    deps.log({ backend: 'cpu', choice: 'cpu', requested: 'node', attempts: [] });
    expect(log.warn).toHaveBeenCalledWith(expect.objectContaining({ backend: 'cpu', requested: 'node' }), expect.stringContaining('TFJS_BACKEND=node unavailable'));
  });
});
