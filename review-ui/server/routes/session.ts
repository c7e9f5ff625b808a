/** Logging in and out, and who is logged in. */
import { Router } from 'express';
import type { AuditLog } from '../../../state/audit.ts';
import { loginRoute, type LoginLimiter, type Session, type SessionStore, type UserStore } from '../auth.ts';
import type { LiveFeed } from '../live.ts';
import { cookieOptions, sessionCookieName, who } from '../middleware.ts';

export interface SessionDeps {
  users: UserStore;
  sessions: SessionStore;
  limiter: LoginLimiter;
  audit: AuditLog;
  feed: LiveFeed;
}

/** POST /api/login: open (no session yet). */
export function loginRouter(d: SessionDeps): Router {
  const r = Router();
  r.post(
    '/login',
    loginRoute({
      users: d.users,
      sessions: d.sessions,
      limiter: d.limiter,
      audit: d.audit,
      currentSid: (res) => res.locals.sid,
      setCookie: (req, res, sid) => res.cookie(sessionCookieName(req), sid, { ...cookieOptions(req), maxAge: d.sessions.ttlSeconds * 1000 }),
    }),
  );
  return r;
}

/** GET /api/session, POST /api/logout (behind the session guard). */
export function sessionRouter(d: SessionDeps): Router {
  const r = Router();
  r.get('/session', (_req, res) => {
    const s = res.locals.session as Session;
    res.json({ user: s.user, role: s.role, csrf: s.csrf });
  });
  r.post('/logout', async (req, res) => {
    const sid = res.locals.sid;
    await d.sessions.destroy(sid);
    if (sid) d.feed.dropSession(sid);
    await d.audit.record({ who: who(res), action: 'logout', target: 'session' });
    res.clearCookie(sessionCookieName(req), cookieOptions(req));
    res.json({ ok: true });
  });
  return r;
}
