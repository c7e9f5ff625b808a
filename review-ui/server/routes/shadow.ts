/**
 * The shadow challenger on the Models page: its report, start and stop. Mounted under /models, so the admin role
 * guard of ADMIN_PATHS and the CSRF check of every API POST apply; start and stop are audited like model.promote.
 */
import { Router } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { MODEL_VERSION_NAME } from '../../../core/contracts.ts';
import { startShadow, stopShadow } from '../../../router/shadow/control.ts';
import { readShadowReport, type ShadowReportView } from '../../../router/shadow/report.ts';
import type { ShadowRecord } from '../../../state/shadow.ts';
import type { AuditLog } from '../../../state/audit.ts';
import { parseBody, who } from '../middleware.ts';

export const ShadowStartBodySchema = z
  .object({
    version: z.string().regex(MODEL_VERSION_NAME, 'a model version folder name (letters, digits, . _ -)'),
    /** "model": route the challenger with its own thresholds.json instead of the live policy's. */
    thresholds: z.enum(['policy', 'model']).default('policy'),
    matureAt: z.number().gt(0).max(1).optional(),
  })
  .strict();

/** A report reads up to 200,000 pairs: an open Models page polls it, so one read serves every page for this long. */
export const SHADOW_REPORT_CACHE_MS = 5_000;

export interface ShadowDeps {
  modelDir: string;
  redis: Redis;
  prefix: string;
  audit: AuditLog;
  /** The shadow topic the runs are recorded in (issue 18). */
  record?: ShadowRecord;
}

export function shadowRouter({ modelDir, redis, prefix, audit, record }: ShadowDeps): Router {
  const r = Router();
  const cache = new Map<string, { at: number; report: Promise<ShadowReportView | undefined> }>();
  const report = (model: string | undefined) => {
    const key = model ?? '';
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < SHADOW_REPORT_CACHE_MS) return hit.report;
    const fresh = readShadowReport(redis, prefix, model);
    cache.set(key, { at: Date.now(), report: fresh });
    fresh.catch(() => cache.delete(key));
    return fresh;
  };
  r.get('/models/shadow', async (req, res) => {
    const model = typeof req.query.version === 'string' && MODEL_VERSION_NAME.test(req.query.version) ? req.query.version : undefined;
    res.json({ report: (await report(model)) ?? null });
  });

  r.post('/models/shadow/start', async (req, res) => {
    const body = parseBody(ShadowStartBodySchema, req.body);
    const { run, replaced } = await startShadow(redis, prefix, modelDir, { model: body.version, by: who(res), thresholds: body.thresholds, matureAt: body.matureAt }, Date.now(), record);
    cache.clear();
    await audit.record({ who: who(res), action: 'shadow.start', target: 'shadow', before: replaced ? { model: replaced.model, startedAt: replaced.startedAt } : null, after: run, ip: req.ip });
    res.json({ run });
  });

  r.post('/models/shadow/stop', async (req, res) => {
    const stopped = await stopShadow(redis, prefix, who(res), record);
    cache.clear();
    if (!stopped) {
      res.status(409).json({ error: 'no shadow challenger is active' });
      return;
    }
    await audit.record({ who: who(res), action: 'shadow.stop', target: 'shadow', before: { model: stopped.model, startedAt: stopped.startedAt }, after: { stoppedAt: stopped.stoppedAt }, ip: req.ip });
    res.json({ run: stopped });
  });
  return r;
}
