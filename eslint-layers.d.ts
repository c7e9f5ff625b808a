import type { ESLint, Rule } from 'eslint';

export const ROOT: string;
export const ORDER: readonly string[];
export const MAY_IMPORT: Record<string, readonly string[] | 'anything'>;
export function layerOf(relPath: string): string | undefined;
export const EXCEPTIONS: ReadonlyMap<string, string>;
export const rule: Rule.RuleModule;
declare const plugin: ESLint.Plugin;
export default plugin;
