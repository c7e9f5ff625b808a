/** The Models page: versions under MODEL_DIR, which one the stages serve, promotion, and drift against live traffic. */
import { Router } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { RedisPolicyStore } from '../../../state/policy.ts';
import type { ShadowRecord } from '../../../state/shadow.ts';
import type { AuditLog } from '../../../state/audit.ts';
import { driftForVersion } from '../drift.ts';
import type { LiveFeed } from '../live.ts';
import { parseBody, who } from '../middleware.ts';
import { findModel, listModels } from '../models.ts';
import { ModelPromoteBodySchema } from '../../../core/contracts.ts';
import { promotionInput, servedModels } from '../serving.ts';
import { readShadowReport } from '../../../router/shadow/report.ts';
import { shadowRouter } from './shadow.ts';

/** A promotion may say it accepts an immature shadow report (the page's confirm step). */
const PromoteBodySchema = ModelPromoteBodySchema.extend({ confirmImmature: z.boolean().default(false) });

/** How many of the latest decisions the "which model do the stages serve" summary looks at. */
export const SERVED_WINDOW = 200;

export interface ModelsDeps {
  modelDir: string;
  redis: Redis;
  prefix: string;
  policies: RedisPolicyStore;
  audit: AuditLog;
  feed: LiveFeed;
  shadowRecord?: ShadowRecord;
}

export function modelsRouter({ modelDir, redis, prefix, policies, audit, feed, shadowRecord }: ModelsDeps): Router {
  const r = Router();
  r.use(shadowRouter({ modelDir, redis, prefix, audit, ...(shadowRecord ? { record: shadowRecord } : {}) }));
  r.get('/models', async (_req, res) => {
    const [versions, current] = await Promise.all([listModels(modelDir), policies.current()]);
    res.json({
      modelDir,
      versions,
      activeInPolicy: current.modelVersion ?? null,
      policyVersion: current.version,
      served: servedModels(feed.recentDecisions(SERVED_WINDOW)),
      live: feed.metrics.snapshot(),
    });
  });

  r.get('/drift', async (req, res) => {
    const current = await policies.current();
    const body = await driftForVersion(redis, prefix, modelDir, req.query.version, current);
    if (!body) {
      res.status(404).json({ error: `no model version ${String(req.query.version ?? current.modelVersion)} under MODEL_DIR (${modelDir})` });
      return;
    }
    res.json(body);
  });

  r.post('/models/promote', async (req, res) => {
    const body = parseBody(PromoteBodySchema, req.body);
    const model = await findModel(modelDir, body.version);
    if (!model) {
      res.status(404).json({ error: `no model version ${body.version} under MODEL_DIR (${modelDir})` });
      return;
    }
    if (!model.card) {
      res.status(409).json({ error: `model ${body.version} cannot be promoted: model-card.json ${model.error ?? 'unreadable'}` });
      return;
    }
    const before = await policies.current();
    if (body.policyVersion !== undefined && body.policyVersion !== before.version) {
      res.status(409).json({ error: `the policy changed since the page loaded (now v${before.version}, page had v${body.policyVersion}); reload and try again` });
      return;
    }
    if (before.modelVersion === body.version && !body.useCardThresholds) {
      res.status(409).json({ error: `policy v${before.version} already serves ${body.version}` });
      return;
    }
    // Shadow evidence whose labels have not come back yet is not evidence: say so, and promote only when confirmed.
    const shadow = await readShadowReport(redis, prefix, body.version);
    if (shadow?.immature && !body.confirmImmature) {
      res.status(409).json({
        error: `the shadow report for ${body.version} is immature: ${(shadow.maturity * 100).toFixed(1)}% of its expected labels have come back (mature at ${(shadow.matureAt * 100).toFixed(0)}%); confirm to promote anyway`,
        immature: true,
        maturity: shadow.maturity,
        matureAt: shadow.matureAt,
        transactions: shadow.transactions,
        labelled: shadow.labelled,
      });
      return;
    }
    const input = promotionInput(before, body.version, body.useCardThresholds ? (model.card.thresholds ?? null) : undefined);
    const after = await policies.update(input, who(res), body.policyVersion === undefined ? {} : { ifVersion: body.policyVersion });
    await audit.record({
      who: who(res),
      action: 'model.promote',
      target: 'policy',
      before: { version: before.version, modelVersion: before.modelVersion ?? null, thresholds: before.thresholds },
      after: { version: after.version, modelVersion: after.modelVersion ?? null, thresholds: after.thresholds, useCardThresholds: body.useCardThresholds, ...(shadow ? { shadow: { maturity: shadow.maturity, immature: shadow.immature, confirmedImmature: shadow.immature } } : {}) },
      ip: req.ip,
    });
    res.json({ current: after });
  });
  return r;
}
