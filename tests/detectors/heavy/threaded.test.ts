/**
 * The heavy model on its worker thread (issue 20): it scores what the main thread scores, the event loop stays free
 * while it does (timers and other work run before its answer arrives, where the main thread's scoring holds them
 * back), and a bad row or a missing model folder fails with the same clear message as on the main thread.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../core/errors.ts';
import { trainHeavy, type HeavyItem } from '../../../detectors/heavy/model.ts';
import { generateSynthetic, synthFeatureNames } from '../../../detectors/heavy/synthetic.ts';
import { heavyThreadMode, killHeavyWorker, loadHeavyScoring, type HeavyScoring } from '../../../detectors/heavy/threaded.ts';

const K = 8;
const names = synthFeatureNames(2);
const gen = (n: number, seed: number) => generateSynthetic({ n, maxHistory: K + 2, noiseFeatures: 2, fraudRate: 0.1, seed });

let dir: string;
let worker: HeavyScoring;
let main: HeavyScoring;

beforeAll(async () => {
  const rows = gen(600, 21);
  const model = await trainHeavy({ sequences: rows.map((r) => r.history), currents: rows.map((r) => r.current), labels: rows.map((r) => r.label), featureNames: names, k: K, epochs: 1 });
  dir = await mkdtemp(path.join(os.tmpdir(), 'heavy-thread-'));
  await model.save(dir);
  model.dispose();
  worker = await loadHeavyScoring(dir, 'worker');
  main = await loadHeavyScoring(dir, 'main');
}, 120_000);

afterAll(async () => {
  worker?.dispose();
  main?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `score` and reports whether a timer set before it, and turns of the event loop, ran before it answered. */
async function loopWhile(score: () => Promise<number[]>): Promise<{ timerFirst: boolean; turns: number; scored: number }> {
  let timerFired = false;
  let turns = 0;
  let spinning = true;
  const spin = () => {
    if (!spinning) return;
    turns++;
    setImmediate(spin);
  };
  setTimeout(() => (timerFired = true), 0);
  setImmediate(spin);
  const out = await score();
  const timerFirst = timerFired;
  const seen = turns;
  spinning = false;
  return { timerFirst, turns: seen, scored: out.length };
}

describe('the heavy model on a worker thread', () => {
  const items: HeavyItem[] = gen(300, 22);

  it('scores on the worker, the same probabilities as the main thread', async () => {
    expect(worker.thread).toBe('worker');
    expect(main.thread).toBe('main');
    const a = await worker.predict(items);
    const b = await main.predict(items);
    expect(a).toHaveLength(items.length);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 6);
  });

  it('leaves the event loop free while it scores: a timer set before the call fires before the answer', async () => {
    const big = Array.from({ length: 20 }, () => items).flat();
    const off = await loopWhile(() => worker.predict(big));
    expect(off.scored).toBe(big.length);
    expect(off.timerFirst).toBe(true);
    expect(off.turns).toBeGreaterThan(0);
    // On the main thread the same call holds the loop: nothing else ran before its answer.
    const on = await loopWhile(() => main.predict(big));
    expect(on.scored).toBe(big.length);
    expect(on.timerFirst).toBe(false);
    expect(on.turns).toBe(0);
  });

  it('scores concurrent calls each with its own rows', async () => {
    const [a, b] = await Promise.all([worker.predict(items.slice(0, 10)), worker.predict(items.slice(10, 30))]);
    const whole = await worker.predict(items.slice(0, 30));
    expect([...a, ...b]).toEqual(whole);
  });

  it('a worker that died is started again on the next call, which loads the model again', async () => {
    const before = await worker.predict(items.slice(0, 20));
    await killHeavyWorker();
    expect(await worker.predict(items.slice(0, 20))).toEqual(before);
  });

  it('a row of the wrong width fails with what to fix; a missing folder is not a reason to fall back', async () => {
    await expect(worker.predict([{ history: [], current: new Float64Array(2) }])).rejects.toThrow(/item 0: current has 2 features; the heavy model expects 5/);
    await expect(loadHeavyScoring('/nonexistent/heavy', 'worker')).rejects.toMatchObject({ code: ErrorCodes.MODEL_NOT_FOUND, message: expect.stringContaining('model.json') });
  });

  it('HEAVY_THREAD picks the thread and a wrong value says what to use', () => {
    expect(heavyThreadMode({})).toBe('worker');
    expect(heavyThreadMode({ HEAVY_THREAD: 'Main' })).toBe('main');
    expect(() => heavyThreadMode({ HEAVY_THREAD: 'gpu' })).toThrow(/HEAVY_THREAD=gpu .*worker .* or main/);
  });
});
