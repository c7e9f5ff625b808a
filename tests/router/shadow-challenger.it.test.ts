/**
 * The shadow challenger on real Kafka and Redis (issue 13): a small version is trained, copied twice (an identical
 * challenger, and one with far stricter thresholds), and detect + escalate run on a stream while a challenger shadows
 * them. The champion's decisions must be exactly what the pairs say the champion did; the identical challenger agrees
 * on every transaction; the strict one blocks more without one more real block. Phase two goes through the real CLI.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { DecisionSchema, type Decision, type Label, type Transaction } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import { createKafka, createProducer } from '../../core/kafka.ts';
import { datasetFromEvents, trainModels } from '../../detectors/trainer.ts';
import { loadModelVersion } from '../../detectors/model-version.ts';
import type { ModelBundle } from '../../detectors/types.ts';
import { SCENARIOS, generateStream } from '../../producers/world/index.ts';
import { startPipeline, type Pipeline } from '../../router/pipeline.ts';
import { redisFeatureStore } from '../../router/serving-models.ts';
import { startShadow } from '../../router/shadow/control.ts';
import { readShadowReport } from '../../router/shadow/report.ts';
import { SHADOW_ACTIONS, ShadowStore } from '../../state/shadow.ts';
import { RedisPolicyStore, defaultPolicy } from '../../state/policy.ts';
import { openAuditLog } from '../../state/audit.ts';
import { collect, configEnv, dropTestKeys, testConfig, testRedis } from '../helpers/services.ts';

const run = promisify(execFile);
const WORLD = { seed: 23, cards: 800, merchants: 200, fraudRate: 0.05 };
const TRAIN_EVENTS = 12_000;
const STREAM = 500;

const sumMatrix = (m: Record<string, Record<string, number>>) => Object.values(m).reduce((s, row) => s + Object.values(row).reduce((a, b) => a + b, 0), 0);

describe('shadow challenger beside the champion on live traffic', () => {
  let modelDir: string;
  let champion: ModelBundle;
  let config: Config;
  let redis: Redis;
  let pipeline: Pipeline;
  let phaseA: Transaction[];
  let phaseB: Transaction[];
  let labelsB: Label[];
  const same = () => `${champion.version}-same`;
  const strict = () => `${champion.version}-strict`;

  const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { env: { ...process.env, ...configEnv({ ...config, modelDir }) } });

  const stream = async (txs: Transaction[]): Promise<Decision[]> => {
    const kafka = createKafka(config, '-test');
    const producer = createProducer(kafka);
    await producer.connect();
    await producer.send({ topic: config.topics.transactions, messages: txs.map((t) => ({ key: t.cardId, value: JSON.stringify(t) })) });
    await producer.disconnect();
    const want = new Set(txs.map((t) => t.txId));
    const msgs = await collect(kafka, config.topics.decisions, (seen) => seen.filter((m) => want.has(DecisionSchema.parse(JSON.parse(m.value!.toString())).txId)).length >= want.size, 120_000, 1_000);
    return msgs.map((m) => DecisionSchema.parse(JSON.parse(m.value!.toString()))).filter((d) => want.has(d.txId));
  };

  /** Waits until the worker stored (or skipped) every transaction of a phase: it runs after commit, a little later. */
  const shadowed = async (model: string, n: number) => {
    const store = new ShadowStore(redis, config.redis.keyPrefix);
    for (let i = 0; i < 300; i++) {
      const s = await store.stats(model);
      if (s.seen + s.skippedTransactions >= n) return s;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`shadow of ${model} did not reach ${n} transactions`);
  };

  beforeAll(async () => {
    modelDir = await mkdtemp(path.join(tmpdir(), 'fs-shadow-'));
    const all = [...generateStream({ ...WORLD, events: TRAIN_EVENTS + 2 * STREAM })];
    const novel = new Set(SCENARIOS.filter((s) => s.novel).map((s) => s.name));
    const trained = await trainModels(datasetFromEvents(all.slice(0, TRAIN_EVENTS), { novelScenarios: novel }), {
      modelDir,
      heavy: { enabled: true, epochs: 1, maxRows: 2_000, serve: 'always' },
      forest: { trees: 30 },
      xgboost: { iterations: 30 },
    });
    champion = await loadModelVersion(trained.dir);
    await cp(trained.dir, path.join(modelDir, same()), { recursive: true });
    await cp(trained.dir, path.join(modelDir, strict()), { recursive: true });
    // The strict challenger blocks almost everything the first line sees, when routed with its own thresholds.
    const tPath = path.join(modelDir, strict(), 'thresholds.json');
    const t = JSON.parse(await readFile(tPath, 'utf8')) as { detect: Record<string, number> };
    await writeFile(tPath, JSON.stringify({ ...t, detect: { ...t.detect, blockAbove: 0.002, allowBelow: 0.001 } }));
    phaseA = all.slice(TRAIN_EVENTS, TRAIN_EVENTS + STREAM).map((e) => e.tx);
    const b = all.slice(TRAIN_EVENTS + STREAM);
    phaseB = b.map((e) => e.tx);
    labelsB = b.flatMap((e) => (e.label ? [e.label] : []));

    config = { ...(await testConfig('shadow')), modelDir };
    redis = testRedis(config);
    const policies = new RedisPolicyStore(redis, config.redis.keyPrefix, () => defaultPolicy(champion.thresholds, champion.version));
    const { version: _v, updatedAt: _u, updatedBy: _b, ...input } = await policies.current();
    // A wide ambiguous band so the second line (heavy model, review) is exercised on both sides.
    await policies.update({ ...input, thresholds: { ...input.thresholds, escalate: { allowBelow: 0.02, blockAbove: 0.995 } } }, 'test');
    pipeline = await startPipeline({ config, stages: ['detect', 'escalate'], models: champion, featureStore: redisFeatureStore(config) });
  }, 400_000);

  afterAll(async () => {
    await pipeline?.stop();
    if (redis) {
      await dropTestKeys(redis, config);
      redis.disconnect();
    }
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  it('an identical challenger agrees on every transaction, and the pairs hold exactly what the champion decided', async () => {
    await startShadow(redis, config.redis.keyPrefix, modelDir, { model: same(), by: 'test' });
    expect((await pipeline.shadow!.refresh())?.model).toBe(same());
    const decisions = await stream(phaseA);
    const stats = await shadowed(same(), phaseA.length);
    expect(stats.skippedTransactions).toBe(0);
    expect(decisions.every((d) => d.versions.model === champion.version)).toBe(true);

    const r = (await readShadowReport(redis, config.redis.keyPrefix, same()))!;
    expect(r.transactions).toBe(phaseA.length);
    expect(sumMatrix(r.agreement)).toBe(phaseA.length);
    expect(r.agreementRate).toBe(1);
    for (const a of SHADOW_ACTIONS) for (const b of SHADOW_ACTIONS) if (a !== b) expect(r.agreement[a][b]).toBe(0);
    // The champion's side of every pair is its real final decision (escalated rows included: recomputed alike).
    const { pairs } = await new ShadowStore(redis, config.redis.keyPrefix).pairs(same());
    const real = new Map(decisions.map((d) => [d.txId, d]));
    expect(pairs.filter((p) => p.champion !== real.get(p.txId)?.action)).toEqual([]);
    expect(pairs.filter((p) => p.championEscalated !== (real.get(p.txId)?.stage === 'escalate'))).toEqual([]);
    expect(r.champion).toEqual(r.challenger);
    expect(r.champion.escalationRate).toBeGreaterThan(0);
    // Nothing has come back yet: no precision, and immature.
    expect(r.labelled).toBe(0);
    expect(r.immature).toBe(true);
    expect(r.champion.precision).toBeNull();
  }, 200_000);

  it('through the CLI, a stricter challenger disagrees and blocks more, and not one real decision changes', async () => {
    await cli(['shadow', 'start', '--model', strict(), '--thresholds', 'model']);
    // No refresh here: the running detect stage picks the new challenger up by its own poll.
    await expect.poll(() => pipeline.shadow!.current()?.model, { timeout: 15_000 }).toBe(strict());
    const decisions = await stream(phaseB);
    await shadowed(strict(), phaseB.length);
    expect(new Set(decisions.map((d) => d.txId)).size).toBe(phaseB.length);
    expect(decisions.every((d) => d.versions.model === champion.version)).toBe(true);
    // The feed's label hook (review-ui/server/live.ts) as it would run when these labels arrive an hour after each tx.
    const store = new ShadowStore(redis, config.redis.keyPrefix);
    const ts = new Map(phaseB.map((t) => [t.txId, t.ts]));
    await store.recordLabels(labelsB.map((l) => ({ ...l, labeledAt: ts.get(l.txId)! + 3_600_000 })));

    const jsonFile = path.join(modelDir, 'report.json');
    const { stdout } = await cli(['shadow', 'report', '--json', jsonFile]);
    expect(stdout).toContain(`shadow challenger ${strict()}`);
    expect(stdout).toContain('agreement (rows: champion, columns: challenger)');
    const r = JSON.parse(await readFile(jsonFile, 'utf8')) as Awaited<ReturnType<typeof readShadowReport>> & {};
    expect(r.model).toBe(strict());
    expect(r.transactions).toBe(phaseB.length);
    expect(sumMatrix(r.agreement)).toBe(phaseB.length);
    expect(r.agreementRate).toBeLessThan(1);
    expect(r.challenger.blockRate).toBeGreaterThan(r.champion.blockRate);
    // The real decisions are the champion's: as many blocks as the champion row of the matrix, not the challenger's.
    const realBlocks = decisions.filter((d) => d.action === 'BLOCK').length;
    expect(Object.values(r.agreement.BLOCK).reduce((a, b) => a + b, 0)).toBe(realBlocks);
    expect(SHADOW_ACTIONS.reduce((s, a) => s + r.agreement[a].BLOCK, 0)).toBeGreaterThan(realBlocks);
    expect(r.champion.blockRate).toBeCloseTo(realBlocks / phaseB.length, 10);

    // Labels joined: precision and recall of each side from the pairs, and mature (labels come an hour after the tx).
    const { pairs } = await store.pairs(strict());
    const labelled = pairs.filter((p) => p.isFraud !== undefined);
    expect(labelled.length).toBe(labelsB.length);
    expect(r.labelled).toBe(labelsB.length);
    expect(r.delaysKnown).toBeGreaterThanOrEqual(labelsB.length);
    expect(r.immature).toBe(false);
    const flagged = (a: string) => a === 'BLOCK' || a === 'REVIEW';
    const tp = labelled.filter((p) => p.isFraud && flagged(p.challenger)).length;
    const fl = labelled.filter((p) => flagged(p.challenger)).length;
    expect(r.challenger.precision).toBeCloseTo(fl ? tp / fl : 0, 10);
    expect(r.challenger.recall).toBeCloseTo(tp / labelled.filter((p) => p.isFraud).length, 10);

    const stop = await cli(['shadow', 'stop']);
    expect(stop.stdout).toContain(`${strict()} stopped`);
    await expect.poll(() => pipeline.shadow!.current(), { timeout: 15_000 }).toBeUndefined();
    expect(pipeline.shadow!.active()).toBe(false);
    const after = await readShadowReport(redis, config.redis.keyPrefix, strict());
    expect(after?.active).toBe(false);
    expect(after?.transactions).toBe(phaseB.length);
    // The CLI's start and stop are in the console's audit chain, by the operating-system user.
    const { audit, close } = openAuditLog(config, redis, createKafka(config, '-shadow-audit'));
    const audited = await audit.list(10, { target: 'shadow' });
    expect(audited.map((e) => e.action)).toEqual(['shadow.stop', 'shadow.start']);
    expect(audited.every((e) => e.who.startsWith('cli:'))).toBe(true);
    expect((await audit.verify()).ok).toBe(true);
    await close();
  }, 200_000);
});
