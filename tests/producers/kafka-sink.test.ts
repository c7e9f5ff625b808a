import type { RecordMetadata, TopicMessages } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { sendAllPartitions } from '../../producers/kafka-sink.ts';

/** A producer that answers like kafkajs 2.2.4 after a leader died mid-send: the first answer leaves `skip` out. */
function fakeProducer(skip: Array<[string, number]>, times = 1) {
  const calls: TopicMessages[][] = [];
  let left = times;
  return {
    calls,
    async sendBatch({ topicMessages }: { topicMessages: TopicMessages[] }): Promise<RecordMetadata[]> {
      calls.push(topicMessages);
      const out: RecordMetadata[] = [];
      for (const t of topicMessages) {
        for (const p of new Set(t.messages.map((m) => m.partition!))) {
          if (left > 0 && skip.some(([topic, part]) => topic === t.topic && part === p)) continue;
          out.push({ topicName: t.topic, partition: p, errorCode: 0, baseOffset: '0' } as RecordMetadata);
        }
      }
      left--;
      return out;
    },
  };
}

const msg = (partition: number, value: string) => ({ key: value, value, partition });
const batch: TopicMessages[] = [
  { topic: 'transactions', messages: [msg(0, 'a'), msg(1, 'b'), msg(2, 'c'), msg(1, 'd')] },
  { topic: 'labels', messages: [msg(1, 'l1')] },
];
const noPause = async () => undefined;

describe('replay/simulate sink: a partition the answer does not name is sent again', () => {
  it('sends once when every partition is acknowledged', async () => {
    const p = fakeProducer([]);
    await sendAllPartitions(p, batch, noPause);
    expect(p.calls).toHaveLength(1);
  });

  it('sends only the unwritten partition\'s messages again, in their order, and nothing else', async () => {
    const p = fakeProducer([['transactions', 1]]);
    await sendAllPartitions(p, batch, noPause);
    expect(p.calls).toHaveLength(2);
    expect(p.calls[1]).toEqual([{ topic: 'transactions', messages: [msg(1, 'b'), msg(1, 'd')] }]);
  });

  it('gives up with a clear error when a partition is never acknowledged', async () => {
    const p = fakeProducer([['labels', 1]], 100);
    await expect(sendAllPartitions(p, batch, noPause)).rejects.toThrow(/not partition\(s\) labels:1 after 6 tries/);
    expect(p.calls).toHaveLength(6);
  });
});
