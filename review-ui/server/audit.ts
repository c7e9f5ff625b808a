import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AUDIT_KEEP, auditKey } from '../../state/ui.ts';

export const AuditEntrySchema = z.object({
  id: z.string(),
  at: z.number(),
  who: z.string(),
  /** e.g. "case.approve", "case.confirm_fraud", "policy.update", "policy.rollback", "replay.start", "login". */
  action: z.string(),
  target: z.string(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  ip: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

/** Append-only log of every review action, newest first, capped. */
export class AuditLog {
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly keep = AUDIT_KEEP,
  ) {
    this.key = auditKey(prefix);
  }

  async record(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<AuditEntry> {
    const full: AuditEntry = { id: randomUUID(), at: Date.now(), ...entry };
    await this.redis.multi().lpush(this.key, JSON.stringify(full)).ltrim(this.key, 0, this.keep - 1).exec();
    return full;
  }

  async list(limit: number, filter: { target?: string; who?: string } = {}): Promise<AuditEntry[]> {
    const raws = await this.redis.lrange(this.key, 0, filter.target || filter.who ? 4_999 : limit - 1);
    const out: AuditEntry[] = [];
    for (const raw of raws) {
      const e = AuditEntrySchema.safeParse(JSON.parse(raw)).data;
      if (!e || (filter.target && e.target !== filter.target) || (filter.who && e.who !== filter.who)) continue;
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }
}
