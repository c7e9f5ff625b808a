/** The Search page: decisions and cases in the console's bounded index (state/search.ts), as JSON or CSV. */
import { Router } from 'express';
import { SearchQuerySchema, searchQueryInput } from '../../../core/contracts-cases.ts';
import { MODEL_IDS } from '../../../core/model-registry.ts';
import { SEARCH_MAX_ROWS, SEARCH_TTL_SECONDS, type SearchIndex } from '../../../state/search.ts';
import { caseIdOfTx, type RedisReviewQueue } from '../../../state/review.ts';
import type { AuditLog } from '../../../state/audit.ts';
import { parseBody, who } from '../middleware.ts';
import { decisionsCsv } from '../pure/csv.ts';

export interface SearchDeps {
  index: SearchIndex;
  queue: RedisReviewQueue;
  audit: AuditLog;
  scenarioOf: (txId: string) => string | null | undefined;
}

export function searchRouter({ index, queue, audit, scenarioOf }: SearchDeps): Router {
  const r = Router();
  r.get('/search', async (req, res) => {
    const q = parseBody(SearchQuerySchema, searchQueryInput(req.query as Record<string, unknown>));
    const found = await index.search({ ...q });
    // A REVIEW, or a verdict's final decision, belongs to a case: link it when the case is still kept.
    const withCase = await Promise.all(
      found.rows.map(async (d) => {
        const scenario = scenarioOf(d.txId);
        const row = { ...d, ...(scenario !== undefined ? { scenario } : {}) };
        if (d.action !== 'REVIEW' && d.stage !== 'review') return row;
        const c = await queue.get(caseIdOfTx(d.txId));
        return c ? { ...row, caseId: c.caseId, caseStatus: c.status } : row;
      }),
    );
    if (q.format === 'csv') {
      // An export leaves the console: who took what is worth a line in the audit.
      await audit.record({ who: who(res), action: 'search.export_csv', target: 'search', after: { query: { ...q, format: undefined }, rows: withCase.length }, ip: req.ip });
      res.set('Content-Type', 'text/csv; charset=utf-8');
      res.set('Content-Disposition', `attachment; filename="fraudstream-search-${new Date().toISOString().replace(/[:.]/g, '-')}.csv"`);
      res.send(decisionsCsv(withCase, MODEL_IDS));
      return;
    }
    res.json({ rows: withCase, scanned: found.scanned, complete: found.complete, via: found.via, indexed: await index.size(), bound: { maxRows: SEARCH_MAX_ROWS, days: SEARCH_TTL_SECONDS / 86_400 } });
  });
  return r;
}
