/** Drift counts (detectors/drift.ts): one hash per model version, `<prefix>drift:<modelVersion>`. */
/** A version's counts expire this long after its last recorded batch: versions no longer served go away. */
export const DRIFT_TTL_SECONDS = 30 * 24 * 3600;
export const driftKey = (prefix: string, modelVersion: string): string => `${prefix}drift:${modelVersion}`;
