/** The Review queue page: open and closed cases, one case with its card's history, and the verdict. */
import { Router } from 'express';
import { VerdictBodySchema } from '../../../core/contracts.ts';
import type { RedisReviewQueue } from '../../../state/review.ts';
import type { AuditLog } from '../audit.ts';
import { cardNorm, travelFromPrevious } from '../card.ts';
import type { LiveFeed } from '../live.ts';
import { intQuery, parseBody, who } from '../middleware.ts';
import type { VerdictService } from '../verdict.ts';

export interface QueueDeps {
  queue: RedisReviewQueue;
  feed: LiveFeed;
  audit: AuditLog;
  verdicts: VerdictService;
}

export function queueRouter({ queue, feed, audit, verdicts }: QueueDeps): Router {
  const r = Router();
  r.get('/cases', async (req, res) => {
    const limit = intQuery(req.query.limit, 'limit', 100, 1000);
    const [open, total, closed] = await Promise.all([queue.listOpen(limit), queue.openCount(), queue.listClosed(20)]);
    res.json({ open, openCount: total, closed, now: Date.now() });
  });

  r.get('/cases/:id', async (req, res) => {
    const c = await queue.get(req.params.id as string);
    if (!c) {
      res.status(404).json({ error: `no case ${req.params.id}` });
      return;
    }
    const history = await feed.cardHistory(c.cardId, 20);
    res.json({
      case: c,
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
    const done = await verdicts.decide(id, body.verdict, body.note, who(res));
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
