import type { Redis } from 'ioredis';
import { z } from 'zod';
import { RuleHitSchema, ScoresSchema } from '../core/contracts.ts';
import type { ScoredSample } from '../router/types.ts';

/** Scored samples: one list `<prefix>samples`, newest first, capped at SAMPLES_CAPACITY by default. */
export const SAMPLES_CAPACITY = 5_000;

export const samplesKey = (prefix: string): string => `${prefix}samples`;

export const ScoredSampleSchema = z.object({
  txId: z.string().min(1),
  cardId: z.string().min(1),
  merchantId: z.string().min(1),
  mcc: z.string(),
  country: z.string(),
  amountMinor: z.number().int().nonnegative(),
  scores: ScoresSchema,
  rulesFired: z.array(RuleHitSchema),
  action: z.enum(['ALLOW', 'BLOCK', 'REVIEW', 'ESCALATE']),
  ts: z.number().int().nonnegative().optional(),
  isFraud: z.boolean().optional(),
}) satisfies z.ZodType<ScoredSample>;

/**
 * The last `capacity` transactions the detect stage scored, newest first, in one capped Redis list.
 * detect pushes one batch per call (one round trip); the policy page previews a change on them.
 */
export class RedisSampleStore {
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly capacity = SAMPLES_CAPACITY,
  ) {
    this.key = samplesKey(prefix);
  }

  async push(samples: readonly ScoredSample[]): Promise<void> {
    if (samples.length === 0) return;
    await this.redis
      .multi()
      .lpush(this.key, ...samples.map((s) => JSON.stringify(s)))
      .ltrim(this.key, 0, this.capacity - 1)
      .exec();
  }

  /** Up to n samples, newest first; entries that no longer parse are skipped. */
  async recent(n: number): Promise<ScoredSample[]> {
    const raws = await this.redis.lrange(this.key, 0, Math.min(n, this.capacity) - 1);
    return raws.flatMap((raw) => {
      try {
        const parsed = ScoredSampleSchema.safeParse(JSON.parse(raw));
        return parsed.success ? [parsed.data] : [];
      } catch {
        return [];
      }
    });
  }

  async count(): Promise<number> {
    return this.redis.llen(this.key);
  }
}
