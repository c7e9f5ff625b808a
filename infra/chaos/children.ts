/**
 * The processes under test: `fraudstream detect|escalate|ui` children, each with the environment that makes it
 * load the scenario's isolated config. Their stderr goes to a log file per child and is watched line by line (the
 * fault hooks announce themselves there). Every child is killed when the scenario ends, and by pid at exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { configEnv, withoutKafkaSecurityEnv, type Config } from '../../core/config.ts';
import { NODE_FLAGS } from '../../core/node-flags.ts';
import type { PipelineStage } from '../../core/contracts.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));


/** Every child still running, killed by pid if this process exits before stopping them. */
const live = new Set<ChildProcess>();
let exitHook = false;
function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of live) p.kill('SIGKILL');
    });
  }
}

interface LineWaiter {
  test: (line: string) => boolean;
  resolve: (line: string) => void;
}

export class Child {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<LineWaiter>();
  private readonly tail: string[] = [];

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    private readonly log: WriteStream,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    const rl = createInterface({ input: proc.stderr! });
    rl.on('line', (line) => {
      log.write(`${line}\n`);
      this.tail.push(line);
      if (this.tail.length > 20) this.tail.shift();
      for (const w of this.waiters) {
        if (w.test(line)) {
          this.waiters.delete(w);
          w.resolve(line);
        }
      }
    });
    proc.stdout?.on('data', (chunk: Buffer) => log.write(chunk));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolves with the first line from now on that passes `test`, or undefined after timeoutMs (or at exit). */
  waitForLine(test: (line: string) => boolean, timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const w: LineWaiter = {
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.add(w);
      void this.exited.then(() => {
        if (this.waiters.delete(w)) {
          clearTimeout(timer);
          resolve(undefined);
        }
      });
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.proc.kill(sig);
  }

  /** SIGTERM (SIGCONT first, a stopped process cannot handle it), SIGKILL after graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  lastLines(): string[] {
    return [...this.tail];
  }

  closeLog(): void {
    this.log.end();
  }
}

export interface ChildrenOptions {
  config: Config;
  logDir: string;
  /** Model for the stages: a folder, latest or none. */
  model: string;
}

export class Children {
  private readonly all: Child[] = [];

  constructor(private readonly opts: ChildrenOptions) {
    mkdirSync(opts.logDir, { recursive: true });
  }

  private spawn(name: string, args: string[], env: Record<string, string>): Child {
    // The caller's REDIS_CLUSTER_NODES is for their Redis: a child uses a cluster only when the scenario's config names one.
    const { REDIS_CLUSTER_NODES: _callersCluster, ...inherited } = withoutKafkaSecurityEnv(process.env);
    const proc = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', 'cli/main.ts', ...args], {
      cwd: ROOT,
      // VITEST silences logs and kafkajs in the child: a stage under test logs as in production.
      env: { ...inherited, ...configEnv(this.opts.config), LOG_LEVEL: 'info', VITEST: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(proc);
    const child = new Child(name, proc, createWriteStream(join(this.opts.logDir, `${name}.log`), { flags: 'a' }));
    this.all.push(child);
    return child;
  }

  /** A `fraudstream detect|escalate` member; `faults` becomes FRAUDSTREAM_FAULTS; `/metrics` on `metricsPort` (0: any free port). */
  stage(stage: PipelineStage, instanceId: string, faults?: string, metricsPort = 0): Child {
    return this.spawn(instanceId, [stage, '--model', this.opts.model, '--metrics-port', String(metricsPort), '--instance-id', instanceId], faults ? { FRAUDSTREAM_FAULTS: faults } : {});
  }

  /** A `fraudstream ui` process on `port`, seeding the reviewer accounts in `seed`. */
  ui(name: string, port: number, seed: string): Child {
    return this.spawn(name, ['ui', '--port', String(port), '--host', '127.0.0.1'], { REVIEWER_SEED: seed, SESSION_SECRET: 'chaos-suite-session-secret' });
  }

  list(): Child[] {
    return [...this.all];
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((c) => c.stop()));
    for (const c of this.all) c.closeLog();
  }

  killNow(): void {
    for (const c of this.all) c.signal('SIGKILL');
  }
}
