/** Case work beyond one verdict (issue 21): linked cases, a bulk verdict over them, and a case exported as a report. */
import { createHash } from 'node:crypto';
import { Router } from 'express';
import type { Case } from '../../../core/contracts.ts';
import { BulkVerdictBodySchema, ExportFormatSchema } from '../../../core/contracts-cases.ts';
import type { CaseClaims } from '../../../state/case-claims.ts';
import { REVIEW_CLOSED_KEEP, type RedisReviewQueue } from '../../../state/review.ts';
import type { SearchIndex } from '../../../state/search.ts';
import type { AuditLog } from '../../../state/audit.ts';
import { cardNorm } from '../card.ts';
import type { LiveFeed } from '../live.ts';
import { intQuery, parseBody, who } from '../middleware.ts';
import { shiftView, slaClock } from '../pure/shift.ts';
import { CASE_EXPORT_VERSION, EXPORT_STYLE, caseExportHtml, type CaseExport } from '../pure/case-export.ts';
import { linkedCases, type LinkedCase } from '../pure/linked.ts';
import type { VerdictService } from '../verdict.ts';
import { UserInputError } from '../../../core/errors.ts';
import { readCaseBaseline, type BaselineReader } from '../baseline.ts';

/** Linked cases are looked for among the open queue (bounded by the policy's review capacity) and this many recently closed. */
const LINK_OPEN_MAX = 1_000;
const LINK_CLOSED_MAX = 200;

export async function findLinked(queue: RedisReviewQueue, c: Case): Promise<LinkedCase[]> {
  const [open, closed] = await Promise.all([queue.listOpen(LINK_OPEN_MAX), queue.listClosed(LINK_CLOSED_MAX)]);
  return linkedCases(c, [...open, ...closed]);
}

export interface CasesDeps {
  queue: RedisReviewQueue;
  claims: CaseClaims;
  feed: LiveFeed;
  index: SearchIndex;
  audit: AuditLog;
  verdicts: VerdictService;
  slaMinutes: () => Promise<number>;
  baseline: BaselineReader;
}

/** Audit entries read to find when each case was claimed (newest first). */
const SHIFT_AUDIT_READ = 5_000;

const STYLE_HASH = `'sha256-${createHash('sha256').update(EXPORT_STYLE).digest('base64')}'`;
/** The export page runs nothing and loads nothing: its one inline stylesheet is allowed by its hash. */
const EXPORT_CSP = `default-src 'none'; style-src ${STYLE_HASH}; img-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

export function casesRouter({ queue, claims, feed, index, audit, verdicts, slaMinutes, baseline }: CasesDeps): Router {
  const r = Router();

  // The Shift page: per analyst over the last `hours`, and the open cases against the SLA.
  r.get('/shift', async (req, res) => {
    const hours = intQuery(req.query.hours, 'hours', 8, 72);
    const [closed, open, entries, sla] = await Promise.all([queue.listClosed(REVIEW_CLOSED_KEEP), queue.listOpen(LINK_OPEN_MAX), audit.list(SHIFT_AUDIT_READ), slaMinutes()]);
    const claimedAt = new Map<string, number>();
    for (const e of entries) {
      if (e.action !== 'case.claim' || !e.target.startsWith('case:')) continue;
      const key = `${e.target.slice('case:'.length)}|${e.who}`;
      if (!claimedAt.has(key)) claimedAt.set(key, e.at);
    }
    const now = Date.now();
    const truth = await queue.groundTruth(closed.map((c) => c.caseId));
    const held = await claims.viewMany(open.map((c) => c.caseId));
    const clocks = open
      .map((c) => ({ caseId: c.caseId, createdAt: c.createdAt, cardId: c.cardId, merchantName: c.tx.merchantName, amountMinor: c.tx.amountMinor, currency: c.tx.currency, holder: held.get(c.caseId)?.holder ?? null, ...slaClock(c.createdAt, now, sla) }))
      .sort((a, b) => a.leftMinutes - b.leftMinutes);
    res.json({ ...shiftView(closed, claimedAt, truth, now, hours), slaMinutes: sla, open: clocks, overdue: clocks.filter((c) => c.overdue).length, now });
  });

  r.get('/cases/:id/linked', async (req, res) => {
    const c = await queue.get(req.params.id as string);
    if (!c) {
      res.status(404).json({ error: `no case ${req.params.id}` });
      return;
    }
    res.json({ caseId: c.caseId, linked: await findLinked(queue, c) });
  });

  // One verdict and one note over several cases; each is closed, audited and labelled on its own.
  r.post('/cases/bulk-verdict', async (req, res) => {
    const body = parseBody(BulkVerdictBodySchema, req.body);
    const me = who(res);
    const { results, waiting } = await verdicts.decideMany(body.caseIds, body.verdict, body.note, me);
    const closed = results.filter((x) => x.outcome === 'closed');
    for (const x of closed) {
      await audit.record({
        who: me,
        action: body.verdict === 'approve' ? 'case.approve' : 'case.confirm_fraud',
        target: `case:${x.caseId}`,
        before: { status: 'open', risk: x.closed.risk, txId: x.closed.txId },
        after: { status: x.closed.status, note: body.note, closedAt: x.closed.closedAt, decision: x.decision.action, label: x.label.isFraud ? 'fraud' : 'legitimate', bulk: { cases: body.caseIds.length, decided: closed.length } },
        ip: req.ip,
      });
    }
    const summary = results.map((x) => (x.outcome === 'closed' ? { caseId: x.caseId, outcome: x.outcome, status: x.closed.status, decision: x.decision.action } : x));
    res.status(closed.length === 0 ? 409 : 200).json({ results: summary, decided: closed.length, published: waiting === 0, waiting, ...(closed.length === 0 ? { error: 'no case was decided: each is closed, unknown or held by someone else (see results)' } : {}) });
  });

  r.get('/cases/:id/export', async (req, res) => {
    const raw = req.query.format ?? 'json';
    const format = ExportFormatSchema.safeParse(raw);
    if (!format.success) throw new UserInputError(`format: json or html (got ${JSON.stringify(String(raw).slice(0, 20))})`);
    const c = await queue.get(req.params.id as string);
    if (!c) {
      res.status(404).json({ error: `no case ${req.params.id}` });
      return;
    }
    const [history, linked, trail, decision, claim, against] = await Promise.all([
      feed.cardHistory(c.cardId, 20),
      findLinked(queue, c),
      audit.list(500, { target: `case:${c.caseId}` }),
      index.get(c.txId),
      claims.view(c.caseId),
      readCaseBaseline(baseline, c),
    ]);
    const doc: CaseExport = {
      exportVersion: CASE_EXPORT_VERSION,
      exportedAt: Date.now(),
      exportedBy: who(res),
      case: c,
      decision: decision ?? null,
      claim: claim ?? null,
      baseline: against,
      norm: cardNorm(c.tx, history),
      history,
      linked,
      // Oldest first: a report reads as the story of the case.
      audit: [...trail].reverse(),
    };
    await audit.record({ who: who(res), action: 'case.export', target: `case:${c.caseId}`, after: { format: format.data }, ip: req.ip });
    const name = `case-${c.caseId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
    if (format.data === 'json') {
      res.set('Content-Disposition', `attachment; filename="${name}.json"`);
      res.json(doc);
      return;
    }
    res.set('Content-Security-Policy', EXPORT_CSP);
    res.set('Content-Disposition', `inline; filename="${name}.html"`);
    res.type('html').send(caseExportHtml(doc));
  });
  return r;
}
