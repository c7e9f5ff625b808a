/**
 * The demo's terminal stays quiet: kafkajs retries that succeed are debug lines counted on /metrics, not
 * warnings; a crash or a retry that ran out still shows. Issue 10: 53 such warnings in the demo's first minute.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { createKafka } from '../../core/kafka.ts';
import { kafkaRetryReason } from '../../core/kafka-retries.ts';
import { registry } from '../../router/metrics.ts';
import { duration } from '../../cli/demo.ts';

async function retries(): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('fraudstream_kafka_retries_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
}

describe('kafkajs retries', () => {
  it('names the retry behind the messages the demo used to print', () => {
    const concurrent = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';
    expect(kafkaRetryReason('Response AddPartitionsToTxn(key: 24, version: 1)', { error: concurrent })).toEqual({ reason: 'concurrent_transactions', counted: true });
    // The retrying call repeats the broker's answer: one retry, counted once.
    expect(kafkaRetryReason(`Failed to send messages: ${concurrent}`)).toEqual({ reason: 'concurrent_transactions', counted: false });
    expect(kafkaRetryReason('Response InitProducerId(key: 22, version: 1)', { error: 'This is not the correct coordinator for this group' })?.reason).toBe('not_coordinator');
    expect(kafkaRetryReason('Response GroupCoordinator(key: 10, version: 2)', { error: 'The group coordinator is not available' })?.reason).toBe('coordinator_not_available');
    expect(kafkaRetryReason('Response InitProducerId(key: 22, version: 1)', { error: "The coordinator is loading and hence can't process requests for this group" })?.reason).toBe('coordinator_loading');
    expect(kafkaRetryReason('Response Produce(key: 0, version: 7)', { error: 'This server is not the leader for that topic-partition' })?.reason).toBe('leader_moved');
    expect(kafkaRetryReason('Response Heartbeat(key: 12, version: 3)', { error: 'The group is rebalancing, so a rejoin is needed' })?.reason).toBe('rebalance');
  });

  it('takes a consumer restarted after a coordinator that was still loading (a fresh broker) for a retry', () => {
    const crash = "Crash: KafkaJSProtocolError: The coordinator is loading and hence can't process requests for this group";
    expect(kafkaRetryReason(crash, { groupId: 'detect' })).toEqual({ reason: 'coordinator_loading', counted: true });
    expect(kafkaRetryReason('Restarting the consumer in 200ms', { groupId: 'detect' })).toEqual({ reason: 'coordinator_loading', counted: false });
    // Only the restart that follows that crash, once.
    expect(kafkaRetryReason('Restarting the consumer in 200ms', { groupId: 'detect' })).toBeUndefined();
  });

  it('leaves real problems alone: a crash, retries that ran out, anything unknown', () => {
    expect(kafkaRetryReason('Crash: KafkaJSNumberOfRetriesExceeded: The group coordinator is not available', { groupId: 'g' })).toBeUndefined();
    expect(kafkaRetryReason('Restarting the consumer in 3000ms', { groupId: 'g' })).toBeUndefined();
    expect(kafkaRetryReason('Crash: KafkaJSNonRetriableError: The group coordinator is not available', { groupId: 'g' })).toBeUndefined();
    expect(kafkaRetryReason('Response Produce(key: 0, version: 7)', { error: 'The request included a message larger than the max message size the server will accept' })).toBeUndefined();
    expect(kafkaRetryReason('Connection error: connect ECONNREFUSED 127.0.0.1:9092')).toBeUndefined();
  });

  describe('through createKafka', () => {
    let saved: string | undefined;
    beforeEach(() => {
      // Under vitest kafkajs logs nothing unless asked: ask, so entries reach the project's logCreator.
      saved = process.env.KAFKAJS_LOG_LEVEL;
      process.env.KAFKAJS_LOG_LEVEL = 'debug';
    });
    afterEach(() => {
      if (saved === undefined) delete process.env.KAFKAJS_LOG_LEVEL;
      else process.env.KAFKAJS_LOG_LEVEL = saved;
    });

    it('counts each broker answer kafkajs retries on fraudstream_kafka_retries_total{reason}', async () => {
      const before = await retries();
      const log = createKafka(loadConfig({})).logger();
      const error = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';
      log.error('Response AddPartitionsToTxn(key: 24, version: 1)', { error, correlationId: 20, size: 38 });
      log.error(`Failed to send messages: ${error}`, { retryCount: 0, retryTime: 223 });
      log.warn('Response GroupCoordinator(key: 10, version: 2)', { error: 'The group coordinator is not available' });
      log.error('Crash: KafkaJSNumberOfRetriesExceeded: The group coordinator is not available', {});
      const after = await retries();
      expect((after.concurrent_transactions ?? 0) - (before.concurrent_transactions ?? 0)).toBe(1);
      expect((after.coordinator_not_available ?? 0) - (before.coordinator_not_available ?? 0)).toBe(1);
    });
  });
});

describe('demo durations', () => {
  it('reads like a person would say it', () => {
    expect(duration(3.46)).toBe('3.5 s');
    expect(duration(61.2)).toBe('1m01s');
    expect(duration(3725)).toBe('62m05s');
  });
});
