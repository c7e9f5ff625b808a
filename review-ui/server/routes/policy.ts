/** The Policy page: the current policy and its history, edits, a preview on recent samples, rollback. */
import { Router } from 'express';
import { PolicyInputSchema, PolicyRollbackBodySchema, PolicySchema, type Decision } from '../../../core/contracts.ts';
import type { RedisPolicyStore } from '../../../state/policy.ts';
import type { RedisSampleStore } from '../../../state/samples.ts';
import type { AuditLog } from '../audit.ts';
import type { LiveFeed } from '../live.ts';
import { parseBody, who } from '../middleware.ts';
import { VERSION_RE } from '../../../detectors/version-names.ts';
import { previewPolicy, servedProbability } from '../preview.ts';
import { SERVED_WINDOW } from './models.ts';
import { PolicyPreviewRequestSchema, type FilePreviewSource } from '../file-preview-source.ts';
import { UserInputError } from '../../../core/errors.ts';

export interface PolicyDeps {
  policies: RedisPolicyStore;
  samples: RedisSampleStore;
  audit: AuditLog;
  feed: LiveFeed;
  /** Where the served version's card (its calibrator) is read for the preview's p(fraud). */
  modelDir?: string;
  /** Labelled replay files to preview on (PREVIEW_FILES_DIR); without it a preview is on live samples only. */
  files?: FilePreviewSource;
}

/**
 * Amount rules compare minor units whatever the transaction's currency, so the Policy page shows them in the
 * currency most recent decisions were in and names the others it applies to as well.
 */
export function amountCurrencies(decisions: ReadonlyArray<Pick<Decision, 'tx'>>): { currency: string | null; seen: string[] } {
  const counts = new Map<string, number>();
  for (const d of decisions) counts.set(d.tx.currency, (counts.get(d.tx.currency) ?? 0) + 1);
  const seen = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([c]) => c);
  return { currency: seen[0] ?? null, seen };
}

/** A policy edit from the console: PolicyInputSchema, and modelVersion (when given) a version name by VERSION_RE. */
export const PolicyEditSchema = PolicyInputSchema.superRefine((p, ctx) => {
  if (p.modelVersion !== undefined && !VERSION_RE.test(p.modelVersion)) {
    ctx.addIssue({ code: 'custom', path: ['modelVersion'], message: 'a model version name (v<UTC time>, e.g. v20261130T160545082Z)' });
  }
});

export function policyRouter({ policies, samples, audit, feed, modelDir, files }: PolicyDeps): Router {
  const r = Router();
  r.get('/policy', async (_req, res) => {
    const [current, history, sampleCount] = await Promise.all([policies.current(), policies.history(50), samples.count()]);
    res.json({ current, history, sampleCount, amounts: amountCurrencies(feed.recentDecisions(SERVED_WINDOW)) });
  });

  r.put('/policy', async (req, res) => {
    const input = parseBody(PolicyEditSchema, req.body);
    const before = await policies.current();
    const after = await policies.update(input, who(res));
    await audit.record({ who: who(res), action: 'policy.update', target: 'policy', before, after });
    res.json({ current: after });
  });

  r.get('/policy/preview-files', async (_req, res) => {
    res.json(files ? await files.list() : { dir: null, maxRows: 0, files: [] });
  });

  r.post('/policy/preview', async (req, res) => {
    const body = parseBody(PolicyPreviewRequestSchema, req.body);
    const current = await policies.current();
    const proposed = PolicySchema.parse({ ...body.policy, version: current.version + 1, updatedAt: Date.now(), updatedBy: who(res) });
    if (body.source) {
      if (!files) throw new UserInputError('source: this console previews on live samples only (no preview files folder)');
      if ((req.body as { samples?: unknown }).samples !== undefined) throw new UserInputError('give either samples (the last N live samples) or source (a labelled file), not both');
      res.json(await files.preview(current, proposed, body.source));
      return;
    }
    const [recent, served] = await Promise.all([samples.recent(body.samples), modelDir ? servedProbability(modelDir, current) : undefined]);
    res.json(previewPolicy(current, proposed, recent, served));
  });

  r.post('/policy/rollback', async (req, res) => {
    const body = parseBody(PolicyRollbackBodySchema, req.body);
    const before = await policies.current();
    const after = await policies.rollback(body.version, who(res));
    await audit.record({
      who: who(res),
      action: 'policy.rollback',
      target: 'policy',
      before: { version: before.version, modelVersion: before.modelVersion ?? null },
      after: { version: after.version, from: body.version, modelVersion: after.modelVersion ?? null },
    });
    res.json({ current: after });
  });
  return r;
}
