/** Flag parsers shared by the producer commands; each error names the flag and what to fix. */
import { UserInputError } from '../core/errors.ts';
import { isScenarioName, SCENARIO_NAMES, type ScenarioName } from './world/index.ts';

export function scenarioList(flag: string, raw: string | undefined): ScenarioName[] | undefined {
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      if (!isScenarioName(s)) throw new UserInputError(`--${flag}: unknown scenario "${s}"; one of ${SCENARIO_NAMES.join(', ')}`);
      return s;
    });
}

export function scenarioRates(flag: string, raw: string | undefined): Partial<Record<ScenarioName, number>> {
  const out: Partial<Record<ScenarioName, number>> = {};
  if (raw === undefined) return out;
  for (const pair of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = pair.split('=');
    if (!name || value === undefined) throw new UserInputError(`--${flag}: expected scenario=rate pairs, e.g. --${flag} card_testing=0.004,bust_out=0.001; got "${pair}"`);
    if (!isScenarioName(name)) throw new UserInputError(`--${flag}: unknown scenario "${name}"; one of ${SCENARIO_NAMES.join(', ')}`);
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 0.5) throw new UserInputError(`--${flag}: rate for ${name} must be a share between 0 and 0.5 (e.g. 0.002), got "${value}"`);
    out[name] = n;
  }
  return out;
}

export function requiredFlag(flag: string, raw: string | undefined, example: string): string {
  if (raw === undefined || raw.trim() === '') throw new UserInputError(`--${flag} is required, e.g. ${example}`);
  return raw;
}

export function choiceFlag<T extends string>(flag: string, raw: string | undefined, choices: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw new UserInputError(`--${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}
