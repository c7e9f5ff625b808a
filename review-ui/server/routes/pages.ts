/** The two HTML pages (login, console) and their assets, served from the built front end. */
import express, { Router, type Request, type Response } from 'express';
import { uiBuildStatus, type UiBuildStatus } from '../../build.ts';

export const NOT_BUILT = 'The review UI is not built: run `npm run build:ui` (`npm run demo` and `npm run ui` build it when missing)';

/** `build` is the status checked at start; it is checked again whenever a page is missing, so a later build is served. */
export function pagesRouter(distDir: string, initial: UiBuildStatus): Router {
  let build = initial;
  const page = (file: string) => async (_req: Request, res: Response) => {
    if (build.state === 'missing') build = await uiBuildStatus(distDir);
    if (build.state === 'missing') {
      res.status(503).type('text').send(`${NOT_BUILT} (${build.detail}).`);
      return;
    }
    res.set('Cache-Control', 'no-store').sendFile(`${distDir}/${file}`);
  };
  const r = Router();
  r.get('/login', async (req, res) => {
    if (res.locals.session) res.redirect(303, '/');
    else await page('login.html')(req, res);
  });
  r.get(['/', '/index.html'], async (req, res) => {
    if (!res.locals.session) res.redirect(303, '/login');
    else await page('index.html')(req, res);
  });
  r.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  r.use('/assets', express.static(`${distDir}/assets`, { index: false, fallthrough: false, immutable: true, maxAge: '1y' }));
  return r;
}
