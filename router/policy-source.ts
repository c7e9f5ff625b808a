import type { Redis } from 'ioredis';
import type { Policy } from '../core/contracts.ts';
import { logger } from '../core/logger.ts';
import type { PolicyStore } from '../state/types.ts';

/**
 * The policy a running stage decides with. Reloaded when the store announces a change (Redis pub/sub)
 * and every few seconds as a safety net, so stages pick up new versions without a restart.
 */
export interface PolicySource {
  current(): Policy;
  refresh(): Promise<Policy>;
  /** Called after a new version is loaded. */
  onChange(listener: (p: Policy) => void | Promise<void>): void;
  close(): Promise<void>;
}

export async function createPolicySource(
  store: PolicyStore,
  opts: { subscriber?: Redis; channel?: string; pollMs?: number } = {},
): Promise<PolicySource> {
  const log = logger('policy');
  let policy = await store.current();
  const listeners: Array<(p: Policy) => void | Promise<void>> = [];
  const refresh = async () => {
    const next = await store.current();
    const changed = next.version !== policy.version;
    policy = next;
    if (changed) {
      log.info({ version: next.version }, 'policy version changed');
      for (const l of listeners) await l(next);
    }
    return policy;
  };
  const timer = setInterval(() => void refresh().catch((err: unknown) => log.warn({ err }, 'policy refresh failed')), opts.pollMs ?? 5_000);
  const { subscriber, channel } = opts;
  if (subscriber && channel) {
    await subscriber.subscribe(channel);
    subscriber.on('message', (ch: string) => {
      if (ch === channel) void refresh().catch((err: unknown) => log.warn({ err }, 'policy refresh failed'));
    });
  }
  return {
    current: () => policy,
    refresh,
    onChange: (l) => void listeners.push(l),
    close: async () => {
      clearInterval(timer);
      if (subscriber) subscriber.disconnect();
    },
  };
}
