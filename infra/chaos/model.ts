/**
 * The small trained model a scenario with `model: 'trained'` serves (when --model is none): trained once per run by
 * the project's own `fraudstream train` on generated history, with the heavy model on and served, so escalations go
 * through the heavy path. A few thousand events and one epoch: seconds, not minutes; the quality is beside the point.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withoutKafkaSecurityEnv } from '../../core/config.ts';
import type { ModelThresholds } from '../../core/model-registry.ts';
import { FILES, listModelVersions } from '../../detectors/model-version.ts';
import { readVersionJson } from '../../detectors/version-names.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `fraudstream train` flags: small and quick, heavy model trained and served whatever validation says. */
export const CHAOS_TRAIN_ARGS = ['--events', '6000', '--heavy', 'on', '--heavy-epochs', '1', '--heavy-rows', '2000', '--trees', '30', '--iterations', '30'] as const;

/**
 * The policy band that sends traffic through escalate and leaves the heavy model room to allow, review and block: the
 * tiny model's own escalate thresholds sit close together near 0, so nearly every escalation would be blocked.
 */
export const CHAOS_ESCALATE_BAND = { allowBelow: 0.02, blockAbove: 0.995 } as const;

export interface TrainedModel {
  /** The version folder the stages get as --model. */
  dir: string;
  version: string;
  thresholds: ModelThresholds;
  seconds: number;
  remove(): Promise<void>;
}

export async function trainChaosModel(log: (line: string) => void): Promise<TrainedModel> {
  const out = await mkdtemp(path.join(tmpdir(), 'fraudstream-chaos-model-'));
  const started = Date.now();
  try {
    const tail: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'train', ...CHAOS_TRAIN_ARGS, '--out', out], {
        cwd: ROOT,
        env: { ...withoutKafkaSecurityEnv(process.env), LOG_LEVEL: 'warn', VITEST: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (chunk: Buffer) => {
        tail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        tail.splice(0, Math.max(0, tail.length - 10));
      };
      proc.stdout.on('data', keep);
      proc.stderr.on('data', keep);
      proc.once('error', reject);
      proc.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`fraudstream train ${CHAOS_TRAIN_ARGS.join(' ')} exited with ${code}: ${tail.join(' | ').slice(-600)}`);
    const [version] = await listModelVersions(out);
    if (!version) throw new Error(`fraudstream train wrote no model version under ${out}`);
    const dir = path.join(out, version);
    const thresholds = await readVersionJson<ModelThresholds>(dir, FILES.thresholds);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    log(`trained model ${version} in ${seconds} s (${CHAOS_TRAIN_ARGS.join(' ')})`);
    return { dir, version, thresholds, seconds, remove: () => rm(out, { recursive: true, force: true }) };
  } catch (err) {
    await rm(out, { recursive: true, force: true });
    throw err;
  }
}
