/**
 * Keeps the Redis views of the records (issue 18: Kafka is the record, Redis the view) present. Each part (accounts,
 * cases, shadow runs, the audit view) has a marker key, `<prefix>view:<part>`, written when its view has been
 * restored from its topic; a FLUSHALL or a redis-server restarted without persistence removes it with everything
 * else. A process checks the markers at start and every few seconds, and before work that needs a part (ready());
 * a missing marker makes it restore that part from its topic first. The policy and the dedupe claims keep their own
 * markers (state/policy.ts, state/outcomes.ts).
 *
 * A restore round writes a token first and seals the marker only if the token is still there (one script): a wipe
 * during the round removes the token, so a half-restored view is never marked whole and is restored again. Restores
 * write with NX (state a process changed after the round read its topic is never overwritten), so processes that
 * restore the same part at once do no harm. One round per part at a time: a process that finds another's token
 * waits for that round's seal (up to OTHER_ROUND_WAIT_MS) instead of replacing the token. Replacing it made every
 * process that noticed a wipe (console, stages, ops: five in the chaos suite) void the others' rounds in turn, and the
 * cases view stayed unsealed for minutes (chaos redis-wipe, load 17: 38 failed rounds, none sealed in 120 s).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/logger.ts';

export interface ViewPart {
  /** 'accounts', 'cases', 'shadow', 'audit'. */
  name: string;
  /** Writes the part's record back into Redis (never over what Redis holds); returns how many items came back. */
  restore(): Promise<number>;
}

export const viewMarkerKey = (prefix: string, part: string): string => `${prefix}view:${part}`;
/** The round's token, hash-tagged with the marker's name: one slot on Redis Cluster (the seal script reads both). */
export const viewTokenKey = (prefix: string, part: string): string => `${viewMarkerKey(prefix, part)}:round{${viewMarkerKey(prefix, part)}}`;
/** A restore round that has not sealed after this long is abandoned (its token lapses). */
const ROUND_TTL_SECONDS = 600;
/** How long a process waits for another's round of the same part before it takes the round over (that one died). */
export const OTHER_ROUND_WAIT_MS = 30_000;

// KEYS: token, marker. ARGV: token, marker value.
const SEAL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1`;

export type ViewState = 'ready' | 'restoring' | 'failed';

export interface PartStatus {
  state: ViewState;
  /** Items written back by the last restore of this process (undefined: none yet). */
  restored?: number;
  restoredAt?: number;
  error?: string;
}

export interface ViewStatus {
  /** 'restoring' while any part is being restored; 'failed' when a restore failed and is being retried. */
  state: ViewState;
  parts: Record<string, PartStatus>;
}

export class ViewKeeper {
  private readonly status_ = new Map<string, PartStatus>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly checkedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly parts: readonly ViewPart[],
    private readonly log: Logger,
    /** ready() trusts a marker seen this recently without asking Redis again. */
    private readonly freshMs = 250,
  ) {
    for (const p of parts) this.status_.set(p.name, { state: 'restoring' });
  }

  status(): ViewStatus {
    const parts = Object.fromEntries(this.status_);
    const states = [...this.status_.values()].map((s) => s.state);
    const state: ViewState = states.includes('restoring') ? 'restoring' : states.includes('failed') ? 'failed' : 'ready';
    return { state, parts };
  }

  /** Resolves once the named parts (default all) are in Redis, restoring the ones whose marker is gone. */
  async ready(...names: string[]): Promise<void> {
    const wanted = names.length ? this.parts.filter((p) => names.includes(p.name)) : this.parts;
    await Promise.all(wanted.map((p) => this.ensure(p)));
  }

  /** Checks every part every intervalMs (a wipe is noticed even by a process that is idle). */
  start(intervalMs = 2_000): void {
    this.timer = setInterval(() => void this.ready().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async ensure(part: ViewPart): Promise<void> {
    const running = this.inFlight.get(part.name);
    if (running) return running;
    const seen = this.checkedAt.get(part.name);
    if (seen !== undefined && Date.now() - seen < this.freshMs) return;
    if ((await this.redis.exists(viewMarkerKey(this.prefix, part.name))) === 1) {
      this.checkedAt.set(part.name, Date.now());
      const s = this.status_.get(part.name);
      if (s?.state !== 'ready') this.status_.set(part.name, { ...s, state: 'ready' });
      return;
    }
    this.checkedAt.delete(part.name);
    const round = this.inFlight.get(part.name) ?? this.restore(part).finally(() => this.inFlight.delete(part.name));
    this.inFlight.set(part.name, round);
    return round;
  }

  private async restore(part: ViewPart): Promise<void> {
    const before = this.status_.get(part.name) ?? { state: 'restoring' as const };
    this.status_.set(part.name, { ...before, state: 'restoring' });
    const started = Date.now();
    try {
      for (let attempt = 1; ; attempt++) {
        const token = randomUUID();
        const tokenKey = viewTokenKey(this.prefix, part.name);
        if ((await this.redis.set(tokenKey, token, 'EX', ROUND_TTL_SECONDS, 'NX')) !== 'OK') {
          if (await this.otherRoundSealed(part.name)) {
            this.status_.set(part.name, { state: 'ready', restored: 0, restoredAt: Date.now() });
            this.checkedAt.set(part.name, Date.now());
            this.log.info({ part: part.name, ms: Date.now() - started }, `${part.name}: restored by another process`);
            return;
          }
          // Its round ended unsealed (a wipe took its token: ours now) or outlived the wait (it died): take over.
          await this.redis.set(tokenKey, token, 'EX', ROUND_TTL_SECONDS);
        }
        const restored = await part.restore();
        const sealed = await this.redis.eval(SEAL, 2, viewTokenKey(this.prefix, part.name), viewMarkerKey(this.prefix, part.name), token, JSON.stringify({ at: Date.now(), restored }));
        // Not sealed: wiped during the round, or another process's round took over (its token replaced ours).
        if (sealed === 1 || (await this.redis.exists(viewMarkerKey(this.prefix, part.name))) === 1) {
          this.status_.set(part.name, { state: 'ready', restored, restoredAt: Date.now() });
          this.checkedAt.set(part.name, Date.now());
          const fields = { part: part.name, restored, ms: Date.now() - started };
          if (restored > 0) this.log.warn(fields, `${part.name}: Redis had lost its view; restored ${restored} from the record`);
          else this.log.info(fields, `${part.name}: view marked (nothing recorded to restore)`);
          return;
        }
        if (attempt >= 5) throw new Error(`${part.name}: Redis lost the view ${attempt} times while it was being restored`);
      }
    } catch (err) {
      this.status_.set(part.name, { ...before, state: 'failed', error: (err as Error).message });
      this.log.error({ part: part.name, err: (err as Error).message }, `${part.name}: could not restore the view from the record; retrying`);
      throw err;
    }
  }

  /** Waits while another process's round of `part` runs: true once its marker is sealed, false when the round's token is gone or the wait is over. */
  private async otherRoundSealed(part: string): Promise<boolean> {
    const deadline = Date.now() + OTHER_ROUND_WAIT_MS;
    while (Date.now() < deadline) {
      if ((await this.redis.exists(viewMarkerKey(this.prefix, part))) === 1) return true;
      if ((await this.redis.exists(viewTokenKey(this.prefix, part))) === 0) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }
}
