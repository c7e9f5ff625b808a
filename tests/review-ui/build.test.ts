/** The review UI is built when missing or stale (issue 10: the quickstart showed "not built"), and only then. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureUiBuilt, uiBuildStatus } from '../../review-ui/build.ts';

const root = mkdtempSync(join(tmpdir(), 'fs-ui-build-'));
const dist = join(root, 'dist');
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('review UI build', () => {
  it('builds when missing, skips when fresh, rebuilds when a source changed', { timeout: 60_000 }, async () => {
    expect((await uiBuildStatus(dist)).state).toBe('missing');
    const lines: string[] = [];
    const first = await ensureUiBuilt({ distDir: dist, onProgress: (l) => lines.push(l) });
    expect(first.built).toBe(true);
    expect(lines[0]).toBe('review UI: no build yet: building the pages (vite)');
    expect(lines[1]).toMatch(/^review UI: built in \d+\.\d s \(\d+ files, \d+ kB\)/);
    expect(readFileSync(join(dist, 'index.html'), 'utf8')).toContain('/assets/');
    expect((await uiBuildStatus(dist)).state).toBe('fresh');
    expect((await ensureUiBuilt({ distDir: dist })).built).toBe(false);

    // As if policy.ts had been edited after the build: the stamp no longer matches its hash.
    const stampFile = join(dist, 'build-stamp.json');
    const stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as { sources: Record<string, string> };
    const policy = Object.keys(stamp.sources).find((f) => f.endsWith('policy.ts'))!;
    expect(policy).toBe(join('review-ui', 'web', 'src', 'policy.ts'));
    stamp.sources[policy] = 'edited';
    writeFileSync(stampFile, JSON.stringify(stamp));
    const stale = await uiBuildStatus(dist);
    expect(stale).toMatchObject({ state: 'stale', detail: '1 source file changed since it was built (policy.ts)' });
    lines.length = 0;
    expect((await ensureUiBuilt({ distDir: dist, onProgress: (l) => lines.push(l) })).built).toBe(true);
    expect(lines[0]).toBe('review UI: 1 source file changed since it was built (policy.ts): rebuilding (vite)');
    expect((await uiBuildStatus(dist)).state).toBe('fresh');
  });
});
