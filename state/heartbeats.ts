/**
 * Heartbeats: `<prefix>heartbeat:<stage>:<instance>`, a JSON string each stage instance (router/stage-runner.ts)
 * and review UI process (stage "ui", review-ui/server/app.ts) rewrites every few seconds; /healthz scans them.
 */

/** A process that stops beating disappears from /healthz after this long. */
export const HEARTBEAT_TTL_MS = 10_000;

export const heartbeatKey = (prefix: string, stage: string, instance: string): string => `${prefix}heartbeat:${stage}:${instance}`;

/** SCAN MATCH pattern for every heartbeat under a prefix. */
export const heartbeatPattern = (prefix: string): string => `${prefix}heartbeat:*`;

/** Stage and instance of a key found by heartbeatPattern (an instance id may itself contain ':'). */
export function parseHeartbeatKey(prefix: string, key: string): { stage: string; instance: string } {
  const [stage, ...rest] = key.slice(`${prefix}heartbeat:`.length).split(':');
  return { stage: stage ?? '', instance: rest.join(':') };
}
