import type { Config } from '../../core/config.ts';
import { FraudstreamError, ErrorCodes, UserInputError } from '../../core/errors.ts';
import type { Decision, ReplayBody } from '../../core/contracts.ts';
import { BreachTracker } from './pure/breach.ts';
import { createSimulator } from '../../producers/simulator.ts';
import { SCENARIO_NAMES } from '../../producers/world/index.ts';

/** What the page needs of the simulator (producers/simulator.ts); tests pass a fake. */
export interface Simulator {
  start(): unknown;
  stop(): unknown;
  setRate(eps: number): unknown;
  inject(scenario: string, count: number): unknown;
  stats(): unknown;
  /** The injected breach a transaction is fraud of (producers/simulator.ts); absent on simulators that do not say. */
  breachOf?(txId: string): { merchantId: string; injectedAt: number } | undefined;
}
export type SimulatorFactory = (config: Config, opts: { rate: number; seed?: number }) => Simulator | Promise<Simulator>;

/** The simulator's factory, for a UI process that drives its own simulation. */
export function loadSimulatorFactory(): SimulatorFactory {
  return (config, opts) => createSimulator(config, opts);
}

export const NOT_DEMO =
  'replay is off outside demo mode: it would write synthetic transactions and chargeback labels (training ground truth) into the live topics; set UI_DEMO_MODE=1 on a demo deployment (npm run demo does)';

/** One simulator per UI process, created on first start. */
export class ReplayController {
  private sim: Simulator | undefined;
  /** How the pipeline decided each injected breach's fraud, day by day (the Live feed's decisions). */
  private readonly breaches = new BreachTracker();
  private running = false;
  private rate = 50;
  private startedBy: string | undefined;

  constructor(
    private readonly config: Config,
    private factory: SimulatorFactory | undefined,
    /** A simulation already running in this process (the demo's): the page drives it instead of a second one. */
    attached?: { simulator: Simulator; startedBy: string },
    /** Replay writes synthetic transactions and chargeback labels (training ground truth) into the live topics: demo only. */
    private readonly demoMode = false,
  ) {
    if (attached) {
      this.sim = attached.simulator;
      this.startedBy = attached.startedBy;
      this.factory ??= () => attached.simulator;
    }
  }

  /** Whether `action` may run here: outside demo mode only stopping is (it ends writes, never starts them). */
  allows(action: ReplayBody['action']): boolean {
    return this.demoMode || action === 'stop';
  }

  get available(): boolean {
    return this.factory !== undefined;
  }

  async status(): Promise<Record<string, unknown>> {
    const stats = this.sim ? await Promise.resolve(this.sim.stats()) : null;
    // The attached simulation may have been started, or have stopped on an error, without this page.
    const own = (stats ?? {}) as { running?: unknown; targetRate?: unknown };
    if (typeof own.running === 'boolean') this.running = own.running;
    if (typeof own.targetRate === 'number') this.rate = own.targetRate;
    return {
      available: this.available,
      running: this.running,
      rate: this.rate,
      startedBy: this.startedBy ?? null,
      demoMode: this.demoMode,
      ...(this.demoMode ? {} : { refused: NOT_DEMO }),
      scenarios: SCENARIO_NAMES,
      stats,
      breaches: this.breaches.snapshot(),
      ...(this.available ? {} : { reason: 'this console was started without a simulator' }),
    };
  }

  async apply(body: ReplayBody, who: string): Promise<Record<string, unknown>> {
    if (!this.factory) {
      throw new FraudstreamError(ErrorCodes.MISSING_PREREQUISITE, 'replay is unavailable: this console was started without a simulator');
    }
    switch (body.action) {
      case 'start': {
        if (body.rate !== undefined) this.rate = body.rate;
        this.sim ??= await this.factory(this.config, { rate: this.rate, ...(body.seed !== undefined ? { seed: body.seed } : {}) });
        await Promise.resolve(this.sim.setRate(this.rate));
        await Promise.resolve(this.sim.start());
        this.running = true;
        this.startedBy = who;
        break;
      }
      case 'stop':
        if (this.sim) await Promise.resolve(this.sim.stop());
        this.running = false;
        break;
      case 'speed':
        if (body.rate === undefined) throw new UserInputError('rate: required for action "speed" (events per second)');
        this.rate = body.rate;
        if (this.sim) await Promise.resolve(this.sim.setRate(body.rate));
        break;
      case 'inject': {
        if (!body.scenario) throw new UserInputError('scenario: required for action "inject"');
        this.sim ??= await this.factory(this.config, { rate: this.rate });
        await Promise.resolve(this.sim.inject(body.scenario, body.count ?? 20));
        break;
      }
    }
    return this.status();
  }

  /** Every decision the console sees: the fraud of an injected breach is counted by day since the injection. */
  observe(d: Decision): void {
    const sim = this.sim;
    if (sim?.breachOf) this.breaches.observe(d, (txId) => sim.breachOf!(txId));
  }

  async close(): Promise<void> {
    if (this.sim && this.running) await Promise.resolve(this.sim.stop());
    this.running = false;
  }
}
