/** `npm run demo`, the main job in one command: trains a model, runs every stage, the UI and a simulation, stops on Ctrl-C. */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/redis-local.ts';
import { configEnv, testConfig } from '../helpers/services.ts';

let modelDir = '';
afterAll(async () => {
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

describe('demo', () => {
  it('trains a first model, serves decisions with every stage up, and stops cleanly on SIGINT', { timeout: 300_000 }, async () => {
    const config = await testConfig('demo');
    modelDir = await mkdtemp(path.join(tmpdir(), 'fs-demo-models-'));
    const [uiPort, metricsPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'demo', '--rate', '40', '--train-events', '6000'], {
      env: { ...process.env, ...configEnv(config), MODEL_DIR: modelDir, UI_PORT: String(uiPort), METRICS_PORT: String(metricsPort), REVIEWER_SEED: 'demo:demo-password', VITEST: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 240_000;
      let health: { stages: Record<string, { up: boolean }>; decisions: { byStages: Record<string, number> } } | undefined;
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`demo exited early (${child.exitCode}):\n${out.slice(-3000)}`);
        try {
          const r = await fetch(`http://127.0.0.1:${uiPort}/healthz`);
          health = (await r.json()) as typeof health;
          const decided = Object.values(health!.decisions.byStages).reduce((a, b) => a + b, 0);
          if (health!.stages.detect?.up && health!.stages.escalate?.up && decided >= 50) break;
        } catch {
          // not up yet
        }
        await new Promise((r) => setTimeout(r, 1_000));
      }
      expect(out).toContain(`review UI   http://127.0.0.1:${uiPort}`);
      expect(out).toContain('login: demo / demo-password');
      expect(health?.stages.detect?.up).toBe(true);
      expect(health?.stages.escalate?.up).toBe(true);
      expect(Object.values(health!.decisions.byStages).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(50);
      expect((await readdir(modelDir)).some((d) => d.startsWith('v'))).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/fraudstream_decisions_total\{action="ALLOW",stage="detect"\} \d+/);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('[demo] stopped stages');
  });
});
