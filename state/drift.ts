/** Drift counts (detectors/drift.ts): one hash per model version, `<prefix>drift:<modelVersion>`. */
// unbounded today: see issue 12 (a hash per model version ever served, never expired)
export const driftKey = (prefix: string, modelVersion: string): string => `${prefix}drift:${modelVersion}`;
