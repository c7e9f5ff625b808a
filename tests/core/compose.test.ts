/** docker-compose.yml cannot run here (no Docker engine), so check what can be checked: it runs real commands. */
import { PIPELINE_STAGES } from '../../core/contracts.ts';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findCommand } from '../../cli/commands.ts';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> };

describe('docker-compose.yml', () => {
  it('runs Kafka (KRaft), Redis and every stage', () => {
    const always = Object.entries(compose.services).filter(([, x]) => !(x as { profiles?: string[] }).profiles).map(([n]) => n);
    expect(always.sort()).toEqual(['detect', 'escalate', 'init', 'kafka', 'labels', 'ops', 'redis', 'replay', 'ui']);
    // one service per registered stage, running that stage's command
    for (const s of PIPELINE_STAGES) expect(compose.services[s]?.command, s).toEqual([s]);
    expect(compose.services.kafka?.environment?.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(compose.services.kafka?.environment?.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
  });

  it('runs Redis with an append-only file fsynced every second, on a volume', () => {
    const cmd = compose.services.redis?.command ?? [];
    const flag = (name: string) => cmd[cmd.indexOf(name) + 1];
    expect(flag('--appendonly')).toBe('yes');
    expect(flag('--appendfsync')).toBe('everysec');
    // bounded memory (issue 19): only keys with a TTL may be evicted, the limit from REDIS_MAXMEMORY as the config's default
    expect(flag('--maxmemory-policy')).toBe('volatile-lru');
    expect(flag('--maxmemory')).toBe('${REDIS_MAXMEMORY:-1gb}');
    expect(flag('--cluster-enabled')).toBe('${REDIS_CLUSTER_ENABLED:-no}');
    expect((compose.services.redis as { volumes?: string[] }).volumes).toEqual(['redis-data:/data']);
  });

  it('starts each app service with a real fraudstream subcommand and valid flags', () => {
    const apps = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
    expect(apps.length).toBeGreaterThanOrEqual(5);
    for (const [name, s] of apps) {
      const argvs = s.command
        ? [s.command]
        : (s.entrypoint?.at(-1) ?? '').split(/&&|\|\|/).map((part) => part.replace(/[()]/g, '').trim()).filter((p) => p.includes('bin/fraudstream.js')).map((p) => p.split(/\s+/).slice(2));
      expect(argvs.length, name).toBeGreaterThan(0);
      for (const argv of argvs) {
        const hit = findCommand(argv);
        expect(hit, `${name}: ${argv.join(' ')}`).toBeDefined();
        const flags = hit!.rest.filter((a) => a.startsWith('--'));
        for (const f of flags) expect(hit!.command.usage, `${name}: ${f}`).toContain(f);
      }
    }
  });

  it('points every app service at the compose Kafka and Redis', () => {
    const apps = Object.entries(compose.services).filter(([, x]) => x.build !== undefined);
    expect(apps.length).toBeGreaterThanOrEqual(5);
    for (const [name, s] of apps) {
      // compose/cluster.env sets the cluster's lists; without it, the single broker and Redis
      expect(s.environment?.KAFKA_BROKERS ?? '', name).toBe('${KAFKA_BROKERS:-kafka:9092}');
      expect(s.environment?.REDIS_URL ?? '', name).toBe('redis://redis:6379');
      expect(s.environment?.REDIS_CLUSTER_NODES ?? '', name).toBe('${REDIS_CLUSTER_NODES:-}');
    }
  });

  it('publishes the UI on loopback only unless UI_PUBLISH says otherwise, and builds in no password', () => {
    const raw = readFileSync('docker-compose.yml', 'utf8');
    const ui = compose.services.ui!;
    expect(ui.ports).toEqual(['${UI_PUBLISH:-127.0.0.1}:8080:8080']);
    for (const [name, s] of Object.entries(compose.services)) {
      for (const p of s.ports ?? []) expect(p, name).toMatch(/^\$\{UI_PUBLISH:-127\.0\.0\.1\}:|^127\.0\.0\.1:/);
    }
    // A seed may come from the caller's environment, never from a default written here.
    expect(ui.environment?.REVIEWER_SEED).toBe('${REVIEWER_SEED:-}');
    expect(raw).not.toMatch(/REVIEWER_SEED:-[^}]/);
    expect(raw).not.toMatch(/SESSION_SECRET:\s*\S/);
    expect(ui.environment?.TRUST_PROXY).toBe('${TRUST_PROXY:-off}');
  });

  // Resolved by an outside tool (issue 19 item 5): docker-compose (Debian's, .ci/run installs it) or `docker compose`.
  const tool = composeTool();
  it.skipIf(!tool)(`resolves, with ${tool?.join(' ') ?? 'docker-compose (not installed: skipped)'} config, to one broker and one Redis, or with the cluster profile to three brokers and a Redis Cluster`, () => {
    const single = resolved([]);
    const cluster = resolved(['--env-file', 'compose/cluster.env', '--profile', 'cluster']);
    const apps = (c: Resolved) => Object.entries(c.services).filter(([, x]) => x.image === 'fraudstream:local');

    // default: a single voter, Redis not in cluster mode, no cluster nodes for the apps
    expect(single.services.kafka!.environment!.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe('1@kafka:9093');
    expect(single.services.redis!.command).toContain('no');
    for (const [name, s] of apps(single)) {
      expect(s.environment?.KAFKA_BROKERS, name).toBe('kafka:9092');
      expect(s.environment?.REDIS_CLUSTER_NODES ?? '', name).toBe('');
    }

    // cluster: three nodes of one KRaft quorum, each advertising itself, internal topics replicated 3 / 2
    const brokers = ['kafka', 'kafka-2', 'kafka-3'].map((n) => cluster.services[n]!.environment!);
    expect(brokers.map((e) => String(e.KAFKA_NODE_ID))).toEqual(['1', '2', '3']);
    expect(new Set(brokers.map((e) => e.KAFKA_CONTROLLER_QUORUM_VOTERS))).toEqual(new Set(['1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093']));
    expect(new Set(brokers.map((e) => e.CLUSTER_ID)).size).toBe(1);
    expect(brokers.map((e) => e.KAFKA_ADVERTISED_LISTENERS)).toEqual(['PLAINTEXT://kafka:9092', 'PLAINTEXT://kafka-2:9092', 'PLAINTEXT://kafka-3:9092']);
    for (const e of brokers) {
      expect(String(e.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR)).toBe('3');
      expect(String(e.KAFKA_TRANSACTION_STATE_LOG_MIN_ISR)).toBe('2');
    }
    // six redis nodes in cluster mode, each on its own volume, formed by redis-cluster-init as 3 masters + 3 replicas
    const nodes = ['redis', 'redis-2', 'redis-3', 'redis-4', 'redis-5', 'redis-6'];
    for (const n of nodes) {
      const cmd = cluster.services[n]!.command as string[];
      expect(cmd[cmd.indexOf('--cluster-enabled') + 1], n).toBe('yes');
    }
    expect(new Set(nodes.map((n) => String(cluster.services[n]!.volumes?.[0] ?? '')).map((v) => v.split(':')[0])).size).toBe(6);
    const init = (cluster.services['redis-cluster-init']!.entrypoint as string[]).join(' ');
    expect(init).toContain('--cluster-replicas 1');
    for (const n of nodes) expect(init).toContain(` ${n}`);
    // every app service talks to all three brokers and to the cluster; init waits for the three before creating topics
    for (const [name, s] of apps(cluster)) {
      expect(s.environment?.KAFKA_BROKERS, name).toBe('kafka:9092,kafka-2:9092,kafka-3:9092');
      for (const node of String(s.environment?.REDIS_CLUSTER_NODES).split(',')) expect(nodes, name).toContain(node.split(':')[0]);
    }
    expect((cluster.services.init!.entrypoint as string[]).join(' ')).toContain('topics create --brokers 3');
  });
});

interface Resolved {
  services: Record<string, { image?: string; environment?: Record<string, string | number>; command?: string[] | string; entrypoint?: string[] | string; volumes?: Array<string | { source?: string; target?: string }> }>;
}

function composeTool(): string[] | undefined {
  for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8' });
    if (r.status === 0) return cmd;
  }
  return undefined;
}

function resolved(args: string[]): Resolved {
  const [bin, ...pre] = composeTool()!;
  // A clean environment: the caller's KAFKA_BROKERS or REDIS_* must not leak into the substitution.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KAFKA|REDIS|COMPOSE)_/.test(k)));
  const r = spawnSync(bin!, [...pre, ...args, 'config'], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${[bin, ...pre, ...args, 'config'].join(' ')} failed: ${r.stderr}`);
  const out = parse(r.stdout) as Resolved;
  // Volumes print as "name:/data" (v1) or {source, target} (v2): one spelling for the checks.
  for (const s of Object.values(out.services)) s.volumes = s.volumes?.map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
  return out;
}
