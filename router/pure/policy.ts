/**
 * The routing policy as pure functions: lists, rules and thresholds in, an action and the reasons out.
 * No I/O here; stages, the policy preview and the trainer's threshold search all call these.
 */
import type { Policy, RuleHit, Scores } from '../../core/contracts.ts';
import { escalatesAbove, FirstLineBand, firstLineBand, routingRoles, type ScoreOf, SecondLineBand, secondLineBand, thresholdOf } from '../../detectors/pure/routing.ts';
import { MODELS, type ModelSpec } from '../../core/model-registry.ts';
import type { CutoffStatus, StakeWindow } from './money.ts';

export type FirstLineAction = 'ALLOW' | 'BLOCK' | 'ESCALATE';

export interface FirstLineInput {
  scores: Scores;
  amountMinor: number;
  country: string;
  mcc: string;
  cardId: string;
  merchantId: string;
}

export interface RoutedOutcome<A extends string> {
  action: A;
  rulesFired: RuleHit[];
  reason: string;
}

/** Rules and lists that do not depend on models. Block lists beat allow lists; allow lists beat rules. */
export function evaluateRules(policy: Policy, s: Omit<FirstLineInput, 'scores'>): RuleHit[] {
  const hits: RuleHit[] = [];
  const { lists, rules } = policy;
  if (lists.blockCards.includes(s.cardId)) {
    hits.push({ id: 'list.block_card', description: 'card is on the block list', effect: 'block', value: s.cardId });
  }
  if (lists.blockMerchants.includes(s.merchantId)) {
    hits.push({ id: 'list.block_merchant', description: 'merchant is on the block list', effect: 'block', value: s.merchantId });
  }
  if (lists.allowCards.includes(s.cardId)) {
    hits.push({ id: 'list.allow_card', description: 'card is on the allow list', effect: 'allow', value: s.cardId });
  }
  if (lists.allowMerchants.includes(s.merchantId)) {
    hits.push({ id: 'list.allow_merchant', description: 'merchant is on the allow list', effect: 'allow', value: s.merchantId });
  }
  if (rules.blockAmountAbove !== null && s.amountMinor > rules.blockAmountAbove) {
    hits.push({ id: 'rule.amount_block', description: 'amount above the block limit', effect: 'block', value: s.amountMinor, threshold: rules.blockAmountAbove });
  }
  if (rules.blockedCountries.includes(s.country)) {
    hits.push({ id: 'rule.country_block', description: 'country is blocked', effect: 'block', value: s.country });
  }
  if (rules.blockedMccs.includes(s.mcc)) {
    hits.push({ id: 'rule.mcc_block', description: 'merchant category is blocked', effect: 'block', value: s.mcc });
  }
  if (rules.escalateAmountAbove !== null && s.amountMinor > rules.escalateAmountAbove) {
    hits.push({ id: 'rule.amount_escalate', description: 'amount above the escalation limit', effect: 'escalate', value: s.amountMinor, threshold: rules.escalateAmountAbove });
  }
  if (rules.escalateCountries.includes(s.country)) {
    hits.push({ id: 'rule.country_escalate', description: 'country needs a closer look', effect: 'escalate', value: s.country });
  }
  if (rules.escalateMccs.includes(s.mcc)) {
    hits.push({ id: 'rule.mcc_escalate', description: 'merchant category needs a closer look', effect: 'escalate', value: s.mcc });
  }
  return hits;
}

/** Scores and thresholds in reasons: enough digits to compare, never a 17-digit float. */
const fmt = (x: number) => (x !== 0 && Math.abs(x) < 0.001 ? x.toExponential(2) : x.toFixed(3));

/**
 * First line (detect stage): block lists and block rules, then allow lists, then the models, in the roles the
 * registry gives them (core/model-registry.ts `routing`; `models` defaults to it): the band model blocks, then
 * escalation rules, then every escalateAbove model at or above its threshold escalates (one hit each, the reason
 * names them), then the band model's ambiguous band escalates.
 * Without model scores (cold start, no trained version) only lists and rules decide, and the rest is allowed.
 */
export function decideFirstLine(policy: Policy, s: FirstLineInput, models: readonly ModelSpec[] = MODELS): RoutedOutcome<FirstLineAction> {
  const hits = evaluateRules(policy, s);
  const blocking = hits.find((h) => h.effect === 'block');
  if (blocking) return { action: 'BLOCK', rulesFired: hits, reason: `${blocking.id}: ${blocking.description}` };
  const allowing = hits.find((h) => h.effect === 'allow');
  if (allowing) return { action: 'ALLOW', rulesFired: hits, reason: `${allowing.id}: ${allowing.description}` };

  const t = policy.thresholds.detect;
  const scores = s.scores as Readonly<Record<string, number | undefined>>;
  const score: ScoreOf = (id) => scores[id];
  const roles = routingRoles(models);
  const { label } = roles.band;
  const b = score(roles.band.model);
  const [blockAt, allowAt] = [thresholdOf(t, roles.band.block), thresholdOf(t, roles.band.allow)];
  // The models' order is shared with the trainer (detectors/pure/routing.ts); escalation rules sit after a model block.
  const band = firstLineBand(t, score, models);
  if (band === FirstLineBand.BLOCK) {
    hits.push({ id: roles.band.blockRuleId, description: `${label} score at or above the block threshold`, effect: 'block', value: b, threshold: blockAt });
    return { action: 'BLOCK', rulesFired: hits, reason: `${label} ${fmt(b!)} >= ${fmt(blockAt)}` };
  }
  const escalating = hits.find((h) => h.effect === 'escalate');
  if (escalating) return { action: 'ESCALATE', rulesFired: hits, reason: `${escalating.id}: ${escalating.description}` };
  if (band === FirstLineBand.ESCALATE_ABOVE) {
    const fired = roles.escalateAbove.filter((r) => escalatesAbove(t, score, r));
    for (const r of fired) hits.push({ id: r.ruleId, description: r.description, effect: 'escalate', value: score(r.model), threshold: thresholdOf(t, r.threshold) });
    return { action: 'ESCALATE', rulesFired: hits, reason: fired.map((r) => `${r.reasonLabel} ${fmt(score(r.model)!)} >= ${fmt(thresholdOf(t, r.threshold))}`).join('; ') };
  }
  if (band === FirstLineBand.AMBIGUOUS) {
    hits.push({ id: roles.band.ambiguousRuleId, description: `${label} score between the allow and block thresholds`, effect: 'escalate', value: b, threshold: allowAt });
    return { action: 'ESCALATE', rulesFired: hits, reason: `${label} ${fmt(b!)} in [${fmt(allowAt)}, ${fmt(blockAt)})` };
  }
  const reason = b === undefined ? 'no rule fired (rules-only mode: no model version loaded)' : `${label} ${fmt(b)} < ${fmt(allowAt)}`;
  return { action: 'ALLOW', rulesFired: hits, reason };
}

export type EscalationAction = 'ALLOW' | 'BLOCK' | 'REVIEW';

/** What the review cutoff needs about an ambiguous case: its stake and its cheaper action (router/pure/money.ts). */
export interface CaseMoney {
  stake: number;
  cheaper: 'ALLOW' | 'BLOCK';
  /** Where the stakes of recent ambiguous cases are kept; this case is added to it. */
  stakes: StakeWindow;
  now: number;
  /** The case's id, so a case decided again (a replayed batch) is counted once in the window. */
  id?: string;
}

const minor = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : 'none (no review capacity)');

/**
 * Second line (escalate stage): the heavy model settles what it can. What stays ambiguous goes to a human when
 * its stake is at or above the review cutoff the staffing allows (given `money`); below it the cheaper action
 * decides. A full queue falls back to the heavy score at the midpoint of the ambiguous band, so the system keeps
 * deciding when analysts are overwhelmed.
 */
export function decideEscalation(policy: Policy, heavy: number, openCases: number, money?: CaseMoney): RoutedOutcome<EscalationAction> & { cutoff?: CutoffStatus } {
  const t = policy.thresholds.escalate;
  const band = secondLineBand(t, heavy);
  if (band === SecondLineBand.BLOCK) {
    return { action: 'BLOCK', rulesFired: [{ id: 'model.heavy_block', description: 'heavy model at or above the block threshold', effect: 'block', value: heavy, threshold: t.blockAbove }], reason: `heavy ${fmt(heavy)} >= ${fmt(t.blockAbove)}` };
  }
  if (band === SecondLineBand.ALLOW) {
    return { action: 'ALLOW', rulesFired: [], reason: `heavy ${fmt(heavy)} < ${fmt(t.allowBelow)}` };
  }
  const ambiguous: RuleHit = { id: 'model.heavy_ambiguous', description: 'heavy model still unsure', effect: 'review', value: heavy, threshold: t.allowBelow };
  let cutoffHits: RuleHit[] = [];
  let cutoff: CutoffStatus | undefined;
  if (money) {
    money.stakes.add(money.now, money.stake, money.id);
    cutoff = money.stakes.status(money.now, policy.review);
    const threshold = Number.isFinite(cutoff.cutoff) ? Math.round(cutoff.cutoff) : 'no capacity';
    if (money.stake < cutoff.cutoff) {
      const description = `review capacity: stake ${minor(money.stake)} below cutoff ${minor(cutoff.cutoff)}`;
      const hit: RuleHit = { id: 'review.capacity_cutoff', description, effect: 'info', value: Math.round(money.stake), threshold };
      return { action: money.cheaper, rulesFired: [{ ...ambiguous, effect: 'info' }, hit], reason: `${description} (minor units); ${money.cheaper} costs less`, cutoff };
    }
    cutoffHits = [{ id: 'review.capacity_fits', description: `review capacity: stake ${minor(money.stake)} at or above cutoff ${minor(cutoff.cutoff)}`, effect: 'info', value: Math.round(money.stake), threshold }];
  }
  if (openCases < policy.review.capacity) {
    return { action: 'REVIEW', rulesFired: [ambiguous, ...cutoffHits], reason: `heavy ${fmt(heavy)} in [${fmt(t.allowBelow)}, ${fmt(t.blockAbove)}): human review`, ...(cutoff ? { cutoff } : {}) };
  }
  const mid = (t.allowBelow + t.blockAbove) / 2;
  const hit: RuleHit = { id: 'review.capacity_full', description: 'review queue full; decided on the heavy score', effect: 'info', value: openCases, threshold: policy.review.capacity };
  const extra = cutoff ? { cutoff } : {};
  return heavy >= mid
    ? { action: 'BLOCK', rulesFired: [...cutoffHits, hit], reason: `review queue full (${openCases}); heavy ${fmt(heavy)} >= ${fmt(mid)}`, ...extra }
    : { action: 'ALLOW', rulesFired: [...cutoffHits, hit], reason: `review queue full (${openCases}); heavy ${fmt(heavy)} < ${fmt(mid)}`, ...extra };
}
