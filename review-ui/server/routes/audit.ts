/** The Audit log page: who did what, newest first. */
import { Router } from 'express';
import type { AuditLog } from '../../../state/audit.ts';
import { intQuery } from '../middleware.ts';

export function auditRouter({ audit }: { audit: AuditLog }): Router {
  const r = Router();
  r.get('/audit', async (req, res) => {
    const target = typeof req.query.target === 'string' ? req.query.target : undefined;
    res.json({ entries: await audit.list(intQuery(req.query.limit, 'limit', 200, 2000), target ? { target } : {}) });
  });
  return r;
}
