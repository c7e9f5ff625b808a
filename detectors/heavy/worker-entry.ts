/**
 * The heavy model's worker thread (detectors/heavy/threaded.ts starts it): loads model folders and scores packed rows
 * off the stage's event loop. One request at a time per message; answers carry the request's id.
 */
import { parentPort } from 'node:worker_threads';
import { FraudstreamError } from '../../core/errors.ts';
import { loadHeavy } from './io.ts';
import type { HeavyModel } from './model.ts';
import { unpackRows, type PackedRows } from './rows.ts';

export type HeavyRequest =
  | { op: 'load'; id: number; dir: string }
  | { op: 'predict'; id: number; model: number; rows: PackedRows }
  | { op: 'save'; id: number; model: number; dir: string }
  | { op: 'dispose'; id: number; model: number };

export type HeavyReply =
  | { id: number; ok: true; model?: number; dim?: number; probabilities?: Float64Array }
  | { id: number; ok: false; message: string; code?: string };

const port = parentPort;
if (!port) throw new Error('detectors/heavy/worker-entry.ts runs as a worker thread (detectors/heavy/threaded.ts starts it)');
const models = new Map<number, HeavyModel>();
let nextModel = 1;

async function handle(m: HeavyRequest): Promise<HeavyReply> {
  if (m.op === 'load') {
    const h = await loadHeavy(m.dir);
    const key = nextModel++;
    models.set(key, h);
    return { id: m.id, ok: true, model: key, dim: h.featureNames.length };
  }
  const h = models.get(m.model);
  if (m.op === 'dispose') {
    h?.dispose();
    models.delete(m.model);
    return { id: m.id, ok: true };
  }
  if (!h) throw new Error(`heavy worker: no model ${m.model} (disposed, or loaded in a worker that has since restarted)`);
  if (m.op === 'save') {
    await h.save(m.dir);
    return { id: m.id, ok: true };
  }
  return { id: m.id, ok: true, probabilities: Float64Array.from(h.predictSync(unpackRows(m.rows))) };
}

port.on('message', (m: HeavyRequest) => {
  handle(m).then(
    (reply) => port.postMessage(reply, reply.ok && reply.probabilities ? [reply.probabilities.buffer as ArrayBuffer] : []),
    (err: unknown) => port.postMessage({ id: m.id, ok: false, message: err instanceof Error ? err.message : String(err), ...(err instanceof FraudstreamError ? { code: err.code } : {}) } satisfies HeavyReply),
  );
});
