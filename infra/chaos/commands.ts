import type { Command } from '../../core/command.ts';
import { numberFlag, parseFlags } from '../../core/command.ts';
import { UserInputError } from '../../core/errors.ts';
import { exitCode } from './pure/report.ts';
import { redisPortProblem } from './pure/redis-cluster.ts';
import { CONSOLE_DOWN_SECONDS, SCENARIOS, SCENARIO_NAMES } from './scenarios.ts';

export function parseOnly(raw: string | undefined): string[] {
  if (raw === undefined) return [...SCENARIO_NAMES];
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !SCENARIO_NAMES.includes(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new UserInputError(`--only: ${unknown.length ? `unknown scenario ${unknown.map((n) => JSON.stringify(n)).join(', ')}` : 'give at least one scenario'}; known: ${SCENARIO_NAMES.join(', ')}`);
  }
  return [...new Set(names)];
}

export const chaosCommand: Command = {
  name: 'chaos',
  summary: 'fault scenarios on real processes, its own broker and redis-server (a Redis Cluster for redis-master-failover): lost / decided twice / recovery per scenario',
  usage:
    '[--only NAME[,NAME]] [--json FILE] [--rate EPS] [--quick] [--list] [--model DIR|latest|none] [--partitions N] [--kafka-port PORT] [--redis-port PORT] [--logs DIR] [--instance NAME] [--console-down-seconds N]',
  async run(argv) {
    const { values: v } = parseFlags(this, argv, {
      only: { type: 'string' },
      json: { type: 'string' },
      rate: { type: 'string' },
      quick: { type: 'boolean' },
      list: { type: 'boolean' },
      model: { type: 'string' },
      partitions: { type: 'string' },
      'kafka-port': { type: 'string' },
      'redis-port': { type: 'string' },
      logs: { type: 'string' },
      'console-down-seconds': { type: 'string' },
      instance: { type: 'string' },
    });
    // The broker's data folder under DATA_DIR: two suites on one machine need two names.
    const instance = v.instance ?? 'chaos';
    if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(instance)) throw new UserInputError(`--instance must be lower-case letters, digits and -, got ${JSON.stringify(instance)}`);
    if (v.list) {
      const w = Math.max(...SCENARIOS.map((s) => s.name.length));
      console.log(SCENARIOS.map((s) => `${s.name.padEnd(w)}  ${s.summary}`).join('\n'));
      return 0;
    }
    const only = parseOnly(v.only);
    const kafkaPort = numberFlag('kafka-port', v['kafka-port'], 39_092, { min: 1024, max: 65_534, integer: true });
    const redisPort = numberFlag('redis-port', v['redis-port'], 36_379, { min: 1024, max: 65_535, integer: true });
    // The single broker takes kafkaPort and +1; a 3-broker cluster (broker-leader-kill) kafkaPort + 10 to + 18; a Redis
    // Cluster (redis-master-failover) redisPort + 1 to + 6 and 10000 above those.
    const cluster = only.some((n) => SCENARIOS.find((s) => s.name === n)?.redisCluster);
    const portProblem = redisPortProblem(kafkaPort, redisPort, cluster);
    if (portProblem) throw new UserInputError(portProblem);
    // This process's own log lines (topic creation...) would drown the progress; the children log at info to files.
    process.env.LOG_LEVEL ??= 'warn';
    const { runChaos, table } = await import('./runner.ts');
    // Ctrl-C: the exit hooks kill the children, the broker and redis-server by pid.
    const interrupt = () => process.exit(130);
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    const report = await runChaos({
      only,
      rate: numberFlag('rate', v.rate, 100, { min: 1, max: 5_000 }),
      kafkaPort,
      redisPort,
      instance,
      partitions: numberFlag('partitions', v.partitions, 6, { min: 1, max: 64, integer: true }),
      model: v.model ?? 'none',
      logDir: v.logs ?? 'bench-results/chaos-logs',
      quick: v.quick ?? false,
      consoleDownSeconds: numberFlag('console-down-seconds', v['console-down-seconds'], CONSOLE_DOWN_SECONDS, { min: 10, max: 3_600, integer: true }),
      ...(v.json ? { json: v.json } : {}),
      log: (l) => console.error(l),
    });
    console.log(table(report.scenarios));
    if (v.json) console.log(`results written to ${v.json}`);
    return exitCode(report.scenarios);
  },
};

export const commands: Command[] = [chaosCommand];
