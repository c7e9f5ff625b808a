/**
 * A compacted topic used as a changelog (as Kafka Streams backs a state store): each change is appended under its key,
 * and the newest value of every key is read back to rebuild a Redis view that was lost (issue 18). The writes are
 * acknowledged by all in-sync replicas (idempotent producer) before the caller changes Redis.
 */
import type { Admin, Kafka, Producer } from 'kafkajs';
import { createProducer } from './kafka.ts';
import { readRanges, wholeTopic } from './topic-reader.ts';

export interface ChangelogEntry {
  key: string;
  value: string;
  /** Kafka timestamp of the entry (epoch ms). */
  at: number;
}

export interface Changelog {
  /** The topic's name (for messages). */
  readonly topic: string;
  append(key: string, value: string): Promise<void>;
  /** A tombstone: the key is gone from the record (compaction removes its older values). */
  remove(key: string): Promise<void>;
  /** Tombstones for several keys, sent in a few requests. */
  removeAll(keys: readonly string[]): Promise<void>;
  /** The newest value of every key, in the order the keys were last written. */
  readAll(): Promise<ChangelogEntry[]>;
  close(): Promise<void>;
}

export interface ChangelogOptions {
  timeoutMs?: number;
  /** Run once before the first read or write (a command that has not created the project's topics passes ensureTopics). */
  ensure?: () => Promise<void>;
}

/**
 * A topic's clients, connected on first use and forgotten when connecting fails (the next call tries again), with the
 * caller's `ensure` run once before the first use: what a changelog and the audit record share.
 */
export function lazyTopicClients(kafka: Kafka, ensureOnce?: () => Promise<void>) {
  let ensured: Promise<void> | undefined;
  const ensure = () => {
    if (!ensureOnce) return Promise.resolve();
    const e = (ensured ??= ensureOnce());
    e.catch(() => (ensured = ensured === e ? undefined : ensured));
    return e;
  };
  let producer: Promise<Producer> | undefined;
  let admin: Promise<Admin> | undefined;
  const connected = <T extends { connect(): Promise<void> }>(c: T): Promise<T> => c.connect().then(() => c);
  const getProducer = () => {
    const p = (producer ??= connected(createProducer(kafka)));
    p.catch(() => (producer = producer === p ? undefined : producer));
    return p;
  };
  const getAdmin = () => {
    const a = (admin ??= connected(kafka.admin()));
    a.catch(() => (admin = admin === a ? undefined : admin));
    return a;
  };
  const close = async () => {
    const [p, a] = [producer, admin];
    producer = admin = undefined;
    await Promise.all([p?.then((x) => x.disconnect()).catch(() => undefined), a?.then((x) => x.disconnect()).catch(() => undefined)]);
  };
  return { ensure, getProducer, getAdmin, close };
}

export function kafkaChangelog(kafka: Kafka, topic: string, opts: ChangelogOptions = {}): Changelog {
  const { ensure, getProducer, getAdmin, close } = lazyTopicClients(kafka, opts.ensure);
  return {
    topic,
    async append(key, value) {
      await ensure();
      await (await getProducer()).send({ topic, acks: -1, messages: [{ key, value }] });
    },
    async remove(key) {
      await ensure();
      await (await getProducer()).send({ topic, acks: -1, messages: [{ key, value: null }] });
    },
    async removeAll(keys) {
      if (keys.length === 0) return;
      await ensure();
      const producer = await getProducer();
      for (let i = 0; i < keys.length; i += 500) await producer.send({ topic, acks: -1, messages: keys.slice(i, i + 500).map((key) => ({ key, value: null })) });
    },
    async readAll() {
      await ensure();
      const a = await getAdmin();
      const newest = new Map<string, ChangelogEntry>();
      await readRanges({ kafka, admin: a, label: `fraudstream.changelog.${topic}`, timeoutMs: opts.timeoutMs ?? 60_000 }, await wholeTopic(a, topic), async (_t, _p, messages) => {
        for (const m of messages) {
          if (m.key === null) continue;
          const key = m.key.toString();
          newest.delete(key);
          if (m.value !== null) newest.set(key, { key, value: m.value.toString(), at: Number(m.timestamp) });
        }
      });
      return [...newest.values()];
    },
    close,
  };
}
