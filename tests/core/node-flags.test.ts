/**
 * The V8 flags of core/node-flags.ts reach every launcher of a long-running process: the package.json scripts that
 * run one, the bin's shebang (npx fraudstream ...), the Docker image's entrypoint and chaos's child processes. A
 * launcher that loses the flag runs with V8's small default young generation (more GC per decision).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../core/node-flags.ts';

const read = (f: string) => readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');
const LONG_RUNNING = ['fraudstream', 'demo', 'ui', 'bench', 'stages', 'chaos', 'simulate', 'replay', 'train'];

describe('node flags', () => {
  it('are sizes V8 accepts, and the young generation is larger than its default', () => {
    expect(NODE_FLAGS).toContain('--max-semi-space-size=64');
    for (const f of NODE_FLAGS) expect(f).toMatch(/^--[a-z-]+=\d+$/);
  });

  it('every long-running package.json script passes them to tsx', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const name of LONG_RUNNING) {
      expect(scripts[name], name).toBeDefined();
      expect(scripts[name]!.startsWith(`tsx ${NODE_FLAGS.join(' ')} cli/main.ts`), `${name}: ${scripts[name]}`).toBe(true);
    }
  });

  it('the bin, the Docker image and chaos\'s children start node with them', () => {
    expect(read('bin/fraudstream.js').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    expect(read('Dockerfile')).toContain(`ENTRYPOINT ["node", ${NODE_FLAGS.map((f) => JSON.stringify(f)).join(', ')}, "bin/fraudstream.js"]`);
    expect(read('infra/chaos/children.ts')).toContain("spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', 'cli/main.ts', ...args]");
  });
});
