import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { UserInputError } from '../../core/errors.ts';
import type { Label } from '../../core/contracts.ts';
import { createSimulator } from '../../producers/simulator.ts';
import type { OutMessage, Sink } from '../../producers/kafka-sink.ts';
import { findTrainedWorld } from '../../producers/trained-world.ts';
import {
  continueWorld,
  generateStream,
  historyCardIds,
  historyEvents,
  parseWorldHistory,
  WORLD_GENERATOR,
  type WorldHistory,
} from '../../producers/world/index.ts';

const history: WorldHistory = { generator: WORLD_GENERATOR, seed: 21, events: 3_000, cards: 150, merchants: 120, fraudRate: 0.02, warmupEvents: 1_000 };
const opts = { seed: 21, cards: 150, merchants: 120, fraudRate: 0.02 };

describe('a generated history and its continuation', () => {
  it('reads the history from a model card source, and says why a CSV, a file or Kafka history has none', () => {
    expect(parseWorldHistory({ ...history, extra: 'ignored' })).toEqual({ history });
    expect(parseWorldHistory({ csv: '/x.csv', label: 'Class' })).toEqual({ reason: expect.stringMatching(/a CSV file/) });
    expect(parseWorldHistory({ history: '/data/tx.jsonl' })).toEqual({ reason: expect.stringMatching(/the file \/data\/tx\.jsonl/) });
    expect(parseWorldHistory({ topics: { transactions: 't' } })).toEqual({ reason: expect.stringMatching(/not generated here/) });
    expect(parseWorldHistory({ generator: WORLD_GENERATOR, seed: 1 })).toEqual({ reason: expect.stringMatching(/events/) });
    expect(parseWorldHistory(undefined)).toEqual({ reason: expect.stringMatching(/no data source/) });
  });

  it('replays exactly the history the trainer generated, then goes on as the same world would', () => {
    const long = Array.from(generateStream({ ...opts, events: 4_000 }));
    expect(Array.from(historyEvents(history))).toEqual(long.slice(0, 3_000));
    const world = continueWorld(history);
    expect(world.now).toBe(long[2_999]!.tx.ts);
    const next = Array.from({ length: 1_000 }, () => world.next()!);
    expect(next).toEqual(long.slice(3_000));
    const cards = new Set(historyCardIds(history));
    expect(cards.size).toBe(150);
    for (const e of long) expect(cards.has(e.tx.cardId)).toBe(true);
  });

  it('starts the holiday drift at the first live transaction, leaving the history as it was', () => {
    const plain = continueWorld(history);
    const drifted = continueWorld(history, { drift: true });
    expect(drifted.now).toBe(plain.now);
    expect(drifted.driftActive).toBe(true);
    expect(plain.driftActive).toBe(false);
    const a = Array.from({ length: 2_000 }, () => plain.next()!.tx);
    const b = Array.from({ length: 2_000 }, () => drifted.next()!.tx);
    expect(b.map((t) => t.txId)).toEqual(a.map((t) => t.txId));
    const online = (xs: typeof a) => xs.filter((x) => x.channel === 'ecommerce').length / xs.length;
    expect(online(b)).toBeGreaterThan(online(a) + 0.05);
    const later = continueWorld(history, { drift: true, driftAfterEvents: 500 });
    for (let i = 0; i < 500; i++) later.next();
    expect(later.driftActive).toBe(true);
    expect(() => continueWorld(history, { driftAfterEvents: -1 })).toThrow(/driftAfterEvents/);
  });
});

function memorySink(): Sink & { txs: OutMessage[]; labels: OutMessage[] } {
  const txs: OutMessage[] = [];
  const labels: OutMessage[] = [];
  return {
    txs,
    labels,
    async send(t: OutMessage[], l: OutMessage[]) {
      txs.push(...t);
      labels.push(...l);
    },
    async close() {},
  } as Sink & { txs: OutMessage[]; labels: OutMessage[] };
}

describe('the simulator continuing a trained world', () => {
  const config = loadConfig({});

  it('sends the world after the history, with ids of its own run, and labels that name them', async () => {
    const sink = memorySink();
    const sim = createSimulator(config, { rate: 20_000, continueFrom: history, sink, world: { labelDelayScale: 0.0001 } });
    await sim.start();
    for (let i = 0; i < 200 && sim.stats().sent < 2_000; i++) await new Promise((r) => setTimeout(r, 10));
    const stats = await sim.stop();
    expect(stats.continuing).toMatchObject({ seed: 21, historyEvents: 3_000 });
    const suffix = stats.continuing!.idSuffix;
    expect(suffix).toMatch(/^~[0-9a-z]+$/);
    const sent = sink.txs.map((m) => JSON.parse(m.value.toString()) as { txId: string; ts: number; cardId: string });
    expect(sent.length).toBeGreaterThanOrEqual(2_000);
    const expected = Array.from(generateStream({ ...opts, events: 3_000 + sent.length })).slice(3_000);
    expect(sent.map((t) => t.txId)).toEqual(expected.map((e) => e.tx.txId + suffix));
    expect(sent.map((t) => t.ts)).toEqual(expected.map((e) => e.tx.ts));
    expect(sent[0]!.ts).toBeGreaterThanOrEqual(stats.continuing!.from);
    const ids = new Set(sent.map((t) => t.txId));
    const labels = sink.labels.map((m) => JSON.parse(m.value.toString()) as Label);
    expect(labels.length).toBeGreaterThan(0);
    for (const l of labels) expect(ids.has(l.txId)).toBe(true);
  });

  it('refuses options that would change the world it must repeat', () => {
    expect(() => createSimulator(config, { rate: 10, continueFrom: history, seed: 5 })).toThrow(UserInputError);
    expect(() => createSimulator(config, { rate: 10, continueFrom: history, seed: 5 })).toThrow(/keeps the seed it was trained with \(21\)/);
    expect(() => createSimulator(config, { rate: 10, continueFrom: history, world: { cards: 20 } })).toThrow(/world option cards/);
    expect(() => createSimulator(config, { rate: 10, continueFrom: history, seed: 21, world: { drift: true, legitLabelShare: 0.5 } })).not.toThrow();
  });
});

describe('findTrainedWorld reads the model card under MODEL_DIR', () => {
  it('finds the newest version, a named one, and says why there is nothing to continue', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fs-trained-'));
    expect(await findTrainedWorld(dir)).toEqual({ version: undefined, reason: expect.stringMatching(/no model version/) });
    const put = async (name: string, source: unknown) => {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'model-card.json'), JSON.stringify({ version: name, source }));
    };
    await put('v20250101T000000000Z', history);
    await put('v20250102T000000000Z', { csv: '/x.csv' });
    await mkdir(join(dir, 'v20250103T000000000Z')); // incomplete: no model card
    expect(await findTrainedWorld(dir)).toEqual({ version: 'v20250102T000000000Z', reason: expect.stringMatching(/CSV/) });
    expect(await findTrainedWorld(dir, 'v20250101T000000000Z')).toEqual({ version: 'v20250101T000000000Z', history });
    await expect(findTrainedWorld(dir, 'v20991231T000000000Z')).rejects.toThrow(/no model-card.json/);
    // The one version rule: an incomplete folder, or a stray one under another name, is not a version to continue.
    await expect(findTrainedWorld(dir, 'v20250103T000000000Z')).rejects.toThrow(/v20250103T000000000Z holds no model-card.json/);
    await put('scratch', history);
    await expect(findTrainedWorld(dir, 'scratch')).rejects.toThrow(/scratch is not named by the trainer and its model-card.json has no createdAt/);
  });
});
