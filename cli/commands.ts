import type { Command } from '../core/command.ts';
import { infraCommands } from './infra-commands.ts';
import { demoCommand } from './demo.ts';
import { commands as producerCommands } from '../producers/commands.ts';
import { commands as detectorCommands } from '../detectors/commands.ts';
import { commands as routerCommands } from '../router/commands.ts';
import { commands as uiCommands } from '../review-ui/commands.ts';
import { commands as policyCommands } from '../review-ui/policy-commands.ts';
import { commands as shadowCommands } from '../review-ui/shadow-commands.ts';
import { commands as chaosCommands } from '../infra/chaos/commands.ts';
import { scoreCommand } from '../router/score-command.ts';
import { commands as benchCommands } from '../bench/commands.ts';

/** Every subcommand of `fraudstream`; each part of the tree owns its own list. */
export const allCommands: Command[] = [demoCommand, ...infraCommands, ...producerCommands, ...detectorCommands, ...routerCommands, scoreCommand, ...uiCommands, ...policyCommands, ...shadowCommands, ...chaosCommands, ...benchCommands];

/** The command named by the first one or two words of argv (longest match first). */
export function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const command = allCommands.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(words) };
  }
  return undefined;
}
