/** The Live page: the decision stream (SSE), the latest decisions and the counters. */
import { Router } from 'express';
import type { GuardService } from '../../../router/ops/guard.ts';
import type { LiveFeed } from '../live.ts';
import { intQuery } from '../middleware.ts';
import type { SlaStatus } from '../../../router/pure/money.ts';

export interface LiveDeps {
  feed: LiveFeed;
  queue: { openCount(): Promise<number> };
  /** The oldest open case's age against the policy's SLA (router/pure/money.ts slaStatus). */
  sla: () => Promise<SlaStatus>;
  /** The guard rail's state as the ops service keeps it. */
  guard: Pick<GuardService, 'status'>;
}

export function liveRouter({ feed, queue, sla, guard }: LiveDeps): Router {
  const r = Router();
  r.get('/stream', (_req, res) => {
    res.set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    res.write('retry: 3000\n\n');
    feed.addClient(res, res.locals.sid as string);
  });
  r.get('/decisions/recent', (req, res) => {
    res.json({ decisions: feed.recentDecisions(intQuery(req.query.limit, 'limit', 200, 500)) });
  });
  r.get('/stats', async (_req, res) => {
    res.json({
      counts: feed.counts,
      byStage: feed.countsByStage,
      series: feed.series(120),
      openCases: await queue.openCount(),
      sla: await sla(),
      labels: feed.metrics.snapshot(),
      streams: { open: feed.clientCount, slowDropped: feed.slowClientsDropped },
      guard: await guard.status(),
    });
  });
  return r;
}
