/** Rate control for replay and simulate. Pure apart from the clock, which is passed in. */

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/**
 * Token bucket: `rate` tokens per second, at most `burst` saved up. take(n) may ask for more than the burst:
 * the bucket goes into debt and the caller waits it off, so the long-run rate holds for any batch size.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private rate: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    if (!(rate > 0)) throw new Error(`token bucket rate must be positive, got ${rate}`);
    this.tokens = 0;
    this.last = clock.now();
  }

  get currentRate(): number {
    return this.rate;
  }

  setRate(rate: number): void {
    if (!(rate > 0)) throw new Error(`token bucket rate must be positive, got ${rate}`);
    this.refill();
    this.rate = rate;
  }

  /** How long (ms) until `n` tokens would be available; 0 when they are. */
  waitFor(n: number): number {
    this.refill();
    return this.tokens >= n ? 0 : ((n - this.tokens) / this.rate) * 1000;
  }

  async take(n: number): Promise<void> {
    this.refill();
    this.tokens -= n;
    if (this.tokens < 0) await this.clock.sleep((-this.tokens / this.rate) * 1000);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }
}

/** Keeps recorded inter-arrival times, divided by `speed`: an event recorded at ts is due at start + (ts - ts0) / speed. */
export class SpeedPacer {
  private ts0: number | undefined;
  private wall0 = 0;

  constructor(
    private readonly speed: number,
    private readonly clock: Clock,
  ) {
    if (!(speed > 0)) throw new Error(`speed must be positive, got ${speed}`);
  }

  /** Milliseconds until an event recorded at `ts` is due (0 if it is). */
  delayFor(ts: number): number {
    if (this.ts0 === undefined) {
      this.ts0 = ts;
      this.wall0 = this.clock.now();
    }
    return Math.max(0, this.wall0 + (ts - this.ts0) / this.speed - this.clock.now());
  }
}
