import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { DeadLetterSchema, type DeadLetter } from '../../core/contracts.ts';
import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { maskCardData } from './pure/card-mask.ts';
import { seekTail } from './tail.ts';

/** What the page shows of a payload: enough to recognise it, never enough to flood the browser. */
export const PREVIEW_CHARS = 2_000;
const KEEP = 1_000;
const MINUTES = 60;

export interface DeadLetterView {
  sourceTopic: string;
  partition: number;
  offset: string;
  key: string | null;
  stage: string;
  reason: string;
  kind: string;
  failedAt: number;
  rawBytes: number | null;
  sha256: string | null;
  truncated: boolean;
  /**
   * The payload decoded as UTF-8 (invalid bytes replaced), card numbers and security codes masked
   * (pure/card-mask.ts), cut to PREVIEW_CHARS. Rendered as text only. The DLQ topic keeps the raw bytes.
   */
  preview: string;
  previewCut: boolean;
  /** Card numbers and security codes masked in the key, reason and payload shown. */
  masked: number;
}

/** The family a reason belongs to ("schema", "not JSON", "conflicting duplicate", ...): its text before the first colon. */
export function reasonKind(reason: string): string {
  const i = reason.indexOf(':');
  return (i < 0 ? reason : reason.slice(0, i)).trim().slice(0, 60) || 'unknown';
}

/**
 * What the console shows of a dead letter. A producer may put anything in a payload (a `pan` field, a cvv), and the
 * DLQ keeps it as sent; the view masks what looks like card data before it reaches a browser or the API.
 */
export function toView(l: DeadLetter): DeadLetterView {
  const text = maskCardData(Buffer.from(l.rawBase64, 'base64').toString('utf8'));
  const key = l.key === null ? null : maskCardData(l.key);
  const reason = maskCardData(l.reason);
  return {
    sourceTopic: l.sourceTopic,
    partition: l.partition,
    offset: l.offset,
    key: key?.text ?? null,
    stage: l.stage,
    reason: reason.text,
    kind: reasonKind(reason.text),
    failedAt: l.failedAt,
    rawBytes: l.rawBytes ?? null,
    sha256: l.sha256 ?? null,
    truncated: l.truncated ?? false,
    preview: text.text.slice(0, PREVIEW_CHARS),
    previewCut: text.text.length > PREVIEW_CHARS,
    masked: text.masked + (key?.masked ?? 0) + reason.masked,
  };
}

export interface DeadLetterSummary {
  total: number;
  /** Letters this process could not parse as dead letters (shown, never hidden). */
  unreadable: number;
  byKind: Array<{ kind: string; count: number }>;
  /** Counts per kind per minute over the last hour, oldest first. */
  perMinute: Array<{ minute: number; counts: Record<string, number> }>;
  letters: DeadLetterView[];
}

/** The most recent dead letters and their counts by reason, kept in memory by the UI process. */
export class DeadLetterLog {
  private readonly letters: DeadLetterView[] = [];
  private readonly byKind = new Map<string, number>();
  private readonly minutes = new Map<number, Map<string, number>>();
  private total = 0;
  unreadable = 0;

  add(letter: DeadLetter): void {
    const v = toView(letter);
    this.letters.unshift(v);
    if (this.letters.length > KEEP) this.letters.pop();
    this.total += 1;
    this.byKind.set(v.kind, (this.byKind.get(v.kind) ?? 0) + 1);
    const minute = Math.floor(v.failedAt / 60_000) * 60_000;
    let m = this.minutes.get(minute);
    if (!m) this.minutes.set(minute, (m = new Map()));
    m.set(v.kind, (m.get(v.kind) ?? 0) + 1);
    for (const k of this.minutes.keys()) if (k < minute - MINUTES * 60_000) this.minutes.delete(k);
  }

  summary(filter: { kind?: string; limit: number }, now = Date.now()): DeadLetterSummary {
    const from = Math.floor(now / 60_000) * 60_000 - (MINUTES - 1) * 60_000;
    const perMinute: DeadLetterSummary['perMinute'] = [];
    for (let t = from; t <= now; t += 60_000) perMinute.push({ minute: t, counts: Object.fromEntries(this.minutes.get(t) ?? []) });
    return {
      total: this.total,
      unreadable: this.unreadable,
      byKind: [...this.byKind].map(([kind, count]) => ({ kind, count })).sort((a, b) => b.count - a.count),
      perMinute,
      letters: this.letters.filter((l) => filter.kind === undefined || l.kind === filter.kind).slice(0, filter.limit),
    };
  }
}

/** Reads the dead-letter topic (its last `backfill` letters, then everything new) into a DeadLetterLog. */
export async function startDeadLetterFeed(kafka: Kafka, config: Config, instanceId: string, log: Logger, backfill = 500): Promise<{ log: DeadLetterLog; stop: () => Promise<void> }> {
  const letters = new DeadLetterLog();
  const topic = config.topics.dlq;
  const consumer: Consumer = kafka.consumer({ groupId: `fraudstream-ui-dlq-${instanceId}`, maxWaitTimeInMs: 500 });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    void seekTail(kafka, consumer, e.payload.memberAssignment, { [topic]: backfill }).catch((err: unknown) => log.warn({ err }, 'could not backfill dead letters'));
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }: EachBatchPayload) => {
      for (const m of batch.messages) {
        try {
          const parsed = DeadLetterSchema.safeParse(JSON.parse(m.value?.toString('utf8') ?? ''));
          if (parsed.success) letters.add(parsed.data);
          else letters.unreadable += 1;
        } catch {
          letters.unreadable += 1;
        }
      }
    },
  });
  return { log: letters, stop: () => consumer.disconnect() };
}
