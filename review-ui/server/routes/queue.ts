/** The Review queue page: open and closed cases, one case with its card's history, and the verdict. */
import { Router } from 'express';
import { VerdictBodySchema } from '../../../core/contracts.ts';
import { ClaimBodySchema } from '../../../core/contracts-cases.ts';
import { CaseHeldError, type RedisReviewQueue } from '../../../state/review.ts';
import type { CaseClaims } from '../../../state/case-claims.ts';
import type { AuditLog } from '../../../state/audit.ts';
import { Roles, roleAllows, sessionRole } from '../auth.ts';
import { cardNorm, travelFromPrevious } from '../card.ts';
import type { LiveFeed } from '../live.ts';
import { intQuery, parseBody, who } from '../middleware.ts';
import type { VerdictService } from '../verdict.ts';
import { findLinked } from './cases.ts';
import { queueOrder } from '../pure/shift.ts';
import { readCaseBaseline, type BaselineReader } from '../baseline.ts';

export interface QueueDeps {
  queue: RedisReviewQueue;
  claims: CaseClaims;
  feed: LiveFeed;
  audit: AuditLog;
  verdicts: VerdictService;
  /** The policy's review SLA in minutes (review.slaMinutes). */
  slaMinutes: () => Promise<number>;
  /** What a case is explained against: the feature store now and the search index (explain against normal). */
  baseline: BaselineReader;
}

export function queueRouter({ queue, claims, feed, audit, verdicts, slaMinutes, baseline }: QueueDeps): Router {
  const r = Router();
  r.get('/cases', async (req, res) => {
    const limit = intQuery(req.query.limit, 'limit', 100, 1000);
    const [open, total, closed, sla] = await Promise.all([queue.listOpen(limit), queue.openCount(), queue.listClosed(20), slaMinutes()]);
    const held = await claims.viewMany(open.map((c) => c.caseId));
    const now = Date.now();
    // Overdue first, then unclaimed, then claimed (each part in the queue's order: expected loss, then age).
    const ordered = queueOrder(open, new Set(held.keys()), now, sla);
    res.json({ open: ordered, openCount: total, claims: Object.fromEntries(held), closed, now, me: who(res), slaMinutes: sla });
  });

  // "Next case": the most urgent case nobody holds, claimed for the caller in the same step.
  r.post('/cases/next', async (req, res) => {
    const next = await claims.claimNext(who(res));
    if (!next) {
      res.status(404).json({ error: 'no unclaimed open case' });
      return;
    }
    await audit.record({ who: who(res), action: 'case.claim', target: `case:${next.caseId}`, after: { expiresAt: next.expiresAt, via: 'next' }, ip: req.ip });
    res.json({ caseId: next.caseId, claim: { holder: who(res), expiresAt: next.expiresAt } });
  });

  // Opening a case claims it; the page calls this again to renew while it stays open.
  r.post('/cases/:id/claim', async (req, res) => {
    const id = req.params.id as string;
    const { renew } = parseBody(ClaimBodySchema, req.body);
    const result = await claims.claim(id, who(res), Date.now(), renew);
    if (result.outcome === 'lost') {
      res.status(409).json({ error: `your claim on case ${id} lapsed or was released; open the case again to claim it`, lost: true });
      return;
    }
    if (result.outcome === 'not_open') {
      const c = await queue.get(id);
      res.status(c ? 409 : 404).json({ error: c ? `case ${id} is not open: ${c.status}${c.closedBy ? ` by ${c.closedBy}` : ''}` : `no case ${id}` });
      return;
    }
    if (result.outcome === 'held') {
      res.status(409).json({ error: `case ${id} is being worked by ${result.holder}`, holder: result.holder, expiresAt: result.expiresAt });
      return;
    }
    if (result.outcome === 'claimed') await audit.record({ who: who(res), action: 'case.claim', target: `case:${id}`, after: { expiresAt: result.expiresAt }, ip: req.ip });
    res.json({ outcome: result.outcome, claim: { holder: result.holder, expiresAt: result.expiresAt }, ttlMs: claims.ttlMs });
  });

  // The holder lets a case go (leaving its page); an admin may release anyone's claim.
  r.post('/cases/:id/release', async (req, res) => {
    const id = req.params.id as string;
    const me = who(res);
    const current = await claims.view(id);
    if (!current) {
      res.json({ released: null });
      return;
    }
    const admin = roleAllows(sessionRole(res.locals.session), Roles.ADMIN);
    if (current.holder !== me && !admin) {
      res.status(403).json({ error: `case ${id} is held by ${current.holder}; only they or an admin can release it` });
      return;
    }
    const released = await claims.release(id, current.holder === me ? me : undefined);
    if (released) await audit.record({ who: me, action: 'case.release', target: `case:${id}`, before: { holder: released }, ip: req.ip });
    res.json({ released: released ?? null });
  });

  r.get('/cases/:id', async (req, res) => {
    const c = await queue.get(req.params.id as string);
    if (!c) {
      res.status(404).json({ error: `no case ${req.params.id}` });
      return;
    }
    const [history, against] = await Promise.all([feed.cardHistory(c.cardId, 20), readCaseBaseline(baseline, c)]);
    res.json({
      case: c,
      baseline: against,
      claim: (await claims.view(c.caseId)) ?? null,
      linked: await findLinked(queue, c),
      history,
      norm: cardNorm(c.tx, history),
      travel: travelFromPrevious(c.tx, history),
      audit: await audit.list(20, { target: `case:${c.caseId}` }),
      now: Date.now(),
    });
  });

  r.post('/cases/:id/verdict', async (req, res) => {
    const body = parseBody(VerdictBodySchema, req.body);
    const id = req.params.id as string;
    const before = await queue.get(id);
    if (!before) {
      res.status(404).json({ error: `no case ${id}` });
      return;
    }
    let done: Awaited<ReturnType<VerdictService['decide']>>;
    try {
      done = await verdicts.decide(id, body.verdict, body.note, who(res));
    } catch (err) {
      if (!(err instanceof CaseHeldError)) throw err;
      res.status(409).json({ error: err.message, holder: err.holder });
      return;
    }
    if (!done) {
      const now = await queue.get(id);
      res.status(409).json({ error: `case ${id} is not open: ${now?.status ?? 'unknown'}${now?.closedBy ? ` by ${now.closedBy}` : ''}` });
      return;
    }
    await audit.record({
      who: who(res),
      action: body.verdict === 'approve' ? 'case.approve' : 'case.confirm_fraud',
      target: `case:${id}`,
      before: { status: before.status, risk: before.risk, txId: before.txId },
      after: { status: done.closed.status, note: body.note, closedAt: done.closed.closedAt, decision: done.decision.action, label: done.label.isFraud ? 'fraud' : 'legitimate' },
      ip: req.ip,
    });
    res.json({ case: done.closed, decision: done.decision, label: done.label, published: done.waiting === 0, waiting: done.waiting });
  });
  return r;
}
