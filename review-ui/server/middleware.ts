/** The console's request pipeline pieces: security headers, session loading, the API guard (login + CSRF), roles, errors. */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import type { Logger } from '../../core/logger.ts';
import type { z } from 'zod';
import { describeZodError } from '../../core/contracts.ts';
import { ConflictError, ErrorCodes, FraudstreamError, UserInputError } from '../../core/errors.ts';
import { roleAllows, sessionRole, tokensEqual, type Role, type Session, type SessionStore } from './auth.ts';

export const SESSION_COOKIE = 'fs_sid';
/**
 * The session cookie's name over TLS (req.secure: TRUST_PROXY's proxy said X-Forwarded-Proto https). A browser takes
 * a `__Host-` cookie only with Secure, Path=/ and no Domain, so neither a sibling subdomain nor a plain-http response
 * can plant or overwrite it (session fixation). Over plain http (the loopback default) the name stays fs_sid: a
 * Secure cookie would not be sent back there.
 */
export const SESSION_COOKIE_TLS = '__Host-fs_sid';

/** The session cookie's name for this request: `__Host-fs_sid` over TLS, `fs_sid` over plain http. */
export const sessionCookieName = (req: Pick<Request, 'secure'>): string => (req.secure ? SESSION_COOKIE_TLS : SESSION_COOKIE);
export const CSRF_HEADER = 'x-csrf-token';

declare module 'express-serve-static-core' {
  interface Locals {
    session?: Session;
    sid?: string;
  }
}

/** Strict CSP: the pages load only their own scripts, styles and data. */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
  });
}

/** Loads the session (if any) named by the cookie into res.locals for every request. */
export function loadSession(sessions: SessionStore): RequestHandler {
  return async (req, res, next) => {
    // Over TLS only the __Host- cookie counts: a plain fs_sid there may have been planted by a plain-http response.
    const sid = (req.cookies as Record<string, string | undefined>)[sessionCookieName(req)];
    const session = await sessions.get(sid);
    if (session && sid) {
      res.locals.session = session;
      res.locals.sid = sid;
    }
    next();
  };
}

/** No Domain, ever (a __Host- cookie must not have one; without it the cookie stays with this very host). */
export const cookieOptions = (req: Request) => ({
  httpOnly: true,
  sameSite: 'strict' as const,
  secure: req.secure,
  path: '/',
});

/** Login required; a state-changing request also carries the session's CSRF token (synchronizer token) in a header. */
export function requireApiSession(req: Request, res: Response, next: NextFunction): void {
  if (!res.locals.session) {
    res.status(401).json({ error: 'not logged in' });
    return;
  }
  if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method) && !tokensEqual(req.get(CSRF_HEADER), res.locals.session.csrf)) {
    res.status(403).json({ error: `missing or wrong CSRF token (send it in the ${CSRF_HEADER} header)` });
    return;
  }
  next();
}

/** Refuses (403, naming the role needed) a session whose account's role does not include `needed`. Mount after requireApiSession. */
export function requireRole(needed: Role): RequestHandler {
  return (_req, res, next) => {
    const role = sessionRole(res.locals.session);
    if (!roleAllows(role, needed)) {
      res.status(403).json({ error: `this needs the ${needed} role; your account is ${role ?? 'without a role'}` });
      return;
    }
    next();
  };
}

export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};

/** The logged-in user's name (only inside routers behind requireApiSession). */
export const who = (res: Response): string => (res.locals.session as Session).user;

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new UserInputError(describeZodError(r.error));
  return r.data;
}

export function intQuery(raw: unknown, name: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 1 || n > max) throw new UserInputError(`${name}: an integer from 1 to ${max}`);
  return n;
}

export const apiNotFound: RequestHandler = (_req, res) => {
  res.status(404).json({ error: 'no such API route' });
};

/** User mistakes answer 4xx with what to fix; a missing service 503; anything else 500 with the details in the log only. */
export function errorHandler(log: Logger) {
  return (err: unknown, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'body: not valid JSON' });
    } else if (e.type === 'entity.too.large') {
      res.status(413).json({ error: 'body: too large' });
    } else if (err instanceof UserInputError) {
      res.status(400).json({ error: err.message });
    } else if (err instanceof ConflictError) {
      res.status(409).json({ ...err.details, error: err.message, conflict: true });
    } else if (err instanceof FraudstreamError && (err.code === ErrorCodes.MISSING_PREREQUISITE || err.code === ErrorCodes.SERVICE_UNAVAILABLE)) {
      res.status(503).json({ error: err.message });
    } else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: (err as Error).message });
    } else {
      log.error({ err }, 'request failed');
      res.status(500).json({ error: 'internal error (see the server log)' });
    }
  };
}
