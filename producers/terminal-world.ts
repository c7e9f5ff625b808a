/**
 * A second synthetic world, with the structure of the public per-customer / per-terminal benchmark stream used in
 * the fraud-detection literature on delayed feedback: customers shop at terminals near them; fraud is (1) any
 * amount above 220, (2) every transaction at a terminal compromised for 28 days (many different cards), (3) a third
 * of a compromised customer's transactions for 14 days, at five times their usual amount. Its CSV has that
 * stream's own column names (not ours): bring it in with `--map`, as a user would their data. Labels are a
 * column; the label delay is the reader's choice (`--label-delay-days`).
 */
import { mulberry32 } from '../detectors/pure/rng.ts';

export interface TerminalWorldOptions {
  customers: number;
  terminals: number;
  days: number;
  seed: number;
  /** First day, UTC. */
  start: number;
  /** Radius (on a 100 x 100 map) within which a customer uses terminals. */
  radius?: number;
}

export const TERMINAL_WORLD_HEADER = 'TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,TX_FRAUD_SCENARIO';

const DAY = 86_400_000;

function poisson(rand: () => number, mean: number): number {
  const l = Math.exp(-mean);
  let k = 0;
  for (let p = rand(); p > l; p *= rand()) k++;
  return k;
}

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** The world's rows as CSV lines (no header), in time order. */
export function* terminalWorldRows(o: TerminalWorldOptions): Generator<string> {
  const rand = mulberry32(o.seed);
  const radius = o.radius ?? 5;
  const tx = Array.from({ length: o.terminals }, () => [rand() * 100, rand() * 100] as const);
  const grid = new Map<string, number[]>();
  tx.forEach(([x, y], t) => {
    const key = `${Math.floor(x / radius)}:${Math.floor(y / radius)}`;
    (grid.get(key) ?? grid.set(key, []).get(key)!).push(t);
  });
  const customers = Array.from({ length: o.customers }, () => {
    const x = rand() * 100;
    const y = rand() * 100;
    const mean = 5 + rand() * 95;
    const near: number[] = [];
    const gx = Math.floor(x / radius);
    const gy = Math.floor(y / radius);
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (const t of grid.get(`${gx + dx}:${gy + dy}`) ?? []) if (Math.hypot(tx[t][0] - x, tx[t][1] - y) < radius) near.push(t);
      }
    }
    return { mean, std: mean / 2, perDay: rand() * 4, near };
  });
  const terminalUntil = new Int32Array(o.terminals).fill(-1);
  const customerUntil = new Int32Array(o.customers).fill(-1);
  let id = 0;
  for (let day = 0; day < o.days; day++) {
    // two terminals a day per 10,000 and three customers a day per 5,000, as in the stream this world imitates
    for (let k = poisson(rand, (2 * o.terminals) / 10_000); k > 0; k--) terminalUntil[Math.floor(rand() * o.terminals)] = day + 28;
    for (let k = poisson(rand, (3 * o.customers) / 5_000); k > 0; k--) customerUntil[Math.floor(rand() * o.customers)] = day + 14;
    const rows: Array<{ t: number; c: number; term: number; amount: number }> = [];
    customers.forEach((c, ci) => {
      if (c.near.length === 0) return;
      for (let n = poisson(rand, c.perDay); n > 0; n--) {
        const secs = 43_200 + normal(rand) * 20_000;
        if (secs < 0 || secs >= 86_400) continue;
        let amount = c.mean + normal(rand) * c.std;
        if (amount < 0) amount = rand() * c.mean * 2;
        rows.push({ t: o.start + day * DAY + Math.floor(secs * 1000), c: ci, term: c.near[Math.floor(rand() * c.near.length)], amount: Math.round(amount * 100) / 100 });
      }
    });
    rows.sort((a, b) => a.t - b.t || a.c - b.c);
    for (const r of rows) {
      let scenario = 0;
      let amount = r.amount;
      if (amount > 220) scenario = 1;
      if (terminalUntil[r.term] > day && terminalUntil[r.term] - 28 < day) scenario = 2;
      if (scenario === 0 && customerUntil[r.c] > day && customerUntil[r.c] - 14 < day && rand() < 1 / 3) {
        amount = Math.round(amount * 5 * 100) / 100;
        scenario = 3;
      }
      yield `${id++},${new Date(r.t).toISOString()},${r.c},${r.term},${amount.toFixed(2)},${scenario > 0 ? 1 : 0},${scenario}`;
    }
  }
}
