/** Evidence per rule and list: hits, precision against labels, money caught (GET /api/rules/stats). */
import { Router } from 'express';
import type { RuleEvidence } from '../rule-stats.ts';
import { intQuery } from '../middleware.ts';

export function evidenceRouter({ evidence }: { evidence: RuleEvidence }): Router {
  const r = Router();
  r.get('/rules/stats', (req, res) => {
    res.json(evidence.stats(intQuery(req.query.minLabelled, 'minLabelled', 5, 100_000)));
  });
  return r;
}
