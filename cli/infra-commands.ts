import { loadConfig } from '../core/config.ts';
import { ensureTopics } from '../core/kafka.ts';
import { startLocalKafka, stopLocalKafka } from '../infra/kafka-local.ts';
import { parseFlags, type Command } from './command.ts';
import { UserInputError } from '../core/errors.ts';

function loopbackBroker(brokers: string[]): { host: string; port: number } {
  const [host, port] = (brokers[0] ?? '').split(':');
  if (!host || !['127.0.0.1', 'localhost', '::1'].includes(host)) {
    throw new UserInputError(`kafka start runs a broker on loopback; KAFKA_BROKERS=${brokers.join(',')} is not a loopback address`);
  }
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(port) };
}

export const infraCommands: Command[] = [
  {
    name: 'kafka start',
    summary: 'fetch Apache Kafka with Maven, format KRaft storage, start one broker on loopback (KAFKA_BROKERS sets the port)',
    usage: '',
    async run(argv) {
      parseFlags(this, argv, {});
      const config = loadConfig();
      const { host, port } = loopbackBroker(config.kafka.brokers);
      const k = await startLocalKafka({ dataDir: config.dataDir, host, port, onProgress: (l) => console.error(l) });
      await ensureTopics(config);
      console.log(`Kafka ${k.started ? 'started' : 'already running'} at ${k.brokers.join(',')} ${k.pid ? `(pid ${k.pid}, log ${k.logFile})` : '(not started by this project)'}`);
    },
  },
  {
    name: 'kafka stop',
    summary: 'stop the broker started by `kafka start` (--wipe also deletes its data)',
    usage: '[--wipe]',
    async run(argv) {
      const { values } = parseFlags(this, argv, { wipe: { type: 'boolean' } });
      const config = loadConfig();
      const stopped = await stopLocalKafka({ dataDir: config.dataDir, wipe: values.wipe });
      console.log(stopped ? 'Kafka stopped' : 'no local Kafka was running');
    },
  },
  {
    name: 'topics create',
    summary: 'create the project topics (partitions and retention from config) if missing',
    usage: '',
    async run(argv) {
      parseFlags(this, argv, {});
      await ensureTopics(loadConfig());
      console.log('topics ready');
    },
  },
];
