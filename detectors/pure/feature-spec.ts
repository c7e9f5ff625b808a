/**
 * The feature specification: which entities a stream has, and per entity which aggregates over which windows,
 * plus risk learned from delayed labels. A typed default lives here; a user's JSON file (`--features FILE`) may
 * replace it. The spec only chooses what is read: the state kept per entity (day buckets, see entity-state.ts) is
 * the same whatever the spec, so one store serves every spec whose windows fit its retention.
 */
import { z } from 'zod';
import type { Transaction } from '../../core/contracts.ts';

export const DAY_MS = 86_400_000;

export const AGGREGATES = ['count', 'sum', 'mean', 'max', 'distinct', 'amountRatio', 'sinceLast'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** Transaction fields an entity can be keyed by: the three built in, or an extra id under tx.entities. */
export const ENTITY_FIELDS = ['cardId', 'merchantId', 'deviceId'] as const;

const entityName = z.string().regex(/^[a-z][a-z0-9_]{0,23}$/, 'lower-case letters, digits and _ (e.g. merchant)');
const days = z.number().int('whole days: entity windows are kept as day buckets (the card\'s minute and hour windows are built in)').min(1).max(120);
const fieldRef = z.string().refine((s) => (ENTITY_FIELDS as readonly string[]).includes(s) || /^entities\.[a-z][a-z0-9_]{0,31}$/.test(s), {
  message: `one of ${ENTITY_FIELDS.join(', ')} or entities.NAME (an extra id mapped with --map NAME=COLUMN)`,
});

const EntitySpecSchema = z
  .object({
    name: entityName,
    /** Where the entity's id comes from. */
    field: fieldRef,
    /** The other side of a transaction whose distinct values `distinct` counts (a card's merchants, a merchant's cards). */
    counterparty: fieldRef,
    windowsDays: z.array(days).min(1).max(6),
    aggregates: z.array(z.enum(AGGREGATES)).min(1),
    /** Fraud count and rate over windows that end `labelDelayDays` before now (only labels that have arrived). */
    labelRisk: z.object({ windowsDays: z.array(days).min(1).max(6) }).strict().optional(),
  })
  .strict();

export const FeatureSpecSchema = z
  .object({
    version: z.literal(1),
    /** Risk windows end this many days before the transaction's day: labels younger than this are mostly still missing. */
    labelDelayDays: z.number().int().min(0).max(90),
    /** Pseudo-count pulling a small entity's fraud rate towards the global rate of the same window. */
    smoothing: z.number().min(0).max(10_000),
    entities: z.array(EntitySpecSchema).min(1).max(8),
    /** Extra numbers of the stream read as features as they are (tx.numbers; `--extra COLUMN`); absent reads 0. */
    numeric: z.array(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'lower-case names (numericName of the column)')).max(16).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const names = spec.entities.map((e) => e.name);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: ['entities', i, 'name'], message: `entity "${n}" is declared twice` });
    });
  });
export type FeatureSpec = z.infer<typeof FeatureSpecSchema>;
export type EntitySpec = FeatureSpec['entities'][number];

/** The default: customer (card), merchant/terminal and device, windows up to 30 days, merchant risk from delayed labels. */
export const DEFAULT_FEATURE_SPEC: FeatureSpec = {
  version: 1,
  labelDelayDays: 7,
  smoothing: 5,
  entities: [
    { name: 'card', field: 'cardId', counterparty: 'merchantId', windowsDays: [1, 7, 30], aggregates: ['count', 'mean', 'max', 'distinct', 'amountRatio'] },
    {
      name: 'merchant',
      field: 'merchantId',
      counterparty: 'cardId',
      windowsDays: [1, 7, 30],
      aggregates: ['count', 'mean', 'distinct', 'amountRatio', 'sinceLast'],
      labelRisk: { windowsDays: [1, 7, 30] },
    },
    { name: 'device', field: 'deviceId', counterparty: 'cardId', windowsDays: [1, 7], aggregates: ['count', 'distinct'] },
  ],
};

/** Parses a user's spec (already JSON-decoded); errors name the path. */
export function parseFeatureSpec(raw: unknown): FeatureSpec {
  const parsed = FeatureSpecSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  throw new Error(`feature spec ${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}`);
}

/** Days of day buckets an entity keeps: its longest window, or its longest risk window plus the label delay, plus today. */
export function retentionDays(spec: FeatureSpec, e: EntitySpec): number {
  const plain = Math.max(...e.windowsDays);
  const risk = e.labelRisk ? spec.labelDelayDays + Math.max(...e.labelRisk.windowsDays) : 0;
  return Math.max(plain, risk) + 1;
}

/** The global entity (every transaction, every fraud label): the prior that small entities' rates shrink towards. */
export function globalRetentionDays(spec: FeatureSpec): number {
  return Math.max(1, ...spec.entities.map((e) => retentionDays(spec, e)));
}

/** The id of `field` on a transaction, or null when the transaction has none (no device, no such extra id). */
export function fieldValue(tx: Transaction, field: string): string | null {
  if (field === 'cardId') return tx.cardId;
  if (field === 'merchantId') return tx.merchantId;
  if (field === 'deviceId') return tx.deviceId;
  const extra = tx.entities?.[field.slice('entities.'.length)];
  return extra === undefined || extra === '' ? null : extra;
}

/** Feature names the spec adds after the card's built-in features, in vector order. */
export function entityFeatureNames(spec: FeatureSpec): string[] {
  const out: string[] = [];
  for (const e of spec.entities) {
    const cp = counterpartyWord(e.counterparty);
    for (const a of e.aggregates) {
      if (a === 'sinceLast') {
        out.push(`${e.name}_secs_since_last_log`);
        continue;
      }
      for (const w of e.windowsDays) {
        if (a === 'count') out.push(`${e.name}_count_${w}d`);
        else if (a === 'sum') out.push(`${e.name}_amount_sum_${w}d_log`);
        else if (a === 'mean') out.push(`${e.name}_amount_mean_${w}d_log`);
        else if (a === 'max') out.push(`${e.name}_amount_max_${w}d_log`);
        else if (a === 'distinct') out.push(`${e.name}_distinct_${cp}_${w}d`);
        else out.push(`${e.name}_amount_ratio_${w}d`);
      }
    }
    if (e.labelRisk) {
      for (const w of e.labelRisk.windowsDays) out.push(`${e.name}_fraud_count_${w}d_delayed`);
      for (const w of e.labelRisk.windowsDays) out.push(`${e.name}_fraud_rate_${w}d_delayed`);
    }
  }
  for (const n of spec.numeric ?? []) out.push(`num_${n}`);
  return out;
}

function counterpartyWord(field: string): string {
  if (field === 'cardId') return 'cards';
  if (field === 'merchantId') return 'merchants';
  if (field === 'deviceId') return 'devices';
  return `${field.slice('entities.'.length)}s`;
}
