/**
 * Policy versions (router/policy-store.ts): `<prefix>policy:current` (the current version number),
 * `policy:v:<n>` (each version's JSON), `policy:versions` (sorted set of versions), `policy:counter` (last
 * version number handed out), and the pub/sub channel `policy:changed`.
 */
// unbounded today: see issue 12 (every version ever saved is kept)
export interface PolicyKeys {
  current: string;
  history: string;
  counter: string;
  doc: (version: number | string) => string;
}

export const policyKeys = (prefix: string): PolicyKeys => ({
  current: `${prefix}policy:current`,
  history: `${prefix}policy:versions`,
  counter: `${prefix}policy:counter`,
  doc: (v) => `${prefix}policy:v:${v}`,
});

/** Channel a store PUBLISHes the new version number on after every change. */
export const policyChannel = (prefix: string): string => `${prefix}policy:changed`;
