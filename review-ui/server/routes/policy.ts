/** The Policy page: the current policy and its history, edits, a preview on recent samples, rollback. */
import { Router } from 'express';
import { PolicyInputSchema, PolicyRollbackBodySchema, PolicySchema, type Decision, type PolicyInput } from '../../../core/contracts.ts';
import type { RedisPolicyStore } from '../../../state/policy.ts';
import type { RedisSampleStore } from '../../../state/samples.ts';
import type { AuditLog } from '../../../state/audit.ts';
import type { LiveFeed } from '../live.ts';
import { parseBody, who } from '../middleware.ts';
import { checkVersion } from '../../../detectors/version-names.ts';
import { UserInputError } from '../../../core/errors.ts';
import { previewPolicy, servedProbability } from '../preview.ts';
import { SERVED_WINDOW } from './models.ts';
import { PolicyPreviewRequestSchema, type FilePreviewSource } from '../file-preview-source.ts';

export interface PolicyDeps {
  policies: RedisPolicyStore;
  samples: RedisSampleStore;
  audit: AuditLog;
  feed: LiveFeed;
  /** Where model versions live: a new modelVersion must be one (detectors/version-names.ts's rule); the preview reads the served version's calibrator there. */
  modelDir: string;
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

/** A policy edit from the console: PolicyInputSchema (modelVersion, when given, a version name by MODEL_VERSION_NAME). */
export const PolicyEditSchema = PolicyInputSchema;

/**
 * PUT /api/policy's body: the policy's content plus `baseVersion`, the version the edit was made on (the `version`
 * of GET /api/policy's `current`). Required: a client that does not say what it edited could silently undo a change
 * made meanwhile (a promotion, another admin's edit), so it gets a 400 saying what to send rather than a save.
 */
export function parsePolicyEdit(body: unknown): { input: PolicyInput; baseVersion: number } {
  const { baseVersion, ...content } = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  if (typeof baseVersion !== 'number' || !Number.isSafeInteger(baseVersion) || baseVersion < 1) {
    throw new UserInputError(
      `baseVersion: ${baseVersion === undefined ? 'missing' : 'not a positive integer'}; send the version your edit is based on (current.version from GET /api/policy) with the policy's content, e.g. { "baseVersion": 7, "thresholds": ..., "rules": ..., "lists": ..., "review": ... }. A stale one is answered 409 (reload and redo the change)`,
    );
  }
  return { input: parseBody(PolicyEditSchema, content), baseVersion };
}

/** Refuses (400) a modelVersion that is not a model version under modelDir; the one the policy already names may stay. */
async function checkModelVersion(modelDir: string, name: string | undefined, current: string | undefined): Promise<void> {
  if (name === undefined || name === current) return;
  const c = await checkVersion(modelDir, name);
  if (!('version' in c)) throw new UserInputError(`modelVersion: ${c.reason}`);
}

export function policyRouter({ policies, samples, audit, feed, modelDir, files }: PolicyDeps): Router {
  const r = Router();
  r.get('/policy', async (_req, res) => {
    const [current, history, sampleCount] = await Promise.all([policies.current(), policies.history(50), samples.count()]);
    res.json({ current, history, sampleCount, amounts: amountCurrencies(feed.recentDecisions(SERVED_WINDOW)) });
  });

  r.put('/policy', async (req, res) => {
    const { input, baseVersion } = parsePolicyEdit(req.body);
    const before = await policies.current();
    await checkModelVersion(modelDir, input.modelVersion, before.modelVersion);
    // Compare-and-set in the store: a version saved since the page loaded (or being saved now) answers 409.
    const after = await policies.update(input, who(res), { ifVersion: baseVersion });
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
