/**
 * The review cutoff each escalate process applies (router/pure/money.ts StakeWindow), for the Live page:
 * one hash `<prefix>review:cutoff`, a field per process, each value the process's latest status as JSON.
 * The hash expires REVIEW_CUTOFF_TTL_SECONDS after the last write, so stopped stages leave nothing behind;
 * a field older than that is ignored when read.
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
});
export type ReviewCutoff = z.infer<typeof ReviewCutoffSchema>;

export async function writeReviewCutoff(redis: Redis, prefix: string, member: string, status: ReviewCutoff): Promise<void> {
  const key = reviewCutoffKey(prefix);
  await redis.multi().hset(key, member, JSON.stringify(status)).expire(key, REVIEW_CUTOFF_TTL_SECONDS).exec();
}

/** The most recently written status of any escalate process (undefined: none in the last hour). */
export async function readReviewCutoff(redis: Redis, prefix: string, now = Date.now()): Promise<ReviewCutoff | undefined> {
  const all = await redis.hgetall(reviewCutoffKey(prefix));
  let latest: ReviewCutoff | undefined;
  for (const raw of Object.values(all)) {
    let parsed: ReviewCutoff;
    try {
      parsed = ReviewCutoffSchema.parse(JSON.parse(raw));
    } catch {
      continue;
    }
    if (now - parsed.at > REVIEW_CUTOFF_TTL_SECONDS * 1_000) continue;
    if (!latest || parsed.at > latest.at) latest = parsed;
  }
  return latest;
}
