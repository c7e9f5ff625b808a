import { z } from 'zod';
import { UserInputError } from '../../core/errors.ts';
import { SCENARIO_NAMES, SCENARIOS, type ScenarioName } from './scenarios.ts';

const DAY = 86_400_000;

/** 2025-01-06T00:00:00Z, a Monday: generated files start here unless told otherwise, so they are reproducible. */
export const DEFAULT_START_TS = Date.UTC(2025, 0, 6);

const scenario = z.enum(SCENARIO_NAMES);
const rate = z.number().min(0).max(0.5);

export const WorldOptionsSchema = z
  .object({
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    /** How many transactions to produce; Infinity for a live simulation. */
    events: z.union([z.number().int().nonnegative(), z.literal(Infinity)]),
    cards: z.number().int().min(10).max(1_000_000).default(10_000),
    merchants: z.number().int().min(50).max(1_000_000).default(2_000),
    startTs: z.number().int().nonnegative().default(DEFAULT_START_TS),
    /** Total fraud share; scales the default per-scenario rates (overridden per scenario by `rates`). */
    fraudRate: rate.optional(),
    /** Share of all transactions that each scenario's fraud should make up. */
    rates: z.partialRecord(scenario, rate).default({}),
    /** Only these scenarios run (default: all). */
    include: z.array(scenario).optional(),
    /** These scenarios never run. */
    exclude: z.array(scenario).default([]),
    /** Holiday-season drift in legitimate behaviour, starting after `driftAfterEvents` transactions. */
    drift: z.boolean().default(false),
    driftAfterEvents: z.number().int().nonnegative().optional(),
    /** Share of legitimate transactions that also get an isFraud=false label (1 = all). */
    legitLabelShare: z.number().min(0).max(1).default(1),
    /** Multiplies every label delay (chargebacks take days; a live demo wants seconds). */
    labelDelayScale: z.number().positive().max(10).default(1),
    /** Median chargeback delay for fraud, in ms. */
    chargebackMedianMs: z.number().positive().default(10 * DAY),
    /** A legitimate transaction is known good once the chargeback window closes, in ms. */
    legitLabelDelayMs: z.number().positive().default(30 * DAY),
  })
  .strict();

export type WorldOptions = z.input<typeof WorldOptionsSchema>;
export type ResolvedWorldOptions = z.output<typeof WorldOptionsSchema> & {
  /** Effective rate per scenario after fraudRate, rates, include and exclude. */
  scenarioRates: Record<ScenarioName, number>;
  driftStartsAt: number;
};

/** Validates options once, failing with the path of the bad one. */
export function resolveWorldOptions(input: WorldOptions): ResolvedWorldOptions {
  const parsed = WorldOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserInputError(`world option ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  const o = parsed.data;
  const defaultTotal = SCENARIOS.reduce((s, x) => s + x.defaultRate, 0);
  const scale = o.fraudRate === undefined ? 1 : o.fraudRate / defaultTotal;
  const scenarioRates = {} as Record<ScenarioName, number>;
  for (const s of SCENARIOS) {
    const on = (o.include === undefined || o.include.includes(s.name)) && !o.exclude.includes(s.name);
    scenarioRates[s.name] = on ? (o.rates[s.name] ?? s.defaultRate * scale) : 0;
  }
  const total = Object.values(scenarioRates).reduce((a, b) => a + b, 0);
  if (total > 0.5) throw new UserInputError(`world option rates: fraud would be ${(total * 100).toFixed(1)}% of transactions; keep the total at or below 50%`);
  const driftStartsAt = o.driftAfterEvents ?? (Number.isFinite(o.events) ? Math.floor(o.events / 2) : 0);
  return { ...o, scenarioRates, driftStartsAt };
}
