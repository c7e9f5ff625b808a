/** Review UI state (review-ui/server/*): accounts, sessions, login limits, audit log, verdict outbox, card history. */

// ui:user:<name>: accounts, kept until removed (not a cache).
export const userKey = (prefix: string, name: string): string => `${prefix}ui:user:${name}`;
export const userPattern = (prefix: string): string => `${prefix}ui:user:*`;
export const userNameOf = (prefix: string, key: string): string => key.slice(`${prefix}ui:user:`.length);

/** Idle sessions expire after this long (refreshed on every request). */
export const SESSION_TTL_SECONDS = 8 * 3600;
/** However active, a session ends this long after login (UI_SESSION_MAX_HOURS overrides it). */
export const SESSION_MAX_SECONDS = 12 * 3600;
/** ui:session:<HMAC of the cookie id>. */
export const sessionKey = (prefix: string, sidHash: string): string => `${prefix}ui:session:${sidHash}`;

/**
 * Login attempts are counted in fixed windows of this length, per IP+user, per user (from any IP) and per IP
 * (any user; an IPv6 address counts as its /64). Each counter lives one window.
 */
export const LOGIN_FAIL_WINDOW_SECONDS = 15 * 60;
export const loginFailKey = (prefix: string, ip: string, user: string): string => `${prefix}ui:login-fail:${ip}:${user.toLowerCase()}`;
export const loginAccountKey = (prefix: string, user: string): string => `${prefix}ui:login-acct:${user.toLowerCase()}`;
export const loginIpKey = (prefix: string, ipScope: string): string => `${prefix}ui:login-ip:${ipScope}`;
/**
 * ui:login-known:<user>: the addresses (IP scopes) that proved the account's password, scored by their last good
 * login. The per-account limit does not hold them back (guessing spread over many IPs cannot lock the owner out of a
 * known address); kept 30 days after the last good login, the newest 20 per account, and only ever written after a
 * good password, so guessing cannot grow it.
 */
export const LOGIN_KNOWN_MS = 30 * 86_400_000;
export const LOGIN_KNOWN_KEEP = 20;
export const loginKnownKey = (prefix: string, user: string): string => `${prefix}ui:login-known:${user.toLowerCase()}`;

/** Authentication events (failed logins): kept apart from actions, so a flood of them evicts only its own kind. */
export const AUTH_EVENTS_KEEP = 20_000;
export const authEventsKey = (prefix: string): string => `${prefix}ui:auth-events`;

/**
 * Audit of actions (verdicts, policy, models, replay, users): the Redis view of the HMAC chain whose record is the
 * [audit] topic (review-ui/server/audit.ts), newest first, capped here; the cap trims the view, never the record.
 */
export const AUDIT_KEEP = 200_000;
export const auditKey = (prefix: string): string => `${prefix}ui:audit`;
/** "<seq> <mac> <topic offset>" of the newest action: a chain cut short at the head no longer matches it. */
export const auditHeadKey = (prefix: string): string => `${prefix}ui:audit:head`;
/** Actions recorded but not yet on the [audit] topic (Kafka unreachable): sent in order by whoever holds the lock. */
export const auditPendingKey = (prefix: string): string => `${prefix}ui:audit:pending`;
/** One process chains and sends audit entries at a time; the holder renews it while it works. */
export const AUDIT_LOCK_TTL_MS = 30_000;
export const auditLockKey = (prefix: string): string => `${prefix}ui:audit:lock`;
/** After a wipe, the view is refilled with the newest this-many entries of the topic (the pages show recent ones). */
export const AUDIT_VIEW_RESTORE = 20_000;

/**
 * Verdict outbox: labels and final decisions waiting for Kafka. It grows only while Kafka is unreachable; past
 * OUTBOX_MAX items a verdict is refused (503) rather than queued, since these items must not be dropped.
 */
export const OUTBOX_MAX = 100_000;
export const outboxKey = (prefix: string): string => `${prefix}ui:outbox`;
/** One process flushes the outbox at a time; the holder renews the lock while it works, so it lapses this long after the holder died or stalled. */
export const OUTBOX_LOCK_TTL_MS = 60_000;
export const outboxLockKey = (prefix: string): string => `${outboxKey(prefix)}:lock`;
/** On Redis Cluster the outbox lives in the review family's slot (state/review.ts CLOSE appends to it): pass familyPrefix(redis, prefix, 'review'). */
export const OUTBOX_FAMILY = 'review';

/**
 * Card history on the case page: per card, a sorted set of its last CARD_HISTORY_KEEP tx ids (by ts) and a hash
 * of their rows, trimmed together, expiring CARD_HISTORY_TTL_SECONDS after the card's last transaction. So the
 * memory is bounded by active cards x CARD_HISTORY_KEEP, not by traffic (a key per decision was 130 M keys a month).
 */
export const CARD_HISTORY_KEEP = 50;
export const CARD_HISTORY_TTL_SECONDS = 30 * 24 * 3600;
export const cardHistoryKey = (prefix: string, cardId: string): string => `${prefix}ui:card:${cardId}`;
export const cardRowsKey = (prefix: string, cardId: string): string => `${prefix}ui:card-rows:${cardId}`;
