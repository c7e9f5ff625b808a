/** The Audit log page: who did what, newest first. */
import { Router } from 'express';
import type { AuditEntry, AuditLog } from '../../../state/audit.ts';
import { Roles, roleAllows } from '../auth.ts';
import { intQuery } from '../middleware.ts';

/**
 * Targets whose content only admins may read (GET /api/policy and the Models page refuse analysts): their entries'
 * before/after (lists, limits, thresholds, challenger runs) would hand an analyst what those pages refuse.
 */
export const ADMIN_ONLY_TARGETS: ReadonlySet<string> = new Set(['policy', 'shadow']);

const versionOf = (v: unknown): { version: number } | undefined => {
  const n = (v as { version?: unknown } | null | undefined)?.version;
  return typeof n === 'number' ? { version: n } : undefined;
};

/**
 * What an analyst sees of an admin-only entry: who, when, which action on which target, and the policy version
 * numbers it went between; not the content. The chain fields go too (a MAC over content one cannot see checks nothing).
 */
export function redactForAnalyst(e: AuditEntry): AuditEntry & { redacted?: string } {
  if (!ADMIN_ONLY_TARGETS.has(e.target)) return e;
  const { before, after, prev: _p, hash: _h, ...rest } = e;
  const b = versionOf(before);
  const a = versionOf(after);
  return { ...rest, ...(b ? { before: b } : {}), ...(a ? { after: a } : {}), redacted: 'content shown to admins only' };
}

export function auditRouter({ audit }: { audit: AuditLog }): Router {
  const r = Router();
  r.get('/audit', async (req, res) => {
    const target = typeof req.query.target === 'string' ? req.query.target : undefined;
    const entries = await audit.list(intQuery(req.query.limit, 'limit', 200, 2000), target ? { target } : {});
    const admin = roleAllows(res.locals.session?.role, Roles.ADMIN);
    res.json({ entries: admin ? entries : entries.map(redactForAnalyst) });
  });
  return r;
}
