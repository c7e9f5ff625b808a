import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { groupMessagesPerPartition } from '../../core/kafkajs-grouping.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';

const require = createRequire(import.meta.url);
const GROUP_PATH = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');

/** kafkajs' own function, from its file (the module cache may hold the replacement already). */
function kafkajsOriginal(): typeof groupMessagesPerPartition {
  const m = { exports: {} as unknown };
  new Function('module', 'exports', readFileSync(GROUP_PATH, 'utf8'))(m, m.exports);
  return m.exports as typeof groupMessagesPerPartition;
}

describe("kafkajs' grouping of a send's messages by partition, linear", () => {
  it('gives what kafkajs gives: the same partitions, the same messages in the same order', () => {
    const original = kafkajsOriginal();
    const rand = mulberry32(11);
    for (let round = 0; round < 50; round++) {
      const partitions = 1 + Math.floor(rand() * 12);
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i }));
      const messages = Array.from({ length: Math.floor(rand() * 400) }, (_, i) => ({ key: `k${Math.floor(rand() * 50)}`, value: String(i) }));
      const partitioner = ({ message }: { message: { key: string } }) => Number(message.key.slice(1)) % partitions;
      const ours = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
      expect(ours).toEqual(original({ topic: 't', partitionMetadata, messages, partitioner }));
      expect(Object.values(ours).flat()).toHaveLength(messages.length);
    }
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages: [{ key: 'k1' }], partitioner: () => 0 })).toEqual({});
  });

  it('is what a process that imports core/kafka.ts gives kafkajs: the producer loads after it and requires this one', async () => {
    const script = [
      "import { createRequire } from 'node:module';",
      "import { KAFKAJS_GROUPING, groupMessagesPerPartition } from './core/kafkajs-grouping.ts';",
      "import { createKafka } from './core/kafka.ts';",
      'const require = createRequire(import.meta.url);',
      "const loaded = Boolean(require.cache[require.resolve('kafkajs/src/producer/sendMessages.js')]);",
      "const used = require('kafkajs/src/producer/groupMessagesPerPartition.js') === groupMessagesPerPartition;",
      'console.log(JSON.stringify({ status: KAFKAJS_GROUPING, loaded, used, built: typeof createKafka }));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ status: 'installed', loaded: true, used: true, built: 'function' });
  });

  it('says so when kafkajs was loaded first (it then keeps its own)', async () => {
    const script = [
      "import 'kafkajs';",
      "const { KAFKAJS_GROUPING } = await import('./core/kafkajs-grouping.ts');",
      'console.log(KAFKAJS_GROUPING);',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() });
    expect(stdout.trim()).toBe('too-late');
  });
});
