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
  /** Streams one session may hold open at once (UI_SSE_PER_SESSION); the next is refused with 429. */
  maxStreamsPerSession: number;
}

export function liveRouter({ feed, queue, sla, guard, maxStreamsPerSession }: LiveDeps): Router {
  const r = Router();
  r.get('/stream', (_req, res) => {
    // Each stream holds a socket and a share of every broadcast: one session (a script, a leaked cookie) cannot open
    // them without bound. Counted per console process; a closed tab's stream leaves as soon as its socket closes.
    const open = feed.streamsOf(res.locals.sid as string);
    if (open >= maxStreamsPerSession) {
      res
        .status(429)
        .set('Retry-After', '5')
        .json({ error: `too many live streams for this session: ${open} open, at most ${maxStreamsPerSession} (UI_SSE_PER_SESSION); close another tab of the console and reload` });
      return;
    }
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
