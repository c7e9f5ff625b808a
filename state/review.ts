/**
 * Review queue (router/review-queue.ts): `<prefix>review:open` (sorted set, the queue), `review:closed` (sorted
 * set of recent verdicts, capped at REVIEW_CLOSED_KEEP by default), `review:case:<caseId>` (each case's JSON).
 * The open queue is bounded by the policy's review capacity, enforced by the escalate stage.
 */
export const REVIEW_CLOSED_KEEP = 1000;

// review:case:<id>: unbounded today: see issue 12 (a case's JSON stays after it leaves review:closed)
export const reviewKeys = (prefix: string) => ({
  open: `${prefix}review:open`,
  closed: `${prefix}review:closed`,
  case: (caseId: string): string => `${prefix}review:case:${caseId}`,
});
