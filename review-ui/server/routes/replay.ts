/** The Replay page: the simulator's status and its controls (start, stop, speed, inject a scenario). */
import { Router } from 'express';
import { ReplayBodySchema } from '../../../core/contracts.ts';
import type { AuditLog } from '../../../state/audit.ts';
import { parseBody, who } from '../middleware.ts';
import { NOT_DEMO, type ReplayController } from '../replay.ts';

export interface ReplayDeps {
  replay: ReplayController;
  audit: AuditLog;
}

export function replayRouter({ replay, audit }: ReplayDeps): Router {
  const r = Router();
  r.get('/replay', async (_req, res) => {
    res.json(await replay.status());
  });
  r.post('/replay', async (req, res) => {
    const body = parseBody(ReplayBodySchema, req.body);
    if (!replay.allows(body.action)) {
      res.status(403).json({ error: NOT_DEMO });
      return;
    }
    const before = await replay.status();
    const after = await replay.apply(body, who(res));
    await audit.record({ who: who(res), action: `replay.${body.action}`, target: 'replay', before: { running: before.running, rate: before.rate }, after: { ...body, running: after.running } });
    res.json(after);
  });
  return r;
}
