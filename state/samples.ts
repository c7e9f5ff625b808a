import type { Redis } from 'ioredis';
import { mgetKeys } from '../core/redis.ts';
import { z } from 'zod';
import { RuleHitSchema, ScoresSchema } from '../core/contracts.ts';
import type { ScoredSample } from './types.ts';

/** Scored samples: one list `<prefix>samples`, newest first, capped at SAMPLES_CAPACITY by default. */
export const SAMPLES_CAPACITY = 5_000;

export const samplesKey = (prefix: string): string => `${prefix}samples`;
/** A label that came back for a sampled transaction: '1' fraud, '0' legitimate. */
export const sampleLabelKey = (prefix: string, txId: string): string => `${prefix}samples:label:${txId}`;
/**
 * How long a label waits for the preview. Samples rotate out after SAMPLES_CAPACITY transactions, so a label
 * older than any sample is dead weight; a week covers chargeback delays at demo rates, and the TTL bounds it.
 */
export const SAMPLE_LABEL_TTL_SECONDS = 7 * 24 * 3600;

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
    private readonly prefix: string,
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

  /** Labels that came back (the console's live feed records them), so a preview can count what really was fraud. */
  async recordLabels(labels: ReadonlyArray<{ txId: string; isFraud: boolean }>): Promise<void> {
    if (labels.length === 0) return;
    // A pipeline, not a MULTI: one key per transaction (any slot on Redis Cluster), and none depends on another.
    const m = this.redis.pipeline();
    for (const l of labels) m.set(sampleLabelKey(this.prefix, l.txId), l.isFraud ? '1' : '0', 'EX', SAMPLE_LABEL_TTL_SECONDS);
    await m.exec();
  }

  /** Up to n samples, newest first, each with its label when one came back; entries that no longer parse are skipped. */
  async recent(n: number): Promise<ScoredSample[]> {
    const raws = await this.redis.lrange(this.key, 0, Math.min(n, this.capacity) - 1);
    const samples = raws.flatMap((raw) => {
      try {
        const parsed = ScoredSampleSchema.safeParse(JSON.parse(raw));
        return parsed.success ? [parsed.data] : [];
      } catch {
        return [];
      }
    });
    if (samples.length === 0) return samples;
    const labels = await mgetKeys(this.redis, samples.map((s) => sampleLabelKey(this.prefix, s.txId)));
    return samples.map((s, i) => (labels[i] === '1' || labels[i] === '0' ? { ...s, isFraud: labels[i] === '1' } : s));
  }

  async count(): Promise<number> {
    return this.redis.llen(this.key);
  }
}
