import { randomUUID } from 'node:crypto';
import { beat as writeHeartbeat, removeHeartbeat } from '../../state/heartbeats.ts';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import cookieParser from 'cookie-parser';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import {
  PolicyInputSchema,
  PolicyPreviewBodySchema,
  PolicyRollbackBodySchema,
  PolicySchema,
  ReplayBodySchema,
  VerdictBodySchema,
  describeZodError,
  type Decision,
  type Policy,
} from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { FraudstreamError, UserInputError, ErrorCodes } from '../../core/errors.ts';
import { createKafka, createProducer, ensureTopics } from '../../core/kafka.ts';
import { createRedis } from '../../core/redis.ts';
import { logger } from '../../core/logger.ts';
import type { ModelThresholds } from '../../detectors/types.ts';
import { RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { RedisReviewQueue } from '../../state/review.ts';
import { RedisSampleStore } from '../../state/samples.ts';
import { DEFAULT_DIST, uiBuildStatus, type UiBuildStatus } from '../build.ts';
import { AuditLog, auditToKafka } from './audit.ts';
import { LoginLimiter, SessionStore, UserStore, loginRoute, tokensEqual, type Session } from './auth.ts';
import { cardNorm, travelFromPrevious } from './card.ts';
import { readHealth } from './health.ts';
import { LiveFeed } from './live.ts';
import { findModel, listModels } from './models.ts';
import { driftForVersion } from './drift.ts';
import { previewPolicy } from './preview.ts';
import { ModelPromoteBodySchema, promotionInput, servedModels } from './serving.ts';
import { ReplayController, loadSimulatorFactory, type Simulator, type SimulatorFactory } from './replay.ts';
import { VerdictService } from './verdict.ts';

export const SESSION_COOKIE = 'fs_sid';
export const CSRF_HEADER = 'x-csrf-token';
/** How many of the latest decisions the "which model do the stages serve" summary looks at. */
const SERVED_WINDOW = 200;

/** Used when no model card offers thresholds: conservative enough that the first line escalates the unsure. */
export const FALLBACK_THRESHOLDS: ModelThresholds = {
  detect: { blockAbove: 0.9, allowBelow: 0.3, anomalyEscalateAbove: 0.75 },
  escalate: { blockAbove: 0.85, allowBelow: 0.35 },
};

export { DEFAULT_DIST };
const NOT_BUILT = 'The review UI is not built: run `npm run build:ui` (`npm run demo` and `npm run ui` build it when missing)';

export interface UiServerOptions {
  config: Config;
  /** Overrides config.ui.host/port (port 0 picks a free one). */
  host?: string;
  port?: number;
  /** Built front end (default review-ui/dist). */
  distDir?: string;
  /** Version 1 of the policy if Redis has none (default: newest model card's thresholds, else FALLBACK_THRESHOLDS). */
  policyDefaults?: () => Policy;
  /** Replay driver (default: producers/simulator.ts when it exists). null disables replay. */
  simulator?: SimulatorFactory | null;
  /** A simulation this process already runs (the demo's): the Replay page drives it rather than starting another. */
  replaySimulator?: { simulator: Simulator; startedBy: string };
  /** Live feed backfill per topic at start. */
  backfill?: { decisions: number; cases: number; labels: number };
  /** Slow SSE client bounds (tests make them small). */
  sse?: { maxBufferedBytes?: number; maxStallMs?: number };
  instanceId?: string;
}

export interface UiServer {
  url: string;
  instanceId: string;
  /** Every new decision the Live page receives (backfilled ones included); returns the unsubscribe. */
  onDecision(listener: (d: Decision) => void): () => void;
  /** Open cases in the review queue. */
  openCases(): Promise<number>;
  close(): Promise<void>;
}

declare module 'express-serve-static-core' {
  interface Locals {
    session?: Session;
    sid?: string;
  }
}

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new UserInputError(describeZodError(r.error));
  return r.data;
}

function intQuery(raw: unknown, name: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 1 || n > max) throw new UserInputError(`${name}: an integer from 1 to ${max}`);
  return n;
}

async function thresholdsFromModels(modelDir: string): Promise<{ thresholds: ModelThresholds; version?: string }> {
  for (const m of await listModels(modelDir)) {
    const t = (m.card as { thresholds?: unknown } | null)?.thresholds;
    const probe = PolicySchema.safeParse({ ...defaultPolicy(FALLBACK_THRESHOLDS), thresholds: t });
    if (probe.success) return { thresholds: probe.data.thresholds, version: m.version };
  }
  return { thresholds: FALLBACK_THRESHOLDS };
}

/**
 * Amount rules compare minor units whatever the transaction's currency, so the Policy page shows them in the
 * currency most recent decisions were in and names the others it applies to as well.
 */
export function amountCurrencies(decisions: ReadonlyArray<Pick<Decision, 'tx'>>): { currency: string | null; seen: string[] } {
  const counts = new Map<string, number>();
  for (const d of decisions) counts.set(d.tx.currency, (counts.get(d.tx.currency) ?? 0) + 1);
  const seen = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([c]) => c);
  return { currency: seen[0] ?? null, seen };
}

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const { config } = opts;
  const prefix = config.redis.keyPrefix;
  const instanceId = opts.instanceId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const log = logger('review-ui').child({ instanceId });
  const distDir = opts.distDir ?? DEFAULT_DIST;

  const redis: Redis = createRedis(config, 'review-ui-redis');
  const kafka = createKafka(config, '-ui');
  await ensureTopics(config);
  const producer = createProducer(kafka);
  await producer.connect();

  const users = new UserStore(redis, prefix);
  const seeded = await users.bootstrap(config.ui.reviewerSeed);
  if (seeded.created.length) log.info({ users: seeded.created }, 'seeded reviewer accounts');
  if (seeded.generated) console.error(`no reviewer accounts and no REVIEWER_SEED: created admin "${seeded.generated.name}" with password ${seeded.generated.password}  (shown once; change it with: fraudstream users passwd ${seeded.generated.name})`);
  const sessions = new SessionStore(redis, prefix, config.ui.sessionSecret ?? 'fraudstream-session-ids', undefined, config.ui.sessionMaxSeconds);
  const limiter = new LoginLimiter(redis, prefix);
  const audit = new AuditLog(redis, prefix, undefined, auditToKafka(producer, config.topics.audit, log));
  const queue = new RedisReviewQueue(redis, prefix);
  const samples = new RedisSampleStore(redis, prefix);
  const modelDefaults = opts.policyDefaults ? undefined : await thresholdsFromModels(config.modelDir);
  const policies = new RedisPolicyStore(
    redis,
    prefix,
    opts.policyDefaults ?? (() => defaultPolicy(modelDefaults?.thresholds ?? FALLBACK_THRESHOLDS, modelDefaults?.version)),
  );
  const verdicts = new VerdictService(config, redis, queue, kafka, log, instanceId);
  verdicts.startRetrying();
  const replay = opts.replaySimulator
    ? new ReplayController(config, undefined, opts.replaySimulator)
    : new ReplayController(config, opts.simulator === null ? undefined : (opts.simulator ?? (await loadSimulatorFactory())));

  const feed = new LiveFeed({ config, kafka, redis, log, instanceId, ...(opts.backfill ? { backfill: opts.backfill } : {}), ...(opts.sse ? { sse: opts.sse } : {}) });
  let kafkaUp = true;
  feed.setExtraStats(async () => ({ openCases: await queue.openCount(), labels: feed.metrics.snapshot(), served: servedModels(feed.recentDecisions(SERVED_WINDOW)) }));
  await feed.start();

  const beat = () => writeHeartbeat(redis, prefix, 'ui', instanceId, { instance: instanceId, at: Date.now(), pid: process.pid }).catch(() => undefined);
  await beat();
  const heartbeat = setInterval(() => void beat(), 3_000);
  const prune = setInterval(() => void feed.pruneClients((sid) => sessions.exists(sid)).catch(() => undefined), 30_000);

  const app = express();
  app.disable('x-powered-by');
  // Off unless TRUST_PROXY names the TLS-terminating proxy: then req.ip and req.secure come from its headers.
  app.set('trust proxy', config.ui.trustProxy);
  app.use(
    helmet({
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
    }),
  );
  app.use(cookieParser());
  app.use(express.json({ limit: '256kb' }));

  // Load the session (if any) for every request.
  app.use(async (req, res, next) => {
    const sid = (req.cookies as Record<string, string | undefined>)[SESSION_COOKIE];
    const session = await sessions.get(sid);
    if (session && sid) {
      res.locals.session = session;
      res.locals.sid = sid;
    }
    next();
  });

  const requireApiSession = (req: Request, res: Response, next: NextFunction) => {
    if (!res.locals.session) {
      res.status(401).json({ error: 'not logged in' });
      return;
    }
    // Synchronizer token: every state-changing request carries the session's CSRF token in a header.
    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method) && !tokensEqual(req.get(CSRF_HEADER), res.locals.session.csrf)) {
      res.status(403).json({ error: `missing or wrong CSRF token (send it in the ${CSRF_HEADER} header)` });
      return;
    }
    next();
  };
  const who = (res: Response): string => (res.locals.session as Session).user;

  const cookieOptions = (req: Request) => ({
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: req.secure,
    path: '/',
  });

  // ---------------------------------------------------------------- open routes

  app.get('/healthz', async (_req, res) => {
    const health = await readHealth(redis, prefix, feed.counts, kafkaUp);
    health.stages.ui ??= { up: true, status: 'up', instances: [{ instance: instanceId, ageMs: 0 }] };
    res.set('Cache-Control', 'no-store').json(health);
  });

  app.post(
    '/api/login',
    loginRoute({
      users,
      sessions,
      limiter,
      audit,
      currentSid: (res) => res.locals.sid,
      setCookie: (req, res, sid) => res.cookie(SESSION_COOKIE, sid, { ...cookieOptions(req), maxAge: sessions.ttlSeconds * 1000 }),
    }),
  );

  // ---------------------------------------------------------------- pages

  // Checked once at start and again whenever a page is missing, so a build made after the start is served.
  let build: UiBuildStatus = await uiBuildStatus(distDir);
  const page = (file: string) => async (_req: Request, res: Response) => {
    if (build.state === 'missing') build = await uiBuildStatus(distDir);
    if (build.state === 'missing') {
      res.status(503).type('text').send(`${NOT_BUILT} (${build.detail}).`);
      return;
    }
    res.set('Cache-Control', 'no-store').sendFile(`${distDir}/${file}`);
  };
  app.get('/login', async (req, res) => {
    if (res.locals.session) res.redirect(303, '/');
    else await page('login.html')(req, res);
  });
  app.get(['/', '/index.html'], async (req, res) => {
    if (!res.locals.session) res.redirect(303, '/login');
    else await page('index.html')(req, res);
  });
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  app.use('/assets', express.static(`${distDir}/assets`, { index: false, fallthrough: false, immutable: true, maxAge: '1y' }));

  // ---------------------------------------------------------------- API (session + CSRF)

  const api = express.Router();
  api.use(requireApiSession);
  api.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  api.get('/session', (_req, res) => {
    const s = res.locals.session as Session;
    res.json({ user: s.user, role: s.role, csrf: s.csrf });
  });

  api.post('/logout', async (_req, res) => {
    const sid = res.locals.sid;
    await sessions.destroy(sid);
    if (sid) feed.dropSession(sid);
    await audit.record({ who: who(res), action: 'logout', target: 'session' });
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.json({ ok: true });
  });

  api.get('/stream', (_req, res) => {
    res.set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    res.write('retry: 3000\n\n');
    feed.addClient(res, res.locals.sid as string);
  });

  api.get('/decisions/recent', (req, res) => {
    res.json({ decisions: feed.recentDecisions(intQuery(req.query.limit, 'limit', 200, 500)) });
  });

  api.get('/stats', async (_req, res) => {
    res.json({ counts: feed.counts, byStage: feed.countsByStage, series: feed.series(120), openCases: await queue.openCount(), labels: feed.metrics.snapshot(), streams: { open: feed.clientCount, slowDropped: feed.slowClientsDropped } });
  });

  api.get('/cases', async (req, res) => {
    const limit = intQuery(req.query.limit, 'limit', 100, 1000);
    const [open, total, closed] = await Promise.all([queue.listOpen(limit), queue.openCount(), queue.listClosed(20)]);
    res.json({ open, openCount: total, closed, now: Date.now() });
  });

  api.get('/cases/:id', async (req, res) => {
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

  api.post('/cases/:id/verdict', async (req, res) => {
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

  api.get('/policy', async (_req, res) => {
    const [current, history, sampleCount] = await Promise.all([policies.current(), policies.history(50), samples.count()]);
    res.json({ current, history, sampleCount, amounts: amountCurrencies(feed.recentDecisions(SERVED_WINDOW)) });
  });

  api.put('/policy', async (req, res) => {
    const input = parseBody(PolicyInputSchema, req.body);
    const before = await policies.current();
    const after = await policies.update(input, who(res));
    await audit.record({ who: who(res), action: 'policy.update', target: 'policy', before, after });
    res.json({ current: after });
  });

  api.post('/policy/preview', async (req, res) => {
    const body = parseBody(PolicyPreviewBodySchema, req.body);
    const current = await policies.current();
    const proposed = PolicySchema.parse({ ...body.policy, version: current.version + 1, updatedAt: Date.now(), updatedBy: who(res) });
    res.json(previewPolicy(current, proposed, await samples.recent(body.samples)));
  });

  api.post('/policy/rollback', async (req, res) => {
    const body = parseBody(PolicyRollbackBodySchema, req.body);
    const before = await policies.current();
    const after = await policies.rollback(body.version, who(res));
    await audit.record({
      who: who(res),
      action: 'policy.rollback',
      target: 'policy',
      before: { version: before.version, modelVersion: before.modelVersion ?? null },
      after: { version: after.version, from: body.version, modelVersion: after.modelVersion ?? null },
    });
    res.json({ current: after });
  });

  api.get('/models', async (_req, res) => {
    const [versions, current] = await Promise.all([listModels(config.modelDir), policies.current()]);
    res.json({
      modelDir: config.modelDir,
      versions,
      activeInPolicy: current.modelVersion ?? null,
      policyVersion: current.version,
      served: servedModels(feed.recentDecisions(SERVED_WINDOW)),
      live: feed.metrics.snapshot(),
    });
  });

  api.get('/drift', async (req, res) => {
    const current = await policies.current();
    const body = await driftForVersion(redis, prefix, config.modelDir, req.query.version, current);
    if (!body) {
      res.status(404).json({ error: `no model version ${String(req.query.version ?? current.modelVersion)} under MODEL_DIR (${config.modelDir})` });
      return;
    }
    res.json(body);
  });

  api.post('/models/promote', async (req, res) => {
    const body = parseBody(ModelPromoteBodySchema, req.body);
    const model = await findModel(config.modelDir, body.version);
    if (!model) {
      res.status(404).json({ error: `no model version ${body.version} under MODEL_DIR (${config.modelDir})` });
      return;
    }
    if (!model.card) {
      res.status(409).json({ error: `model ${body.version} cannot be promoted: model-card.json ${model.error ?? 'unreadable'}` });
      return;
    }
    const before = await policies.current();
    if (body.policyVersion !== undefined && body.policyVersion !== before.version) {
      res.status(409).json({ error: `the policy changed since the page loaded (now v${before.version}, page had v${body.policyVersion}); reload and try again` });
      return;
    }
    if (before.modelVersion === body.version && !body.useCardThresholds) {
      res.status(409).json({ error: `policy v${before.version} already serves ${body.version}` });
      return;
    }
    const input = promotionInput(before, body.version, body.useCardThresholds ? (model.card.thresholds ?? null) : undefined);
    const after = await policies.update(input, who(res));
    await audit.record({
      who: who(res),
      action: 'model.promote',
      target: 'policy',
      before: { version: before.version, modelVersion: before.modelVersion ?? null, thresholds: before.thresholds },
      after: { version: after.version, modelVersion: after.modelVersion ?? null, thresholds: after.thresholds, useCardThresholds: body.useCardThresholds },
      ip: req.ip,
    });
    res.json({ current: after });
  });

  api.get('/replay', async (_req, res) => {
    res.json(await replay.status());
  });

  api.post('/replay', async (req, res) => {
    const body = parseBody(ReplayBodySchema, req.body);
    const before = await replay.status();
    const after = await replay.apply(body, who(res));
    await audit.record({ who: who(res), action: `replay.${body.action}`, target: 'replay', before: { running: before.running, rate: before.rate }, after: { ...body, running: after.running } });
    res.json(after);
  });

  api.get('/audit', async (req, res) => {
    const target = typeof req.query.target === 'string' ? req.query.target : undefined;
    res.json({ entries: await audit.list(intQuery(req.query.limit, 'limit', 200, 2000), target ? { target } : {}) });
  });

  app.use('/api', api);
  app.use('/api', (_req, res) => {
    res.status(404).json({ error: 'no such API route' });
  });

  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
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
    } else if (err instanceof FraudstreamError && (err.code === ErrorCodes.MISSING_PREREQUISITE || err.code === ErrorCodes.SERVICE_UNAVAILABLE)) {
      res.status(503).json({ error: err.message });
    } else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: (err as Error).message });
    } else {
      log.error({ err }, 'request failed');
      res.status(500).json({ error: 'internal error (see the server log)' });
    }
  });

  const server = app.listen(opts.port ?? config.ui.port, opts.host ?? config.ui.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  producer.on(producer.events.DISCONNECT, () => {
    kafkaUp = false;
  });
  producer.on(producer.events.CONNECT, () => {
    kafkaUp = true;
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  log.info({ url, dist: distDir, build: build.state }, 'review UI listening');
  if (build.state === 'missing') log.warn({ dist: distDir }, `${NOT_BUILT}: every page answers 503 until it is`);
  else if (build.state === 'stale') log.warn({ dist: distDir, detail: build.detail }, 'the review UI pages are older than their sources: run `npm run build:ui`');

  let closing: Promise<void> | undefined;
  return {
    url,
    instanceId,
    onDecision: (listener) => feed.onDecision(listener),
    openCases: () => queue.openCount(),
    close: () =>
      (closing ??= (async () => {
        clearInterval(heartbeat);
        clearInterval(prune);
        verdicts.stop();
        await replay.close().catch(() => undefined);
        await feed.stop();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await verdicts.flush().catch(() => undefined);
        await audit.flushed().catch(() => undefined);
        await producer.disconnect().catch(() => undefined);
        await removeHeartbeat(redis, prefix, 'ui', instanceId).catch(() => undefined);
        redis.disconnect();
      })()),
  };
}
