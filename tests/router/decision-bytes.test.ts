/**
 * Bytes per decision from the real code path (issue 20 item 4): a version trained on the generated world, detect
 * then escalate on the bench's stream (seed 5, 10,000 cards), every output to the decisions topic measured as the
 * bytes its value takes, beside the same decisions in the shape written before issue 20 (every field, the whole
 * transaction). Prints both means and the breakdown by field. Before issue 20 this test measured 824.0 bytes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { DecisionSchema, EscalationSchema, type Decision, type Escalation, type Transaction } from '../../core/contracts.ts';
import { loadConfig } from '../../core/config.ts';
import { MemoryFeatureStore } from '../../detectors/features.ts';
import { datasetFromEvents, trainModels } from '../../detectors/trainer.ts';
import { loadModelVersion, type LoadedModel } from '../../detectors/model-version.ts';
import { detectLogic } from '../../router/detect-stage.ts';
import { escalateLogic } from '../../router/escalate-stage.ts';
import type { PolicySource } from '../../router/policy-source.ts';
import { defaultPolicy } from '../../state/policy.ts';
import type { ReviewQueue } from '../../state/types.ts';
import { generateStream, SCENARIOS } from '../../producers/world/index.ts';

const TRAIN = 20_000;
const DECIDE = 5_000;
let modelDir: string;
let models: LoadedModel;

beforeAll(async () => {
  modelDir = await mkdtemp(path.join(tmpdir(), 'fs-bytes-'));
  const novel = new Set(SCENARIOS.filter((s) => s.novel).map((s) => s.name));
  const events = [...generateStream({ seed: 7, events: TRAIN })];
  const ds = datasetFromEvents(events, { novelScenarios: novel });
  const trained = await trainModels(ds, { modelDir, heavy: { enabled: true, epochs: 1, maxRows: 4_000 }, xgboost: { iterations: 30 }, forest: { trees: 30 } });
  models = await loadModelVersion(trained.dir);
}, 300_000);

afterAll(async () => {
  models?.dispose();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

const fakeRedis = { pipeline: () => ({ exec: async () => [] }) } as unknown as Redis;

describe('bytes per decision', () => {
  it('measures the decisions detect and escalate write for the bench stream', async () => {
    const config = loadConfig({});
    const policy = defaultPolicy(models.thresholds, models.version);
    const source: PolicySource = { current: () => policy, refresh: async () => policy, onChange: () => undefined, close: async () => undefined };
    const features = new MemoryFeatureStore();
    const detect = detectLogic({ config, policy: source, redis: fakeRedis, features, models: () => models });
    const queue: ReviewQueue = { enqueue: async () => undefined, listOpen: async () => [], openCount: async () => 0, get: async () => undefined, close: async () => undefined };
    const escalate = escalateLogic({ config, policy: source, redis: fakeRedis, queue, features, models: () => models });
    const stream = generateStream({ seed: 5, events: Number.MAX_SAFE_INTEGER, cards: 10_000 });
    const texts: string[] = [];
    const sent = new Map<string, Transaction>();
    for (let done = 0; done < DECIDE; done += 500) {
      const txs = Array.from({ length: 500 }, () => stream.next().value!.tx);
      for (const tx of txs) sent.set(tx.txId, tx);
      const out = (await detect.handle(txs.map((value) => ({ value, receivedAt: Date.now() })))).flat();
      const escalations: Escalation[] = [];
      for (const m of out) {
        if (m.topic === config.topics.decisions) texts.push(String(m.value));
        else if (m.topic === config.topics.escalations) escalations.push(EscalationSchema.parse(JSON.parse(String(m.value))));
      }
      if (escalations.length) {
        const second = (await escalate.handle(escalations.map((value) => ({ value, receivedAt: Date.now() })))).flat();
        for (const m of second) if (m.topic === config.topics.decisions) texts.push(String(m.value));
      }
    }
    const decisions: Decision[] = texts.map((t) => DecisionSchema.parse(JSON.parse(t)));
    const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t), 0);
    const byField = new Map<string, number>();
    for (const t of texts) for (const [k, v] of Object.entries(JSON.parse(t) as Record<string, unknown>)) byField.set(k, (byField.get(k) ?? 0) + Buffer.byteLength(JSON.stringify({ [k]: v })) - 2);
    const mean = bytes / texts.length;
    // The same decisions as written before issue 20: every field and the whole transaction.
    const before = decisions.reduce((a, d) => a + Buffer.byteLength(JSON.stringify({ ...d, tx: sent.get(d.txId) })), 0) / decisions.length;
    const escalated = decisions.filter((d) => d.stage === 'escalate').length;
    console.log(`bytes per decision: ${mean.toFixed(1)} over ${texts.length} decisions (${escalated} by escalate); in the shape before issue 20: ${before.toFixed(1)}`);
    console.log([...byField].sort((a, b) => b[1] - a[1]).map(([k, v]) => `  ${k}: ${(v / texts.length).toFixed(1)}`).join('\n'));
    expect(texts.length).toBe(DECIDE);
    expect(escalated).toBeGreaterThan(0);
    // Every decision reads back whole, and the topic carries at most 60% of what the old shape took (positions, not keys).
    for (const d of decisions) {
      expect(d.decisionId).toBe(`${d.txId}:${d.stage}`);
      expect(d.final).toBe(d.action !== 'REVIEW');
    }
    expect(mean).toBeLessThan(0.6 * before);
  }, 120_000);
});
