import { describe, expect, it } from 'vitest';
import { chaosClusterPorts, parseClusterNodes, redisPortProblem, replicasOf, slotOwner } from '../../../infra/chaos/pure/redis-cluster.ts';

// CLUSTER NODES of a 3-master cluster with a replica each (the layout of Redis' own documentation; 7.x adds ",hostname").
const BEFORE = `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004,host4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16382 16383 [93->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@40005 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30006@40006 slave 292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 0 1426238317741 6 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
`;

// The same cluster after 30001 was killed: marked failed, slots gone to its replica 30004.
const AFTER = `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004 myself,master - 0 0 7 connected 0-5460
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 master,fail - 1426238316232 1426238316000 1 disconnected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
`;

describe('parseClusterNodes', () => {
  it('reads id, address, flags, master and slot ranges, leaving out migrating entries', () => {
    const nodes = parseClusterNodes(BEFORE);
    expect(nodes).toHaveLength(6);
    expect(nodes[0]).toEqual({ id: '07c37dfeb235213a872192d90877d0cd55635b91', host: '127.0.0.1', port: 30004, flags: ['slave'], masterId: 'e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca', connected: true, slots: [] });
    expect(nodes[2]!.slots).toEqual([[10923, 16382], [16383, 16383]]);
    expect(nodes[5]!.flags).toEqual(['myself', 'master']);
    expect(nodes[5]!.masterId).toBeUndefined();
    expect(parseClusterNodes(AFTER)[1]).toMatchObject({ port: 30001, flags: ['master', 'fail'], connected: false, slots: [] });
  });

  it('refuses text that is not CLUSTER NODES', () => {
    expect(() => parseClusterNodes('ERR This instance has cluster support disabled')).toThrow(/not a CLUSTER NODES line/);
    expect(() => parseClusterNodes('a 127.0.0.1:1@2 master - 0 0 1 connected x-y')).toThrow(/not a slot range/);
  });
});

describe('slotOwner and replicasOf', () => {
  it('finds the live master of a slot and its replica, and the replica once promoted', () => {
    const before = parseClusterNodes(BEFORE);
    expect(slotOwner(before, 0)?.port).toBe(30001);
    expect(slotOwner(before, 5461)?.port).toBe(30002);
    expect(slotOwner(before, 16383)?.port).toBe(30003);
    expect(replicasOf(before, slotOwner(before, 100)!.id).map((n) => n.port)).toEqual([30004]);
    const after = parseClusterNodes(AFTER);
    expect(slotOwner(after, 100)?.port).toBe(30004);
    expect(replicasOf(after, '67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1')).toEqual([]);
  });

  it('a failed master serves nothing, even with slots still listed', () => {
    const nodes = parseClusterNodes('e7d1 127.0.0.1:30001@40001 master,fail? - 0 0 1 connected 0-16383');
    expect(slotOwner(nodes, 5)).toBeUndefined();
  });
});

describe('redisPortProblem', () => {
  it('places the cluster on --redis-port + 1 to + 6', () => {
    expect(chaosClusterPorts(47_679)).toEqual([47_680, 47_681, 47_682, 47_683, 47_684, 47_685]);
  });

  it('accepts ports apart from the brokers, and refuses the single server among them', () => {
    expect(redisPortProblem(47_592, 47_679, true)).toBeUndefined();
    expect(redisPortProblem(39_092, 36_379, false)).toBeUndefined();
    expect(redisPortProblem(39_092, 39_100, false)).toMatch(/collides with the brokers' ports 39092 to 39111/);
  });

  it('checks the cluster nodes and their bus ports only when a cluster runs', () => {
    expect(redisPortProblem(39_098, 39_092, false)).toBeUndefined();
    expect(redisPortProblem(39_098, 39_092, true)).toMatch(/port 39098/);
    // bus ports 10000 above the nodes: 29092 + 1..6 + 10000 = 39093..39098
    expect(redisPortProblem(39_095, 29_092, true)).toMatch(/port 39095/);
    expect(redisPortProblem(39_092, 60_000, true)).toMatch(/past 65535/);
    expect(redisPortProblem(39_092, 60_000, false)).toBeUndefined();
  });
});
