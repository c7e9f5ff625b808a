/** The stage registry (router/stages.ts) is the one place a stage is declared: config, CLI and health follow it. */
import { describe, expect, it } from 'vitest';
import { PIPELINE_STAGES } from '../../core/contracts.ts';
import { configEnv, groupEnvName, isolatedConfig, loadConfig } from '../../core/config.ts';
import { STAGES, stageList } from '../../router/stages.ts';
import { commands } from '../../router/commands.ts';

const config = loadConfig({});

describe('stage registry', () => {
  it('registers every pipeline stage once, under its own name, in flow order', () => {
    expect(Object.keys(STAGES).sort()).toEqual([...PIPELINE_STAGES].sort());
    expect(stageList().map((s) => s.name)).toEqual([...PIPELINE_STAGES]);
    for (const [key, spec] of Object.entries(STAGES)) expect(spec.name).toBe(key);
  });

  it.each([['default', config], ['isolated', isolatedConfig(config, 'x')]])('gives every stage its own consumer group and input topic (%s config)', (_, c) => {
    const groups = stageList().map((s) => s.group(c));
    const inputs = stageList().map((s) => c.topics[s.input]);
    expect(new Set(groups).size).toBe(groups.length);
    expect(new Set(inputs).size).toBe(inputs.length);
  });

  it('a stage reads no topic it writes, and every stage reads an outside input or what an earlier one writes', () => {
    const list = stageList();
    list.forEach((s, i) => {
      expect(s.outputs).not.toContain(s.input);
      expect(s.outputs).toContain('dlq');
      // transactions come from card processors, labels from chargebacks and analysts: nobody in the pipeline writes them
      if (s.input !== 'transactions' && s.input !== 'labels') expect(list.slice(0, i).some((earlier) => earlier.outputs.includes(s.input))).toBe(true);
      else expect(list.some((other) => other.outputs.includes(s.input))).toBe(false);
    });
  });

  it('reads each stage group from GROUP_<NAME> and hands it on to child processes', () => {
    const env = Object.fromEntries(PIPELINE_STAGES.map((s) => [groupEnvName(s), `g-${s}`]));
    const c = loadConfig(env);
    for (const s of stageList()) expect(s.group(c)).toBe(`g-${s.name}`);
    const child = configEnv(c);
    for (const s of PIPELINE_STAGES) expect(child[groupEnvName(s)]).toBe(`g-${s}`);
  });

  it('the CLI has one command per registered stage and one that runs them all', () => {
    const names = commands.map((c) => c.name);
    for (const s of stageList()) {
      expect(names).toContain(s.name);
      expect(commands.find((c) => c.name === s.name)?.summary).toBe(s.summary);
    }
    expect(commands.find((c) => c.name === 'stages')?.summary).toBe(`run ${PIPELINE_STAGES.join(' and ')} in one process`);
  });
});
