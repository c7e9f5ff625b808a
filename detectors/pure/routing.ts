/**
 * The routed ensemble: the routing order of the models (shared with router/pure/policy.ts, detect then escalate),
 * applied offline to scored rows, and the choice of thresholds on validation to meet targets. Which model plays
 * which role is read from the registry (core/model-registry.ts `routing`); `models` defaults to it, and tests pass a
 * registry with an extra model to show that its threshold decides.
 */
import { ErrorCodes, FraudstreamError } from '../../core/errors.ts';
import { MODELS, type FirstLineModelId, type ModelSpec, type RoutingRole } from '../../core/model-registry.ts';
import type { ModelThresholds } from '../../core/model-registry.ts';

export const Outcome = { ALLOW_DETECT: 0, ALLOW_ESCALATE: 1, REVIEW: 2, BLOCK_ESCALATE: 3, BLOCK_DETECT: 4 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** Every first-line model's scores by id (a test registry's extra models too), and the escalate stage's. */
export type RoutedRows = { readonly [Id in FirstLineModelId]: ArrayLike<number> } & {
  /** The escalate stage's score (the heavy model's) for every row. */
  second: ArrayLike<number>;
};

type Role<R extends RoutingRole['role']> = Extract<RoutingRole, { role: R }> & { model: string; label: string };
export type BandRole = Role<'band'>;
export type EscalateAboveRole = Role<'escalateAbove'>;
export interface RoutingRoles {
  /** The one model that blocks and allows at detect (XGBoost). */
  band: BandRole;
  /** The models that escalate at or above their threshold (the isolation forest), in registry order. */
  escalateAbove: readonly EscalateAboveRole[];
}

/**
 * What is wrong with a registry's routing declarations (empty when nothing): unique model ids and threshold keys
 * per stage, a role on every detect model and on no escalate model, exactly one band model, role keys among the
 * model's own thresholds, unique rule ids.
 */
export function registryProblems(models: readonly ModelSpec[]): string[] {
  const problems: string[] = [];
  const dup = (what: string, values: string[]) => {
    for (const v of new Set(values.filter((x, i) => values.indexOf(x) !== i))) problems.push(`${what} ${v} is declared twice`);
  };
  dup('model id', models.map((m) => m.id));
  for (const stage of ['detect', 'escalate'] as const) dup(`${stage} threshold key`, models.filter((m) => m.stage === stage).flatMap((m) => m.thresholds.map((t) => t.key)));
  const ruleIds: string[] = [];
  for (const m of models) {
    const r = m.routing;
    if (m.stage === 'escalate') {
      if (r) problems.push(`${m.id} runs at escalate but declares a detect routing role`);
      continue;
    }
    if (!r) {
      problems.push(`${m.id} runs at detect but declares no routing role`);
      continue;
    }
    const keys = r.role === 'band' ? [r.block, r.allow] : [r.threshold];
    for (const k of keys) if (!m.thresholds.some((t) => t.key === k)) problems.push(`${m.id}'s routing names threshold ${k}, which it does not declare`);
    ruleIds.push(...(r.role === 'band' ? [r.blockRuleId, r.ambiguousRuleId] : [r.ruleId]));
  }
  dup('rule id', ruleIds);
  const bands = models.filter((m) => m.routing?.role === 'band').map((m) => m.id);
  if (bands.length !== 1) problems.push(`exactly one detect model must hold the block/allow band, found ${bands.length}${bands.length ? ` (${bands.join(', ')})` : ''}`);
  return problems;
}

const rolesOf = new WeakMap<readonly ModelSpec[], RoutingRoles>();

/** The routing roles of a registry, checked once per registry (a bad declaration is a bug: INTERNAL). */
export function routingRoles(models: readonly ModelSpec[] = MODELS): RoutingRoles {
  const known = rolesOf.get(models);
  if (known) return known;
  const problems = registryProblems(models);
  if (problems.length) throw new FraudstreamError(ErrorCodes.INTERNAL, `model registry: ${problems.join('; ')}`);
  const withModel = (m: ModelSpec) => ({ ...m.routing!, model: m.id, label: m.label });
  const roles: RoutingRoles = {
    band: withModel(models.find((m) => m.routing?.role === 'band')!) as BandRole,
    escalateAbove: models.filter((m) => m.routing?.role === 'escalateAbove').map(withModel) as EscalateAboveRole[],
  };
  rolesOf.set(models, roles);
  return roles;
}

// The registry is checked when this module loads: every stage and the trainer import it.
routingRoles(MODELS);

/** A threshold by key (a key the policy does not hold is undefined, and a comparison with it never fires). */
export const thresholdOf = (t: ModelThresholds['detect'], key: string): number => (t as Readonly<Record<string, number>>)[key];
/** One model's scores by id. */
export const scoresOf = (rows: RoutedRows, id: string): ArrayLike<number> => (rows as unknown as Readonly<Record<string, ArrayLike<number>>>)[id];

/** A score by model id, undefined when the model did not score (rules-only mode). */
export type ScoreOf = (id: string) => number | undefined;

/** Whether an escalateAbove model's score is at or above its threshold. */
export function escalatesAbove(t: ModelThresholds['detect'], score: ScoreOf, r: EscalateAboveRole): boolean {
  const v = score(r.model);
  return v !== undefined && v >= thresholdOf(t, r.threshold);
}

/**
 * The routing order, once, for the live policy (router/pure/policy.ts, which puts its rules and lists around it)
 * and for the trainer's threshold search. First line: the band model blocks first, then every escalateAbove model
 * escalates the unusual, then the band model's ambiguous band escalates; the rest is allowed.
 */
export const FirstLineBand = { ALLOW: 0, AMBIGUOUS: 1, ESCALATE_ABOVE: 2, BLOCK: 3 } as const;
export type FirstLineBand = (typeof FirstLineBand)[keyof typeof FirstLineBand];

export function firstLineBand(t: ModelThresholds['detect'], score: ScoreOf, models: readonly ModelSpec[] = MODELS): FirstLineBand {
  const { band, escalateAbove } = routingRoles(models);
  const b = score(band.model);
  if (b !== undefined && b >= thresholdOf(t, band.block)) return FirstLineBand.BLOCK;
  for (const r of escalateAbove) if (escalatesAbove(t, score, r)) return FirstLineBand.ESCALATE_ABOVE;
  if (b !== undefined && b >= thresholdOf(t, band.allow)) return FirstLineBand.AMBIGUOUS;
  return FirstLineBand.ALLOW;
}

/** Second line: block at or above blockAbove, allow below allowBelow, the band between is for a person. */
export const SecondLineBand = { ALLOW: 0, AMBIGUOUS: 1, BLOCK: 2 } as const;
export type SecondLineBand = (typeof SecondLineBand)[keyof typeof SecondLineBand];

export function secondLineBand(t: ModelThresholds['escalate'], score: number): SecondLineBand {
  if (score >= t.blockAbove) return SecondLineBand.BLOCK;
  if (score < t.allowBelow) return SecondLineBand.ALLOW;
  return SecondLineBand.AMBIGUOUS;
}

function routeBy(t: ModelThresholds, score: ScoreOf, second: number, models: readonly ModelSpec[]): Outcome {
  const first = firstLineBand(t.detect, score, models);
  if (first === FirstLineBand.BLOCK) return Outcome.BLOCK_DETECT;
  if (first === FirstLineBand.ALLOW) return Outcome.ALLOW_DETECT;
  const band = secondLineBand(t.escalate, second);
  return band === SecondLineBand.BLOCK ? Outcome.BLOCK_ESCALATE : band === SecondLineBand.ALLOW ? Outcome.ALLOW_ESCALATE : Outcome.REVIEW;
}

/** One transaction: its first-line scores by model id and the escalate stage's score. */
export function route(t: ModelThresholds, first: Readonly<Record<string, number | undefined>>, second: number, models: readonly ModelSpec[] = MODELS): Outcome {
  return routeBy(t, (id) => first[id], second, models);
}

export function routeAll(t: ModelThresholds, rows: RoutedRows, models: readonly ModelSpec[] = MODELS): Uint8Array {
  const out = new Uint8Array(rows.second.length);
  let i = 0;
  const score: ScoreOf = (id) => scoresOf(rows, id)[i];
  for (; i < out.length; i++) out[i] = routeBy(t, score, rows.second[i], models);
  return out;
}

/**
 * The routed ensemble's ranking blended with one member's score: (1 - weight) x routing score + weight x member.
 * Chosen on validation (detectors/pure/evaluate.ts chooseEnsembleBlend) so the ensemble does not rank below its best
 * member; weight 0 is the routing alone.
 */
export interface EnsembleBlend {
  /** A first-line model id, or 'heavy'. */
  member: string;
  weight: number;
}

/** A member's scores by id: a first-line model's, or the heavy model's when the rows carry them. */
export function memberScores(rows: RoutedRows & { heavy?: ArrayLike<number> }, member: string): ArrayLike<number> | undefined {
  return member === 'heavy' ? rows.heavy : scoresOf(rows, member);
}

/**
 * One number per routed row for ROC/PR curves: the outcome band (allowed at detect < allowed at escalate <
 * review < blocked at escalate < blocked at detect), then the deciding model's score within the band (the band
 * model's at detect); blended with a member's score when a blend is given.
 */
export function ensembleScores(outcomes: Uint8Array, rows: RoutedRows & { heavy?: ArrayLike<number> }, models: readonly ModelSpec[] = MODELS, blend?: EnsembleBlend): Float64Array {
  const band = scoresOf(rows, routingRoles(models).band.model);
  const s = new Float64Array(outcomes.length);
  for (let i = 0; i < s.length; i++) {
    const o = outcomes[i];
    const within = o === Outcome.ALLOW_DETECT || o === Outcome.BLOCK_DETECT ? band[i] : rows.second[i];
    s[i] = (o + Math.min(Math.max(within, 0), 1)) / 5;
  }
  const w = blend?.weight ?? 0;
  if (w > 0) {
    const m = memberScores(rows, blend!.member);
    if (!m) throw new FraudstreamError(ErrorCodes.INTERNAL, `ensemble blend names ${blend!.member}, which these rows have no scores for`);
    for (let i = 0; i < s.length; i++) s[i] = (1 - w) * s[i] + w * Math.min(Math.max(m[i], 0), 1);
  }
  return s;
}

export const isCaught = (o: number) => o === Outcome.REVIEW || o === Outcome.BLOCK_ESCALATE || o === Outcome.BLOCK_DETECT;
export const isEscalated = (o: number) => o === Outcome.ALLOW_ESCALATE || o === Outcome.REVIEW || o === Outcome.BLOCK_ESCALATE;
export const isBlocked = (o: number) => o === Outcome.BLOCK_ESCALATE || o === Outcome.BLOCK_DETECT;

export interface RoutingTargets {
  /** Share of fraud blocked or sent to review. */
  catchRate: number;
  /** At most this share of all transactions goes to the escalate stage. */
  maxEscalateShare: number;
  /** At most this share of all transactions goes to human review. */
  maxReviewShare: number;
  /** At most this share of legitimate transactions is blocked (per stage). */
  maxBlockFpr: number;
  /** Part of the escalation budget reserved for the escalateAbove models (the isolation forest), split equally among them. */
  anomalyShareOfEscalations: number;
}

export const DEFAULT_TARGETS: RoutingTargets = {
  catchRate: 0.95,
  maxEscalateShare: 0.03,
  maxReviewShare: 0.005,
  maxBlockFpr: 0.001,
  anomalyShareOfEscalations: 0.3,
};

export interface ThresholdChoice {
  thresholds: ModelThresholds;
  /** What the chosen thresholds do on the validation slice. */
  validation: { catchRate: number; escalateShare: number; reviewShare: number; legitBlockedShare: number };
  met: { catchRate: boolean; maxEscalateShare: boolean; maxReviewShare: boolean };
}

/** Smallest t such that at most `maxCount` of `values` are >= t (values need not be sorted). */
export function thresholdKeepingAtMost(values: ArrayLike<number>, maxCount: number): number {
  const s = Float64Array.from(values).sort().reverse();
  if (maxCount >= s.length) return s.length ? s[s.length - 1] : 0;
  const v = s[Math.max(0, Math.floor(maxCount))];
  return Math.min(1, nextUp(v));
}

function nextUp(v: number): number {
  return v + Math.max(Math.abs(v) * 1e-9, 1e-12);
}

/**
 * Picks thresholds on validation rows. Detect: the band model blocks where at most maxBlockFpr of legitimate
 * traffic scores; the escalateAbove models share a fixed slice of the escalation budget (each the same part of
 * it, at its score's quantile on legitimate rows), the band model's ambiguous band gets the rest.
 * Escalate: block at the same legitimate-traffic budget; allowBelow is the highest value that reaches the catch
 * target within the review budget (people are the expensive part), or else the lowest the budget allows.
 */
export function chooseThresholds(rows: RoutedRows, labels: ArrayLike<number>, targets: RoutingTargets = DEFAULT_TARGETS, models: readonly ModelSpec[] = MODELS): ThresholdChoice {
  const n = labels.length;
  const legit: number[] = [];
  const fraud: number[] = [];
  for (let i = 0; i < n; i++) (labels[i] ? fraud : legit).push(i);
  const pick = (arr: ArrayLike<number>, idx: number[]) => idx.map((i) => arr[i]);
  const roles = routingRoles(models);
  const band = scoresOf(rows, roles.band.model);

  const detectBlock = thresholdKeepingAtMost(pick(band, legit), targets.maxBlockFpr * legit.length);
  const perModel = targets.anomalyShareOfEscalations / Math.max(1, roles.escalateAbove.length);
  const escalateAbove = roles.escalateAbove.map((r) => [r.threshold, thresholdKeepingAtMost(pick(scoresOf(rows, r.model), legit), perModel * targets.maxEscalateShare * legit.length)] as const);

  const base: ModelThresholds = {
    detect: { [roles.band.block]: detectBlock, [roles.band.allow]: detectBlock, ...Object.fromEntries(escalateAbove) } as ModelThresholds['detect'],
    escalate: { blockAbove: 1, allowBelow: 0 },
  };
  // Rows some escalateAbove model escalates, whatever the band model says.
  const flagged = new Uint8Array(n);
  for (const [key, thr] of escalateAbove) {
    const col = scoresOf(rows, roles.escalateAbove.find((r) => r.threshold === key)!.model);
    for (let i = 0; i < n; i++) if (col[i] >= thr) flagged[i] = 1;
  }

  // allowBelow: the lowest value the escalation budget allows. Escalating costs compute, not people, and
  // every fraud allowed here is lost for good, so detect hands the escalate stage all the budget it may.
  const candidates = uniqueDesc(Array.from(band).filter((v) => v < detectBlock));
  let allowBelow = detectBlock;
  for (const a of candidates) {
    let escalated = 0;
    for (let i = 0; i < n; i++) {
      const x = band[i];
      if (x < detectBlock && (x >= a || flagged[i])) escalated++;
    }
    if (escalated / n > targets.maxEscalateShare) break;
    allowBelow = a;
  }
  (base.detect as Record<string, number>)[roles.band.allow] = allowBelow;

  // Escalate stage on the rows detect escalates.
  const escalatedIdx: number[] = [];
  let detectBlockedFraud = 0;
  for (let i = 0; i < n; i++) {
    const x = band[i];
    if (x >= detectBlock) {
      if (labels[i]) detectBlockedFraud++;
    } else if (x >= allowBelow || flagged[i]) escalatedIdx.push(i);
  }
  const escLegit = escalatedIdx.filter((i) => !labels[i]);
  const escBlock = escalatedIdx.length ? thresholdKeepingAtMost(pick(rows.second, escLegit), targets.maxBlockFpr * legit.length) : 1;
  let escAllow = escBlock;
  const candidates2 = uniqueDesc(escalatedIdx.map((i) => rows.second[i]).filter((v) => v < escBlock));
  for (const a of candidates2) {
    let review = 0;
    let caught = detectBlockedFraud;
    for (const i of escalatedIdx) {
      const s = rows.second[i];
      if (s >= escBlock) {
        if (labels[i]) caught++;
      } else if (s >= a) {
        review++;
        if (labels[i]) caught++;
      }
    }
    if (review / n > targets.maxReviewShare) break;
    escAllow = a;
    if (fraud.length > 0 && caught / fraud.length >= targets.catchRate) break;
  }
  base.escalate = { blockAbove: escBlock, allowBelow: Math.min(escAllow, escBlock) };

  const outcomes = routeAll(base, rows, models);
  let caught = 0;
  let esc = 0;
  let review = 0;
  let legitBlocked = 0;
  for (let i = 0; i < n; i++) {
    const o = outcomes[i];
    if (labels[i] && isCaught(o)) caught++;
    if (isEscalated(o)) esc++;
    if (o === Outcome.REVIEW) review++;
    if (!labels[i] && isBlocked(o)) legitBlocked++;
  }
  const validation = {
    catchRate: fraud.length ? caught / fraud.length : NaN,
    escalateShare: esc / n,
    reviewShare: review / n,
    legitBlockedShare: legit.length ? legitBlocked / legit.length : 0,
  };
  return {
    thresholds: base,
    validation,
    met: {
      catchRate: validation.catchRate >= targets.catchRate,
      maxEscalateShare: validation.escalateShare <= targets.maxEscalateShare + 1e-12,
      maxReviewShare: validation.reviewShare <= targets.maxReviewShare + 1e-12,
    },
  };
}

/** Distinct values, highest first, thinned to at most `max` evenly spaced candidates. */
function uniqueDesc(values: number[], max = 400): number[] {
  const u = [...new Set(values)].sort((a, b) => b - a);
  if (u.length <= max) return u;
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(u[Math.floor((k * (u.length - 1)) / (max - 1))]);
  return out;
}
