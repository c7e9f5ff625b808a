import { loadConfig, type Config } from '../core/config.ts';
import { ensureTopics } from '../core/kafka.ts';
import { localKafkaBrokers, startLocalKafka, stopLocalKafka, waitForBrokers } from '../infra/kafka-local.ts';
import { numberFlag, parseFlags, type Command } from '../core/command.ts';
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
    summary: 'fetch Apache Kafka with Maven, format KRaft storage, start a broker (or --brokers N) on loopback (KAFKA_BROKERS sets the port); --sasl-ssl: clients must use SASL over TLS',
    usage: [
      '[--brokers N] [--sasl-ssl]',
      '  --brokers N   N brokers (KRaft, each also a controller) on the first KAFKA_BROKERS port and every 3rd one after',
      '                it (9092, 9095, 9098: their controllers on +1); set KAFKA_BROKERS to the list it prints',
      '  --sasl-ssl    the client listener speaks SASL_SSL: a CA and certificates are made in the data folder, and the',
      '                user KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD is created for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512',
      '                (needs KAFKA_SECURITY_PROTOCOL=SASL_SSL and KAFKA_SASL_MECHANISM too, as every client does)',
    ].join('\n'),
    async run(argv) {
      const { values } = parseFlags(this, argv, { brokers: { type: 'string' }, 'sasl-ssl': { type: 'boolean' } });
      const config = loadConfig();
      const nodes = numberFlag('brokers', values.brokers, 1, { min: 1, max: 9, integer: true });
      const { host, port } = loopbackBroker(config.kafka.brokers);
      const expected = localKafkaBrokers(host, port, nodes);
      if (config.kafka.brokers.length > 1 && config.kafka.brokers.join(',') !== expected.join(',')) {
        throw new UserInputError(`kafka start --brokers ${nodes} listens on ${expected.join(',')}; KAFKA_BROKERS=${config.kafka.brokers.join(',')} lists others: set it to that list, or to the first address only`);
      }
      const sasl = config.kafka.security.sasl;
      if (values['sasl-ssl'] && (config.kafka.security.protocol !== 'SASL_SSL' || !sasl)) {
        throw new UserInputError('kafka start --sasl-ssl: set KAFKA_SECURITY_PROTOCOL=SASL_SSL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: the broker gets that user, and every client connects with it');
      }
      if (!values['sasl-ssl'] && config.kafka.security.protocol !== 'PLAINTEXT') {
        throw new UserInputError(`KAFKA_SECURITY_PROTOCOL=${config.kafka.security.protocol}: the local broker speaks it only with --sasl-ssl (SASL_SSL), else PLAINTEXT`);
      }
      const k = await startLocalKafka({
        dataDir: config.dataDir,
        host,
        port,
        nodes,
        ...(values['sasl-ssl'] && sasl ? { saslSsl: { users: [{ username: sasl.username, password: sasl.password }] } } : {}),
        onProgress: (l) => console.error(l),
      });
      // The CA is made with the broker: until KAFKA_SSL_CA_FILE names it, this command connects with it itself.
      const own: Config = { ...config, kafka: { ...config.kafka, brokers: k.brokers } };
      if (k.tls && !config.kafka.security.tls?.caFile) own.kafka.security = { ...config.kafka.security, tls: { ...config.kafka.security.tls, caFile: k.tls.caFile } };
      await ensureTopics(own);
      const pids = [...k.pids].map(([id, pid]) => `node ${id} pid ${pid}`).join(', ');
      console.log(`Kafka ${k.started ? 'started' : 'already running'} at ${k.brokers.join(',')} ${pids ? `(${pids}; log ${k.logFile})` : '(not started by this project)'}`);
      const set: string[] = [];
      if (config.kafka.brokers.join(',') !== k.brokers.join(',')) set.push(`KAFKA_BROKERS=${k.brokers.join(',')}`);
      if (k.tls && config.kafka.security.tls?.caFile !== k.tls.caFile) set.push(`KAFKA_SSL_CA_FILE=${k.tls.caFile}`);
      if (set.length) console.log(`clients need: ${set.join(' ')}${k.tls ? ` (optional client certificate: KAFKA_SSL_CERT_FILE=${k.tls.clientCertFile} KAFKA_SSL_KEY_FILE=${k.tls.clientKeyFile})` : ''}`);
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
    summary: 'create the project topics (partitions, retention and replication from config) if missing; --brokers N waits until N brokers are in the cluster first, so `auto` replication counts them all',
    usage: '[--brokers N]',
    async run(argv) {
      const { values } = parseFlags(this, argv, { brokers: { type: 'string' } });
      const brokers = numberFlag('brokers', values.brokers, 1, { min: 1, max: 100, integer: true });
      const config = loadConfig();
      if (brokers > 1) await waitForBrokers({ brokers: config.kafka.brokers, security: config.kafka.security }, brokers, config.kafka.waitMs);
      await ensureTopics(config);
      console.log('topics ready');
    },
  },
];
