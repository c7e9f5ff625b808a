/** docker-compose.yml cannot run here (no Docker engine), so check what can be checked: it runs real commands. */
import { PIPELINE_STAGES } from '../../core/contracts.ts';
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
    expect(Object.keys(compose.services).sort()).toEqual(['detect', 'escalate', 'init', 'kafka', 'labels', 'ops', 'redis', 'replay', 'ui']);
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
      expect(s.environment?.KAFKA_BROKERS ?? '', name).toBe('kafka:9092');
      expect(s.environment?.REDIS_URL ?? '', name).toBe('redis://redis:6379');
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
});
