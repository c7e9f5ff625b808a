/** Review UI state (review-ui/server/*): accounts, sessions, login limits, audit log, verdict outbox, card history. */

// ui:user:<name>: accounts, kept until removed (not a cache).
export const userKey = (prefix: string, name: string): string => `${prefix}ui:user:${name}`;
export const userPattern = (prefix: string): string => `${prefix}ui:user:*`;
export const userNameOf = (prefix: string, key: string): string => key.slice(`${prefix}ui:user:`.length);

/** Idle sessions expire after this long (refreshed on every request). */
export const SESSION_TTL_SECONDS = 8 * 3600;
/** ui:session:<HMAC of the cookie id>. */
export const sessionKey = (prefix: string, sidHash: string): string => `${prefix}ui:session:${sidHash}`;

/** Failed logins per IP+user are counted in a fixed window of this length. */
export const LOGIN_FAIL_WINDOW_SECONDS = 15 * 60;
export const loginFailKey = (prefix: string, ip: string, user: string): string => `${prefix}ui:login-fail:${ip}:${user.toLowerCase()}`;

/** Audit log: a list, newest first, capped at AUDIT_KEEP by default. */
export const AUDIT_KEEP = 20_000;
export const auditKey = (prefix: string): string => `${prefix}ui:audit`;

// unbounded today: see issue 12 (the outbox list grows while Kafka is unreachable)
export const outboxKey = (prefix: string): string => `${prefix}ui:outbox`;
/** One process flushes the outbox at a time; the holder renews the lock while it works, so it lapses this long after the holder died or stalled. */
export const OUTBOX_LOCK_TTL_MS = 60_000;
export const outboxLockKey = (prefix: string): string => `${outboxKey(prefix)}:lock`;

/** Card history on the case page: the last CARD_HISTORY_KEEP transactions per card, kept CARD_HISTORY_TTL_SECONDS. */
export const CARD_HISTORY_KEEP = 50;
export const CARD_HISTORY_TTL_SECONDS = 30 * 24 * 3600;
export const cardHistoryKey = (prefix: string, cardId: string): string => `${prefix}ui:card:${cardId}`;
export const cardTxKey = (prefix: string, txId: string): string => `${prefix}ui:tx:${txId}`;
