/**
 * `fraudstream ui bench`: how fast a decision reaches browsers. Starts a console on isolated topics and Redis
 * keys, opens N live streams (SSE) with a real login, produces decisions into Kafka at a fixed rate, and times
 * each one from produce to arrival on every stream. Prints a table and writes bench-results/review-ui.json.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { isolatedConfig, type Config } from '../core/config.ts';
import type { Decision } from '../core/contracts.ts';
import { createKafka, createProducer, ensureTopics } from '../core/kafka.ts';
import { createRedis } from '../core/redis.ts';
import { UserStore } from '../review-ui/server/auth.ts';
import { startUiServer } from '../review-ui/server/app.ts';

export interface BenchOptions {
  decisions: number;
  clients: number;
  rate: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) : NaN;
}

function decision(i: number, runId: string): Decision {
  const txId = `bench-${runId}-${i}`;
  const now = Date.now();
  return {
    decisionId: `${txId}:detect`, txId, cardId: `card-${i % 500}`, action: i % 20 === 0 ? 'BLOCK' : 'ALLOW', stage: 'detect', final: true,
    reason: 'bench', scores: { xgboost: 0.1, isolationForest: 0.2 }, rulesFired: [], topFeatures: [], versions: { model: 'bench', policy: 1 },
    timings: { detect: 1 }, decidedAt: now,
    tx: { merchantId: 'm', merchantName: 'Bench Shop', mcc: '5411', amountMinor: 1000 + i, currency: 'EUR', ts: now, channel: 'ecommerce', country: 'FR', lat: 48.8, lon: 2.3, deviceId: null },
  };
}

/** Reads an SSE stream, calling onDecision with the arrival time of each decision event. */
async function readStream(
  url: string,
  cookie: string,
  onOpen: () => void,
  onDecision: (d: { decidedAt: number; txId: string }, at: number) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(`${url}/api/stream`, { headers: { cookie }, signal });
  if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
  onOpen();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const at = Date.now();
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!frame.startsWith('event: decision\n')) continue;
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (data) onDecision(JSON.parse(data.slice(6)) as { decidedAt: number; txId: string }, at);
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

export async function runUiBench(base: Config, opts: BenchOptions): Promise<Record<string, unknown>> {
  const runId = randomUUID().slice(0, 8);
  const config = isolatedConfig(base, `uibench-${runId}`);
  await ensureTopics(config);
  const redis = createRedis(config, 'bench');
  const password = randomUUID();
  const users = new UserStore(redis, config.redis.keyPrefix);
  await users.add('bench', password);
  const ui = await startUiServer({ config, port: 0, simulator: null, backfill: { decisions: 0, cases: 0, labels: 0 } });
  const producer = createProducer(createKafka(config, '-bench'));
  await producer.connect();
  const abort = new AbortController();
  const latencies: number[] = [];
  const received = new Array<number>(opts.clients).fill(0);
  const loginStart = performance.now();
  const login = await fetch(`${ui.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench', password }) });
  const loginMs = performance.now() - loginStart;
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
  let open = 0;
  const streams = Array.from({ length: opts.clients }, (_, c) =>
    readStream(ui.url, cookie, () => open++, (d, at) => {
      if (!d.txId.startsWith(`bench-${runId}-`)) return;
      received[c] = (received[c] ?? 0) + 1;
      latencies.push(at - d.decidedAt);
      lastArrival = at;
    }, abort.signal),
  );
  for (let i = 0; i < 100 && open < opts.clients; i++) await new Promise((r) => setTimeout(r, 50));
  // The server registers a stream just after its headers are sent; give the last one a moment.
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  let lastArrival = started;
  try {
    const batch = Math.max(1, Math.round(opts.rate / 20));
    for (let i = 0; i < opts.decisions; i += batch) {
      const msgs = Array.from({ length: Math.min(batch, opts.decisions - i) }, (_, k) => decision(i + k, runId));
      await producer.send({ topic: config.topics.decisions, messages: msgs.map((d) => ({ key: d.cardId, value: JSON.stringify(d) })) });
      const due = started + ((i + batch) / opts.rate) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      if (i % (batch * 20) === 0) process.stderr.write(`\rproduced ${i + msgs.length}/${opts.decisions}, received ${latencies.length}/${opts.decisions * opts.clients}   `);
    }
    const deadline = Date.now() + 30_000;
    while (latencies.length < opts.decisions * opts.clients && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    process.stderr.write('\n');
  } finally {
    abort.abort();
    await Promise.allSettled(streams);
    await producer.disconnect();
    await ui.close();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${config.redis.keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    const admin = createKafka(config, '-bench-admin').admin();
    await admin.connect();
    await admin.deleteTopics({ topics: Object.values(config.topics) }).catch(() => undefined);
    await admin.disconnect();
  }
  const elapsed = (lastArrival - started) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    decisions: opts.decisions,
    clients: opts.clients,
    targetRate: opts.rate,
    delivered: latencies.length,
    expected: opts.decisions * opts.clients,
    seconds: Number(elapsed.toFixed(2)),
    deliveredPerSecond: Math.round(latencies.length / elapsed),
    latencyMs: { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? NaN },
    loginMs: Math.round(loginMs),
  };
}

export async function printAndSave(result: Record<string, unknown>): Promise<void> {
  const l = result.latencyMs as Record<string, number>;
  const rows: Array<[string, string]> = [
    ['decisions produced', String(result.decisions)],
    ['SSE clients', String(result.clients)],
    ['target rate (decisions/s)', String(result.targetRate)],
    ['delivered / expected', `${String(result.delivered)} / ${String(result.expected)}`],
    ['deliveries per second', String(result.deliveredPerSecond)],
    ['produce -> SSE client p50 (ms)', String(l.p50)],
    ['produce -> SSE client p95 (ms)', String(l.p95)],
    ['produce -> SSE client p99 (ms)', String(l.p99)],
    ['produce -> SSE client max (ms)', String(l.max)],
    ['login (scrypt) ms', String(result.loginMs)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n'));
  await mkdir('bench-results', { recursive: true });
  await writeFile('bench-results/review-ui.json', `${JSON.stringify({ ...result, at: new Date().toISOString() }, null, 2)}\n`);
  console.log('\nwritten to bench-results/review-ui.json');
}
