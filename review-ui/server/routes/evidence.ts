/** Evidence per rule and list: hits, precision against labels, money caught (GET /api/rules/stats), as the ops service counts them. */
import { Router } from 'express';
import { ruleStatsFromCounts } from '../../../router/pure/guard.ts';
import type { RuleEvidenceStore } from '../../../state/rule-evidence.ts';
import { intQuery } from '../middleware.ts';

export function evidenceRouter({ evidence }: { evidence: Pick<RuleEvidenceStore, 'read'> }): Router {
  const r = Router();
  r.get('/rules/stats', async (req, res) => {
    const minLabelled = intQuery(req.query.minLabelled, 'minLabelled', 5, 100_000);
    const counts = await evidence.read();
    res.json({ rules: ruleStatsFromCounts(counts.rules, minLabelled), transactions: counts.transactions, labelled: counts.labelled });
  });
  return r;
}
