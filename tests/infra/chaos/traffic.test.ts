/**
 * The chaos traffic producer counts a message acknowledged only when the answer to its send names its partition:
 * kafkajs 2.2.4 resolved a send without writing one partition when that partition's leader died mid-send (seen in
 * broker-coordinator-kill). A fake producer plays that answer here.
 */
import type { Kafka, Message, RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionFor } from '../../../core/partition.ts';
import { sha256 } from '../../../infra/chaos/pure/invariants.ts';
import { Traffic } from '../../../infra/chaos/traffic.ts';

const PARTITIONS = 4;

/** A Kafka whose producer answers each send through `answer` and records what it was asked to write. */
function fakeKafka(answer: (messages: Message[], call: number) => RecordMetadata[]) {
  const sends: Message[][] = [];
  const kafka = {
    admin: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      fetchTopicMetadata: async () => ({ topics: [{ name: 't', partitions: Array.from({ length: PARTITIONS }, (_, i) => ({ partitionId: i })) }] }),
    }),
    producer: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      send: async ({ messages }: { messages: Message[] }) => {
        sends.push(messages);
        return answer(messages, sends.length);
      },
    }),
  } as unknown as Kafka;
  return { kafka, sends };
}

const written = (messages: Message[], skip?: number): RecordMetadata[] =>
  [...new Set(messages.map((m) => m.partition!))].filter((p) => p !== skip).map((partition) => ({ topicName: 't', partition, errorCode: 0, baseOffset: '0' }));

const keys = ['card-a', 'card-b', 'card-c', 'card-d', 'card-e', 'card-f', 'card-g', 'card-h'];

async function sendAll(kafka: Kafka): Promise<Traffic> {
  const traffic = new Traffic({ kafka, topic: 't', rate: 0, seed: 1, cards: 10, log: () => undefined });
  await traffic.start();
  for (const k of keys) traffic.inject({ key: k, value: `v-${k}`, expect: { kind: 'invalid' } });
  await traffic.stop(5_000);
  return traffic;
}

describe('chaos traffic acknowledgements', () => {
  it("pins each message to Kafka's key partition and acknowledges what the answer names", async () => {
    const { kafka, sends } = fakeKafka((m) => written(m));
    const traffic = await sendAll(kafka);
    const all = sends.flat();
    expect(all.map((m) => [String(m.key), m.partition])).toEqual(keys.map((k) => [k, partitionFor(Buffer.from(k), PARTITIONS)]));
    expect([...traffic.acknowledgedHashes()].sort()).toEqual(keys.map((k) => sha256(Buffer.from(`v-${k}`))).sort());
    expect(traffic.stats).toMatchObject({ sent: keys.length, unwrittenSends: 0, unwrittenMessages: 0 });
  });

  it('a send resolved without one partition is not an acknowledgement of its messages: they are sent again', async () => {
    const dropped = partitionFor(Buffer.from(keys[0]!), PARTITIONS);
    // The first answer leaves out one partition, as kafkajs did when that partition's leader died mid-send.
    const { kafka, sends } = fakeKafka((m, call) => written(m, call === 1 ? dropped : undefined));
    const traffic = await sendAll(kafka);
    const onDropped = keys.filter((k) => partitionFor(Buffer.from(k), PARTITIONS) === dropped);
    expect(sends).toHaveLength(2);
    expect(sends[1]!.map((m) => String(m.key))).toEqual(onDropped);
    expect(traffic.stats).toMatchObject({ sent: keys.length, unwrittenSends: 1, unwrittenMessages: onDropped.length });
    expect(traffic.acknowledgedHashes().size).toBe(keys.length);
  });

  it('never acknowledges a partition that is never written', async () => {
    const dropped = partitionFor(Buffer.from(keys[0]!), PARTITIONS);
    const { kafka } = fakeKafka((m) => written(m, dropped));
    const traffic = new Traffic({ kafka, topic: 't', rate: 0, seed: 1, cards: 10, log: () => undefined });
    await traffic.start();
    for (const k of keys) traffic.inject({ key: k, value: `v-${k}`, expect: { kind: 'invalid' } });
    await expect(traffic.stop(300)).rejects.toThrow(/still unsent/);
    expect(traffic.acknowledgedHashes().has(sha256(Buffer.from(`v-${keys[0]}`)))).toBe(false);
    expect(traffic.acknowledgedHashes().size).toBe(keys.filter((k) => partitionFor(Buffer.from(k), PARTITIONS) !== dropped).length);
  });
});
