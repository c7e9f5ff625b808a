/**
 * The review cutoff escalate applies (router/pure/money.ts StakeWindow), for the Live page: one string key
 * `<prefix>review:cutoff` holding the latest status any escalate process wrote (JSON, with the process as
 * `member`), expiring REVIEW_CUTOFF_TTL_SECONDS after the last write. Each escalate process cuts its own share of
 * the traffic with its own window; with several, the page shows the one that decided an ambiguous case last.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';

export const REVIEW_CUTOFF_TTL_SECONDS = 3_600;
export const reviewCutoffKey = (prefix: string): string => `${prefix}review:cutoff`;

export const ReviewCutoffSchema = z.object({
  /** Stakes below it (minor units) are decided by their cheaper action; null = no review capacity at all. */
  cutoffMinor: z.number().nonnegative().nullable(),
  ambiguous: z.number().int().nonnegative(),
  spanHours: z.number().positive(),
  ambiguousPerHour: z.number().nonnegative(),
  reviewsPerHour: z.number().nonnegative(),
  capacityPerHour: z.number().nonnegative(),
  at: z.number().int().nonnegative(),
  member: z.string().optional(),
});
export type ReviewCutoff = z.infer<typeof ReviewCutoffSchema>;

export async function writeReviewCutoff(redis: Redis, prefix: string, member: string, status: ReviewCutoff): Promise<void> {
  await redis.set(reviewCutoffKey(prefix), JSON.stringify({ ...status, member }), 'EX', REVIEW_CUTOFF_TTL_SECONDS);
}

/** The latest status an escalate process wrote in the last hour (undefined: none, or unreadable). */
export async function readReviewCutoff(redis: Redis, prefix: string): Promise<ReviewCutoff | undefined> {
  const raw = await redis.get(reviewCutoffKey(prefix));
  if (raw === null) return undefined;
  try {
    return ReviewCutoffSchema.parse(JSON.parse(raw));
  } catch {
    return undefined;
  }
}
