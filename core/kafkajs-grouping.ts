/**
 * kafkajs 2.2.4 sorts a send's messages into partitions with `Object.assign(result, { [p]: [...current, message] })`
 * for each message (src/producer/groupMessagesPerPartition.js): it copies the partition's array every time, so a
 * send of n messages to one partition copies n²/2 references and allocates as many. The stage runner sends a
 * batch's outputs in one call (a backlog's batches hold thousands), and the allocation profile of a pipeline
 * draining a backlog put 16% of all bytes allocated in that one line. This module gives kafkajs a linear version:
 * the same partitions, the same messages in the same order, one array per partition.
 *
 * kafkajs' sendMessages.js keeps the function it required when it was loaded, so the replacement has to be in Node's
 * module cache before kafkajs is: this module does it when it is evaluated, and it is imported ahead of kafkajs by
 * cli/main.ts (every command) and core/kafka.ts. `KAFKAJS_GROUPING` says whether it took effect in this process.
 */
import Module, { createRequire } from 'node:module';

interface GroupArgs<M> {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly M[];
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: M }) => number;
}

/** kafkajs' groupMessagesPerPartition, linear: partition -> its messages in send order ({} without metadata). */
export function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: GroupArgs<M>): Record<number, M[]> {
  const result: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition];
    if (current) current.push(message);
    else result[partition] = [message];
  }
  return result;
}

/**
 * Puts the linear grouping in the module cache where kafkajs will require it. 'installed': kafkajs will use it;
 * 'already': it does; 'too-late': kafkajs' producer was loaded first and keeps its own (slower, same result).
 */
export function installLinearGrouping(): 'installed' | 'already' | 'too-late' {
  const require = createRequire(import.meta.url);
  const groupPath = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
  if (require.cache[groupPath]?.exports === groupMessagesPerPartition) return 'already';
  if (require.cache[require.resolve('kafkajs/src/producer/sendMessages.js')]) return 'too-late';
  const m = new Module(groupPath);
  m.filename = groupPath;
  m.loaded = true;
  m.exports = groupMessagesPerPartition;
  require.cache[groupPath] = m;
  return 'installed';
}

export const KAFKAJS_GROUPING = installLinearGrouping();
