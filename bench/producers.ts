import { randomUUID } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isolatedConfig, type Config } from '../core/config.ts';
import { createKafka, ensureTopics } from '../core/kafka.ts';
import { generateToFile } from '../producers/generate.ts';
import { createKafkaSink, maxRequestBytes } from '../producers/kafka-sink.ts';
import { replayFile } from '../producers/replay.ts';
import { World } from '../producers/world/index.ts';

export interface ProducerBenchResult {
  when: string;
  machine: { cpus: number; model: string; node: string };
  generateInMemory: { events: number; seconds: number; eventsPerSec: number };
  generateToFile: { events: number; seconds: number; eventsPerSec: number; bytes: number };
  replay: { events: number; delivered: number; seconds: number; eventsPerSec: number; batch: number; partitions: number; runs: number[]; cpuMicrosPerEvent: number };
  /** 1-minute load average at the start and end: the machine is shared, so the same code measures differently. */
  loadAverage: { before: number; after: number };
}

/** Measures generation and replay into the configured broker, on topics of its own that it deletes afterwards. */
export async function benchProducers(base: Config, opts: { events: number; batch: number; runs: number; log: (line: string) => void }): Promise<ProducerBenchResult> {
  const { events, log } = opts;
  const loadBefore = loadavg()[0] ?? 0;
  log(`generate in memory: ${events} events`);
  const t0 = performance.now();
  const world = new World({ seed: 1, events });
  while (world.next() !== undefined);
  const memSeconds = (performance.now() - t0) / 1000;

  const dir = join(tmpdir(), `fraudstream-bench-${randomUUID().slice(0, 8)}`);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'tx.jsonl');
  const config = isolatedConfig(base, `bench-producers-${randomUUID().slice(0, 8)}`);
  const admin = createKafka(config, '-bench-admin').admin();
  try {
    log(`generate to ${file}`);
    const gen = await generateToFile({ world: { seed: 1, events }, out: file, format: 'jsonl', progress: false });
    const { size } = await stat(file);

    await admin.connect();
    await ensureTopics(config, admin);
    const sink = await createKafkaSink(config, '-bench');
    const runs: number[] = [];
    let sent = 0;
    let seconds = 0;
    const cpu0 = process.cpuUsage();
    try {
      for (let r = 0; r < opts.runs; r++) {
        log(`replay run ${r + 1}/${opts.runs} into ${config.topics.transactions} (${config.kafka.partitions} partitions)`);
        const s = await replayFile({ file, pace: { kind: 'max' }, labelsFile: null, batchSize: opts.batch, maxBatchBytes: maxRequestBytes(config), progress: false }, sink);
        runs.push(Math.round(s.eventsPerSec));
        sent += s.sent;
        seconds += s.sent / s.eventsPerSec;
      }
    } finally {
      await sink.close();
    }
    const cpu = process.cpuUsage(cpu0);
    const offsets = await admin.fetchTopicOffsets(config.topics.transactions);
    const delivered = offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
    return {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
      generateInMemory: { events, seconds: memSeconds, eventsPerSec: Math.round(events / memSeconds) },
      generateToFile: { events: gen.events, seconds: gen.seconds, eventsPerSec: Math.round(gen.events / gen.seconds), bytes: size },
      replay: { events: sent, delivered, seconds, eventsPerSec: Math.round(sent / seconds), batch: opts.batch, partitions: config.kafka.partitions, runs, cpuMicrosPerEvent: Number(((cpu.user + cpu.system) / Math.max(1, sent)).toFixed(2)) },
      loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
    };
  } finally {
    await admin.deleteTopics({ topics: Object.values(config.topics) }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function writeBenchResult(result: ProducerBenchResult, path = 'bench-results/producers.json'): Promise<string> {
  await mkdir('bench-results', { recursive: true });
  await writeFile(path, JSON.stringify(result, null, 2) + '\n');
  return path;
}
