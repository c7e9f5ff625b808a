/**
 * A generated history and what comes after it. The trainer records the world options it generated its history
 * with (a model card's `source`); the live simulator rebuilds that world, steps past the history and carries on,
 * so live cards have the pasts the model learned on and the simulated clock goes on from where training ended.
 * The world is seeded, so the steps skipped are exactly the history the trainer replayed.
 */
import { z } from 'zod';
import type { WorldEvent } from './world.ts';
import { UserInputError } from '../../core/errors.ts';
import type { WorldOptions } from './options.ts';
import { World } from './world.ts';

/** The `generator` a model card's source names when its history came from this world. */
export const WORLD_GENERATOR = 'producers/world';

export const WorldHistorySchema = z.object({
  generator: z.literal(WORLD_GENERATOR),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The world's first `events` transactions are the history (warm-up included). */
  events: z.number().int().positive(),
  cards: z.number().int().optional(),
  merchants: z.number().int().optional(),
  startTs: z.number().int().optional(),
  fraudRate: z.number().optional(),
  /** The first `warmupEvents` built card state only (no training rows). */
  warmupEvents: z.number().int().nonnegative().optional(),
});

export type WorldHistory = z.output<typeof WorldHistorySchema>;

/** Options that may differ between the history and what follows it: none of them changes the world's random draws before they apply. */
export interface LiveWorldOptions {
  /** The holiday drift, from the first live transaction (plus `driftAfterEvents`). */
  drift?: boolean;
  driftAfterEvents?: number;
  labelDelayScale?: number;
  legitLabelShare?: number;
}

/** The history a model card's `source` describes, or why it cannot be continued (a CSV, a file, Kafka topics). */
export function parseWorldHistory(source: unknown): { history: WorldHistory } | { reason: string } {
  const s = source as { generator?: unknown; history?: unknown; csv?: unknown; topics?: unknown } | null | undefined;
  if (!s || typeof s !== 'object') return { reason: 'the model card records no data source' };
  if (s.generator !== WORLD_GENERATOR) {
    const what = s.csv ? 'a CSV file' : s.history ? `the file ${String(s.history)}` : s.generator ? `generator ${String(s.generator)}` : 'history that was not generated here (Kafka topics?)';
    return { reason: `it was trained on ${what}, not on a generated world` };
  }
  const parsed = WorldHistorySchema.safeParse(s);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { reason: `its world options are unreadable (${issue?.path.join('.') || 'source'}: ${issue?.message ?? 'invalid'})` };
  }
  return { history: parsed.data };
}

/** The options that generated the history (generateStream(historyWorldOptions(h)) repeats it). */
export function historyWorldOptions(h: WorldHistory): WorldOptions {
  return {
    seed: h.seed,
    events: h.events,
    ...(h.cards !== undefined ? { cards: h.cards } : {}),
    ...(h.merchants !== undefined ? { merchants: h.merchants } : {}),
    ...(h.startTs !== undefined ? { startTs: h.startTs } : {}),
    ...(h.fraudRate !== undefined ? { fraudRate: h.fraudRate } : {}),
  };
}

/**
 * The history's world, stepped past the history: `next()` returns the first transaction after it, and runs on
 * without end. Costs one pass over the history (about 1 s per 130,000 events).
 */
export function continueWorld(h: WorldHistory, live: LiveWorldOptions = {}): World {
  const { driftAfterEvents, ...rest } = live;
  if (driftAfterEvents !== undefined && !(Number.isInteger(driftAfterEvents) && driftAfterEvents >= 0)) {
    throw new UserInputError(`driftAfterEvents must be a whole number of live events, got ${driftAfterEvents}`);
  }
  // Drift counts from the end of the history: the history itself must replay exactly as it was generated.
  const world = new World({ ...historyWorldOptions(h), ...rest, events: Infinity, driftAfterEvents: h.events + (driftAfterEvents ?? 0) });
  for (let i = 0; i < h.events; i++) world.next();
  return world;
}

/** The history's transactions in time order with their labels, as the trainer replayed them. */
export function* historyEvents(h: WorldHistory): Generator<WorldEvent> {
  const world = new World(historyWorldOptions(h));
  for (let e = world.next(); e; e = world.next()) yield e;
}

/** Every card of the history's world (some may have no transaction in the history). */
export function historyCardIds(h: WorldHistory): readonly string[] {
  return new World({ ...historyWorldOptions(h), events: 0 }).cardIds();
}
