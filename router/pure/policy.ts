/**
 * The routing policy as pure functions: lists, rules and thresholds in, an action and the reasons out.
 * No I/O here; stages, the policy preview and the trainer's threshold search all call these.
 */
import type { Policy, RuleHit, Scores } from '../../core/contracts.ts';
import { FirstLineBand, firstLineBand, SecondLineBand, secondLineBand } from '../../detectors/pure/routing.ts';

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
 * First line (detect stage): block lists and block rules, then allow lists, then the models.
 * Without model scores (cold start, no trained version) only lists and rules decide, and the rest is allowed.
 */
export function decideFirstLine(policy: Policy, s: FirstLineInput): RoutedOutcome<FirstLineAction> {
  const hits = evaluateRules(policy, s);
  const blocking = hits.find((h) => h.effect === 'block');
  if (blocking) return { action: 'BLOCK', rulesFired: hits, reason: `${blocking.id}: ${blocking.description}` };
  const allowing = hits.find((h) => h.effect === 'allow');
  if (allowing) return { action: 'ALLOW', rulesFired: hits, reason: `${allowing.id}: ${allowing.description}` };

  const t = policy.thresholds.detect;
  const { xgboost, isolationForest } = s.scores;
  // The models' order is shared with the trainer (detectors/pure/routing.ts); escalation rules sit after a model block.
  const band = firstLineBand(t, xgboost, isolationForest);
  if (band === FirstLineBand.BLOCK) {
    hits.push({ id: 'model.xgboost_block', description: 'XGBoost score at or above the block threshold', effect: 'block', value: xgboost, threshold: t.blockAbove });
    return { action: 'BLOCK', rulesFired: hits, reason: `XGBoost ${fmt(xgboost!)} >= ${fmt(t.blockAbove)}` };
  }
  const escalating = hits.find((h) => h.effect === 'escalate');
  if (escalating) return { action: 'ESCALATE', rulesFired: hits, reason: `${escalating.id}: ${escalating.description}` };
  if (band === FirstLineBand.ANOMALY) {
    hits.push({ id: 'model.anomaly_escalate', description: 'isolation forest finds it unusual', effect: 'escalate', value: isolationForest, threshold: t.anomalyEscalateAbove });
    return { action: 'ESCALATE', rulesFired: hits, reason: `anomaly ${fmt(isolationForest!)} >= ${fmt(t.anomalyEscalateAbove)}` };
  }
  if (band === FirstLineBand.AMBIGUOUS) {
    hits.push({ id: 'model.xgboost_ambiguous', description: 'XGBoost score between the allow and block thresholds', effect: 'escalate', value: xgboost, threshold: t.allowBelow });
    return { action: 'ESCALATE', rulesFired: hits, reason: `XGBoost ${fmt(xgboost!)} in [${fmt(t.allowBelow)}, ${fmt(t.blockAbove)})` };
  }
  const reason = xgboost === undefined ? 'no rule fired (rules-only mode: no model version loaded)' : `XGBoost ${fmt(xgboost)} < ${fmt(t.allowBelow)}`;
  return { action: 'ALLOW', rulesFired: hits, reason };
}

export type EscalationAction = 'ALLOW' | 'BLOCK' | 'REVIEW';

/**
 * Second line (escalate stage): the heavy model settles what it can; the rest goes to a human while the
 * queue has room. A full queue falls back to the heavy score at the midpoint of the ambiguous band, so the
 * system keeps deciding when analysts are overwhelmed.
 */
export function decideEscalation(policy: Policy, heavy: number, openCases: number): RoutedOutcome<EscalationAction> {
  const t = policy.thresholds.escalate;
  const band = secondLineBand(t, heavy);
  if (band === SecondLineBand.BLOCK) {
    return { action: 'BLOCK', rulesFired: [{ id: 'model.heavy_block', description: 'heavy model at or above the block threshold', effect: 'block', value: heavy, threshold: t.blockAbove }], reason: `heavy ${fmt(heavy)} >= ${fmt(t.blockAbove)}` };
  }
  if (band === SecondLineBand.ALLOW) {
    return { action: 'ALLOW', rulesFired: [], reason: `heavy ${fmt(heavy)} < ${fmt(t.allowBelow)}` };
  }
  if (openCases < policy.review.capacity) {
    return { action: 'REVIEW', rulesFired: [{ id: 'model.heavy_ambiguous', description: 'heavy model still unsure', effect: 'review', value: heavy, threshold: t.allowBelow }], reason: `heavy ${fmt(heavy)} in [${fmt(t.allowBelow)}, ${fmt(t.blockAbove)}): human review` };
  }
  const mid = (t.allowBelow + t.blockAbove) / 2;
  const hit: RuleHit = { id: 'review.capacity_full', description: 'review queue full; decided on the heavy score', effect: 'info', value: openCases, threshold: policy.review.capacity };
  return heavy >= mid
    ? { action: 'BLOCK', rulesFired: [hit], reason: `review queue full (${openCases}); heavy ${fmt(heavy)} >= ${fmt(mid)}` }
    : { action: 'ALLOW', rulesFired: [hit], reason: `review queue full (${openCases}); heavy ${fmt(heavy)} < ${fmt(mid)}` };
}
