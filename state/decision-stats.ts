/**
 * Decision counts: one hash `<prefix>stats:decisions`, field = action, value = count. Written by the stages
 * (router/metrics.ts countDecisions) and the review UI's outbox (a verdict is a decision), read by /healthz.
 */
// unbounded today: see issue 12 (one field per action, but the counts and the key never reset)
export const decisionStatsKey = (prefix: string): string => `${prefix}stats:decisions`;
