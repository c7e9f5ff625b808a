import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import express from 'express';
import cookieParser from 'cookie-parser';
import type { Redis } from 'ioredis';
import { PolicySchema, type Decision, type Policy } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer, ensureTopics } from '../../core/kafka.ts';
import { openRecords } from '../../core/records.ts';
import { createRedis } from '../../core/redis.ts';
import { logger } from '../../core/logger.ts';
import type { ModelThresholds } from '../../core/model-registry.ts';
import { RedisFeatureStore } from '../../detectors/feature-store/redis.ts';
import { versionSpec } from '../../detectors/warm.ts';
import { requireVersion } from '../../detectors/version-names.ts';
import type { FeatureSpec } from '../../detectors/pure/feature-spec.ts';
import { beat as writeHeartbeat, removeHeartbeat } from '../../state/heartbeats.ts';
import { RedisPolicyStore, initialPolicy } from '../../state/policy.ts';
import { RedisReviewQueue, restoreCases } from '../../state/review.ts';
import { ShadowStore } from '../../state/shadow.ts';
import { ViewKeeper } from '../../state/view.ts';
import { CaseClaims } from '../../state/case-claims.ts';
import { RedisSampleStore } from '../../state/samples.ts';
import { DEFAULT_DIST, uiBuildStatus } from '../build.ts';
import { openAuditLog } from '../../state/audit.ts';
import { startDeadLetterFeed } from './dead-letters.ts';
import { GuardService } from '../../router/ops/guard.ts';
import { cardBlockRate } from '../../router/ops/service.ts';
import { GuardState } from '../../state/guard.ts';
import { RuleEvidenceStore } from '../../state/rule-evidence.ts';
import { LoginLimiter, Roles, SessionStore, UserStore } from './auth.ts';
import { LiveFeed } from './live.ts';
import { apiNotFound, errorHandler, loadSession, noStore, requireApiSession, requireRole, securityHeaders } from './middleware.ts';
import { listModels } from './models.ts';
import { ReplayController, loadSimulatorFactory, type Simulator, type SimulatorFactory } from './replay.ts';
import { servedModels } from './serving.ts';
import { VerdictService } from './verdict.ts';
import { auditRouter } from './routes/audit.ts';
import { deadLettersRouter } from './routes/dead-letters.ts';
import { evidenceRouter } from './routes/evidence.ts';
import { healthRouter } from './routes/health.ts';
import { liveRouter } from './routes/live.ts';
import { casesPerHour, slaStatus } from '../../router/pure/money.ts';
import { readReviewCutoff } from '../../state/review-cutoff.ts';
import { SERVED_WINDOW, modelsRouter } from './routes/models.ts';
import { NOT_BUILT, pagesRouter } from './routes/pages.ts';
import { policyRouter } from './routes/policy.ts';
import { filePreviewSource } from './file-preview-source.ts';
import { queueRouter } from './routes/queue.ts';
import { searchRouter } from './routes/search.ts';
import { casesRouter } from './routes/cases.ts';
import { replayRouter } from './routes/replay.ts';
import { loginRouter, sessionRouter } from './routes/session.ts';


export { DEFAULT_DIST };

/** API paths (and everything under them) only an admin may use, read or write. */
export const ADMIN_PATHS = ['/policy', '/models', '/drift', '/replay'];

export interface UiServerOptions {
  config: Config;
  /** Overrides config.ui.host/port (port 0 picks a free one). */
  host?: string;
  port?: number;
  /** Built front end (default review-ui/dist). */
  distDir?: string;
  /** Version 1 of the policy if Redis has none (default: newest model card's thresholds, else state/policy.ts's cold start). */
  policyDefaults?: () => Policy;
  /** Replay driver (default: producers/simulator.ts when it exists). null disables replay. */
  simulator?: SimulatorFactory | null;
  /** A simulation this process already runs (the demo's): the Replay page drives it rather than starting another. */
  replaySimulator?: { simulator: Simulator; startedBy: string };
  /** Live feed backfill per topic at start. */
  backfill?: { decisions: number; cases: number; labels: number };
  /** Dead letters re-read from the end of the DLQ topic at start. */
  deadLetterBackfill?: number;
  /** Slow SSE client bounds (tests make them small). */
  sse?: { maxBufferedBytes?: number; maxStallMs?: number };
  instanceId?: string;
  /** How long a case claim lasts without renewal (default state/case-claims.ts CLAIM_TTL_MS). */
  claimTtlMs?: number;
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

/** The newest listed version whose card holds valid thresholds (the console's v1 when Redis has no policy yet). */
/**
 * The feature spec of a version under modelDir, read once per version (a version's folder never changes); undefined
 * for a name that is not a version there (rules only, a version deleted since).
 */
function versionSpecs(modelDir: string): (version: string) => Promise<FeatureSpec | undefined> {
  const specs = new Map<string, Promise<FeatureSpec | undefined>>();
  return (version) => {
    let s = specs.get(version);
    if (!s) {
      s = requireVersion(modelDir, version).then((v) => versionSpec(v.dir), () => undefined);
      specs.set(version, s);
    }
    return s;
  };
}

async function newestModelWithThresholds(modelDir: string): Promise<{ thresholds: ModelThresholds; version: string } | undefined> {
  for (const m of await listModels(modelDir)) {
    const t = (m.card as { thresholds?: unknown } | null)?.thresholds;
    const probe = PolicySchema.safeParse({ ...initialPolicy(), thresholds: t });
    if (probe.success) return { thresholds: probe.data.thresholds, version: m.version };
  }
  return undefined;
}

/** How long a request waits for a view check (a present view answers in one Redis round trip) before "restoring". */
const RESTORE_GATE_MS = 200;

/** 503 with `restoring: true` while a view this console serves is being restored from its topic. */
export function restoringGate(views: ViewKeeper): express.RequestHandler {
  return (_req, res, next) => {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), RESTORE_GATE_MS)));
    void Promise.race([views.ready().then(() => true, () => false), waited]).then((ready) => {
      clearTimeout(timer);
      if (ready) return next();
      res
        .status(503)
        .set('Retry-After', '2')
        .json({ error: 'restoring: Redis lost the console\'s data and it is being restored from Kafka; try again in a moment', restoring: true, view: views.status() });
    });
  };
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

  // Kafka is the record, Redis the view (issue 18): the views are restored from their topics before anything is served.
  const records = openRecords(kafka, config);
  const users = new UserStore(redis, prefix, records.accounts);
  const auditLog = openAuditLog(config, redis, kafka, { instanceId });
  const audit = auditLog.audit;
  const views = new ViewKeeper(
    redis,
    prefix,
    [
      { name: 'accounts', restore: () => users.restore() },
      { name: 'cases', restore: async () => restoreCases(redis, prefix, await records.caseState.readAll()) },
      { name: 'shadow', restore: () => new ShadowStore(redis, prefix, undefined, records.shadow).restore() },
      { name: 'audit', restore: async () => ({ restored: await audit.restoreView(), keys: [audit.key, audit.headKey] }) },
    ],
    log,
  );
  await views.ready();
  views.start();
  audit.startRetrying();
  const seeded = await users.bootstrap(config.ui.reviewerSeed);
  if (seeded.created.length) log.info({ users: seeded.created }, 'seeded reviewer accounts');
  if (seeded.generated) console.error(`no reviewer accounts and no REVIEWER_SEED: created admin "${seeded.generated.name}" with password ${seeded.generated.password}  (shown once; change it with: fraudstream users passwd ${seeded.generated.name})`);
  const sessions = new SessionStore(redis, prefix, config.ui.sessionSecret ?? 'fraudstream-session-ids', undefined, config.ui.sessionMaxSeconds);
  const limiter = new LoginLimiter(redis, prefix);
  const queue = new RedisReviewQueue(redis, prefix);
  const claims = new CaseClaims(redis, prefix, opts.claimTtlMs);
  const samples = new RedisSampleStore(redis, prefix);
  const newest = opts.policyDefaults ? undefined : await newestModelWithThresholds(config.modelDir);
  const policies = new RedisPolicyStore(redis, prefix, opts.policyDefaults ?? (() => initialPolicy(newest)), records.policy);
  // Flushes the outbox at each verdict; the ops service (router/ops/service.ts) retries what could not be sent.
  const verdicts = new VerdictService(config, redis, queue, kafka, log, instanceId);
  // The demo's own simulation is demo mode whatever UI_DEMO_MODE says.
  const demoMode = config.ui.demoMode || opts.replaySimulator !== undefined;
  const replay = opts.replaySimulator
    ? new ReplayController(config, undefined, opts.replaySimulator, demoMode)
    : new ReplayController(config, opts.simulator === null ? undefined : (opts.simulator ?? (await loadSimulatorFactory())), undefined, demoMode);

  // The guard rail and the rule statistics run in the ops service; the console reads what it keeps in Redis.
  const evidence = new RuleEvidenceStore(redis, prefix);
  const guard = new GuardService({ rail: config.ui.guard, policies, state: new GuardState(redis, prefix), log, instanceId, expectedBlockRate: cardBlockRate(config.modelDir) });
  const feed = new LiveFeed({ config, kafka, redis, log, instanceId, ...(opts.backfill ? { backfill: opts.backfill } : {}), ...(opts.sse ? { sse: opts.sse } : {}) });
  let kafkaUp = true;
  const sla = async () => slaStatus(await queue.oldestOpenAt(), Date.now(), (await policies.current()).review);
  const reviewCutoffView = async () => ({ capacityPerHour: casesPerHour((await policies.current()).review), latest: (await readReviewCutoff(redis, prefix)) ?? null });
  feed.setExtraStats(async () => ({ openCases: await queue.openCount(), sla: await sla(), labels: feed.metrics.snapshot(), served: servedModels(feed.recentDecisions(SERVED_WINDOW)), guard: await guard.status(), reviewCutoff: await reviewCutoffView() }));
  feed.onDecision((d) => {
    replay.observe(d);
  });
  feed.onLabels((l) => {
    // Ground truth for the Shift page's agreement: kept only for transactions that have a case.
    if (l.source === 'chargeback') void queue.recordGroundTruth([l]).catch((err: unknown) => log.debug({ err }, 'could not record a case\'s ground truth'));
  });
  await feed.start();
  const deadLetters = await startDeadLetterFeed(kafka, config, instanceId, log, opts.deadLetterBackfill);

  const beat = () => writeHeartbeat(redis, prefix, 'ui', instanceId, { instance: instanceId, at: Date.now(), pid: process.pid }).catch(() => undefined);
  await beat();
  const heartbeat = setInterval(() => void beat(), 3_000);
  const prune = setInterval(() => void feed.pruneClients((sid) => sessions.exists(sid)).catch(() => undefined), 30_000);

  const app = express();
  app.disable('x-powered-by');
  // Off unless TRUST_PROXY names the TLS-terminating proxy: then req.ip and req.secure come from its headers.
  app.set('trust proxy', config.ui.trustProxy);
  app.use(securityHeaders());
  app.use(cookieParser());
  app.use(express.json({ limit: '256kb' }));
  app.use(loadSession(sessions));

  // Open: probes, the restore status, login, the pages (which redirect to /login without a session).
  const sessionDeps = { users, sessions, limiter, audit, feed };
  app.use(healthRouter({ redis, prefix, feed, instanceId, kafkaUp: () => kafkaUp }));
  app.get('/api/status', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ view: views.status() });
  });
  // Nothing is served from a view Redis has lost: a request finds it restored, or is told to wait (the page says "restoring").
  app.use('/api', restoringGate(views));
  app.use('/api', loginRouter(sessionDeps));
  const build = await uiBuildStatus(distDir);
  app.use(pagesRouter(distDir, build));

  // API: session + CSRF on everything below.
  const api = express.Router();
  api.use(requireApiSession, noStore);
  api.use(sessionRouter(sessionDeps));
  api.use(liveRouter({ feed, queue, sla, guard, maxStreamsPerSession: config.ui.ssePerSession }));
  api.use(deadLettersRouter({ letters: deadLetters.log }));
  api.use(evidenceRouter({ evidence }));
  // Before the queue's routes: /cases/bulk-verdict is not a case id.
  const slaMinutes = async () => (await policies.current()).review.slaMinutes;
  // Read only: the console explains cases against the store detect writes (it applies nothing).
  const baseline = { peek: new RedisFeatureStore(redis, { keyPrefix: config.redis.keyPrefix }), index: feed.search, specOf: versionSpecs(config.modelDir) };
  api.use(casesRouter({ queue, claims, feed, index: feed.search, audit, verdicts, slaMinutes, baseline }));
  api.use(queueRouter({ queue, claims, feed, audit, verdicts, slaMinutes, baseline }));
  api.use(searchRouter({ index: feed.search, queue, audit, scenarioOf: (txId) => feed.scenarioOf(txId) }));
  // Admin pages: policy, models (and their drift), replay. Analysts work cases only.
  api.use(ADMIN_PATHS, requireRole(Roles.ADMIN));
  api.use(policyRouter({ policies, samples, audit, feed, modelDir: config.modelDir, files: filePreviewSource({ config }) }));
  api.use(modelsRouter({ modelDir: config.modelDir, redis, prefix, policies, audit, feed, shadowRecord: records.shadow }));
  api.use(replayRouter({ replay, audit }));
  api.use(auditRouter({ audit }));
  app.use('/api', api);
  app.use('/api', apiNotFound);
  app.use(errorHandler(log));

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
        await replay.close().catch(() => undefined);
        await feed.stop();
        await deadLetters.stop().catch(() => undefined);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await verdicts.flush().catch(() => undefined);
        views.stop();
        await audit.flushed().catch(() => undefined);
        await auditLog.close();
        await producer.disconnect().catch(() => undefined);
        await records.close();
        await removeHeartbeat(redis, prefix, 'ui', instanceId).catch(() => undefined);
        redis.disconnect();
      })()),
  };
}
