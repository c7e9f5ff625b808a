/**
 * The chaos suite's Redis Cluster, pure parts: where its nodes listen, and what `CLUSTER NODES` says (which node
 * serves a slot, which replica follows which master, which node is marked failed).
 */

/** Nodes of the suite's cluster: 3 masters and a replica each, on --redis-port + 1 to + 6. */
export const CHAOS_CLUSTER_NODES = 6;

/** Redis Cluster nodes also listen on port + 10000 (the cluster bus). */
export const CLUSTER_BUS_OFFSET = 10_000;

export function chaosClusterPorts(redisPort: number): number[] {
  return Array.from({ length: CHAOS_CLUSTER_NODES }, (_, i) => redisPort + 1 + i);
}

/**
 * Why the suite's Redis ports cannot be used with these broker ports (undefined: fine). The single redis-server
 * takes redisPort; with a cluster, redisPort + 1 to + 6 and their bus ports (+ 10000) too. The brokers take
 * kafkaPort to kafkaPort + 19 (one broker and its controller, a 3-broker cluster from + 10).
 */
export function redisPortProblem(kafkaPort: number, redisPort: number, cluster: boolean): string | undefined {
  const kafka: [number, number] = [kafkaPort, kafkaPort + 19];
  const clash = (p: number) => p >= kafka[0] && p <= kafka[1];
  if (clash(redisPort)) return `--redis-port ${redisPort} collides with the brokers' ports ${kafka[0]} to ${kafka[1]}`;
  if (!cluster) return undefined;
  const ports = chaosClusterPorts(redisPort);
  const bus = ports.map((p) => p + CLUSTER_BUS_OFFSET);
  if (bus.at(-1)! > 65_535) return `--redis-port ${redisPort}: the Redis Cluster's nodes listen on ${ports[0]} to ${ports.at(-1)} and their cluster bus 10000 above (up to ${bus.at(-1)}), past 65535; pick a port of at most ${65_535 - CLUSTER_BUS_OFFSET - CHAOS_CLUSTER_NODES}`;
  const hit = [...ports, ...bus].find(clash);
  if (hit !== undefined) return `--redis-port ${redisPort}: the Redis Cluster's port ${hit} (nodes ${ports[0]} to ${ports.at(-1)}, cluster bus 10000 above) collides with the brokers' ports ${kafka[0]} to ${kafka[1]}`;
  return undefined;
}

export interface ClusterNodeLine {
  id: string;
  host: string;
  port: number;
  flags: string[];
  /** The master's id, for a replica. */
  masterId?: string;
  connected: boolean;
  /** Slot ranges served, inclusive (importing/migrating entries left out). */
  slots: Array<[number, number]>;
}

/**
 * `CLUSTER NODES` into one entry per node. A line: `<id> <ip:port@cport[,hostname]> <flags> <master|-> <ping-sent>
 * <pong-recv> <config-epoch> <link-state> <slot or range>...`. Throws on a line that is not one.
 */
export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const f = line.split(/\s+/);
      const addr = /^(.*):(\d+)@\d+/.exec(f[1] ?? '');
      if (f.length < 8 || !addr) throw new Error(`not a CLUSTER NODES line: ${line.slice(0, 120)}`);
      const slots: Array<[number, number]> = [];
      for (const s of f.slice(8)) {
        if (s.startsWith('[')) continue;
        const [a, b] = s.split('-').map(Number);
        if (!Number.isInteger(a) || (b !== undefined && !Number.isInteger(b))) throw new Error(`not a slot range: ${s} in ${line.slice(0, 120)}`);
        slots.push([a!, b ?? a!]);
      }
      return {
        id: f[0]!,
        host: addr[1]!,
        port: Number(addr[2]),
        flags: f[2]!.split(','),
        ...(f[3] !== '-' ? { masterId: f[3]! } : {}),
        connected: f[7] === 'connected',
        slots,
      };
    });
}

/** A master not marked failed (fail or fail?). */
export function liveMaster(n: ClusterNodeLine): boolean {
  return n.flags.includes('master') && !n.flags.includes('fail') && !n.flags.includes('fail?');
}

/** The live master serving `slot`, if any. */
export function slotOwner(nodes: readonly ClusterNodeLine[], slot: number): ClusterNodeLine | undefined {
  return nodes.find((n) => liveMaster(n) && n.slots.some(([a, b]) => slot >= a && slot <= b));
}

/** The replicas of the master `id`. */
export function replicasOf(nodes: readonly ClusterNodeLine[], id: string): ClusterNodeLine[] {
  return nodes.filter((n) => n.masterId === id && !n.flags.includes('master'));
}
