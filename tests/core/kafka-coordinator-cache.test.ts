/**
 * core/kafka-coordinator-cache.ts with a fake cluster: an answer is used again until a coordinator or connection
 * error anywhere, its broker disconnecting, or its age; an answer that raced with a failure is not kept.
 */
import { describe, expect, it } from 'vitest';
import { cachedFindCoordinator, COORDINATOR_TTL_MS, invalidateCoordinators, makesCoordinatorsStale } from '../../core/kafka-coordinator-cache.ts';

function fakeCluster() {
  const asked: string[] = [];
  let nodeId = 1;
  const brokers = new Map<number, { nodeId: number; connected: boolean; isConnected(): boolean }>();
  const broker = (id: number) => {
    let b = brokers.get(id);
    if (!b) brokers.set(id, (b = { nodeId: id, connected: true, isConnected() { return this.connected; } }));
    return b;
  };
  let gate: Promise<void> | undefined;
  const find = async function (this: object, args: { groupId: string; coordinatorType?: number }) {
    asked.push(`${args.coordinatorType ?? 0}:${args.groupId}`);
    if (gate) await gate;
    return broker(nodeId);
  };
  return { asked, find, broker, moveTo: (id: number) => (nodeId = id), hold: (p: Promise<void> | undefined): void => {
      gate = p;
    } };
}

describe('cachedFindCoordinator', () => {
  it('asks once per coordinator type and key, then answers from the cache (per cluster object)', async () => {
    const f = fakeCluster();
    const find = cachedFindCoordinator(f.find);
    const cluster = {};
    for (let i = 0; i < 5; i++) {
      expect((await find.call(cluster, { groupId: 'txn-a', coordinatorType: 1 })) as unknown).toBe(f.broker(1));
      await find.call(cluster, { groupId: 'group-g', coordinatorType: 0 });
    }
    expect(f.asked).toEqual(['1:txn-a', '0:group-g']);
    await find.call({}, { groupId: 'txn-a', coordinatorType: 1 });
    expect(f.asked).toHaveLength(3);
  });

  it('asks again after a coordinator error anywhere, and finds the coordinator that moved', async () => {
    const f = fakeCluster();
    const find = cachedFindCoordinator(f.find);
    const cluster = {};
    await find.call(cluster, { groupId: 't', coordinatorType: 1 });
    f.moveTo(2);
    expect(((await find.call(cluster, { groupId: 't', coordinatorType: 1 })) as unknown as { nodeId: number }).nodeId).toBe(1);
    invalidateCoordinators();
    expect(((await find.call(cluster, { groupId: 't', coordinatorType: 1 })) as unknown as { nodeId: number }).nodeId).toBe(2);
    expect(f.asked).toHaveLength(2);
  });

  it('asks again when the cached broker is disconnected, and when the answer is older than the TTL', async () => {
    const f = fakeCluster();
    let t = 0;
    const find = cachedFindCoordinator(f.find, () => t);
    const cluster = {};
    await find.call(cluster, { groupId: 't' });
    f.broker(1).connected = false;
    await find.call(cluster, { groupId: 't' });
    expect(f.asked).toHaveLength(2);
    f.broker(1).connected = true;
    await find.call(cluster, { groupId: 't' });
    t += COORDINATOR_TTL_MS - 1;
    await find.call(cluster, { groupId: 't' });
    expect(f.asked).toHaveLength(2);
    t += 1;
    await find.call(cluster, { groupId: 't' });
    expect(f.asked).toHaveLength(3);
  });

  it('an answer that was in flight when a failure came is used once and not kept', async () => {
    const f = fakeCluster();
    const find = cachedFindCoordinator(f.find);
    const cluster = {};
    let release!: () => void;
    f.hold(new Promise<void>((r) => (release = r)));
    const pending = find.call(cluster, { groupId: 't' });
    invalidateCoordinators();
    release();
    await pending;
    f.hold(undefined);
    await find.call(cluster, { groupId: 't' });
    expect(f.asked).toHaveLength(2);
  });

  it('knows which failures make coordinators stale', () => {
    expect(makesCoordinatorsStale({ type: 'NOT_COORDINATOR' })).toBe(true);
    expect(makesCoordinatorsStale({ type: 'COORDINATOR_NOT_AVAILABLE' })).toBe(true);
    expect(makesCoordinatorsStale({ type: 'COORDINATOR_LOAD_IN_PROGRESS' })).toBe(true);
    expect(makesCoordinatorsStale({ name: 'KafkaJSConnectionClosedError' })).toBe(true);
    expect(makesCoordinatorsStale({ name: 'KafkaJSRequestTimeoutError' })).toBe(true);
    expect(makesCoordinatorsStale({ code: 'ECONNREFUSED' })).toBe(true);
    expect(makesCoordinatorsStale({ type: 'CONCURRENT_TRANSACTIONS' })).toBe(false);
    expect(makesCoordinatorsStale({ type: 'INVALID_PRODUCER_EPOCH' })).toBe(false);
    expect(makesCoordinatorsStale(null)).toBe(false);
  });
});
