import { FraudstreamError, UserInputError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { Command } from './command.ts';
import { infraCommands } from './infra-commands.ts';
import { demoCommand } from './demo.ts';
import { commands as producerCommands } from '../producers/commands.ts';
import { commands as detectorCommands } from '../detectors/commands.ts';
import { commands as routerCommands } from '../router/commands.ts';
import { commands as uiCommands } from '../review-ui/commands.ts';

const all: Command[] = [demoCommand, ...infraCommands, ...producerCommands, ...detectorCommands, ...routerCommands, ...uiCommands];

function help(): string {
  const width = Math.max(...all.map((c) => c.name.length));
  return [
    'usage: fraudstream <command> [flags]   (npm run fraudstream -- <command> [flags])',
    '',
    ...all.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'fraudstream help <command> shows its flags.',
  ].join('\n');
}

function find(argv: string[]): { command: Command; rest: string[] } | undefined {
  // Longest match first so "kafka start" wins over a hypothetical "kafka".
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const command = all.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(words) };
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    console.log(help());
    return 0;
  }
  if (argv[0] === 'help') {
    const hit = find(argv.slice(1));
    console.log(hit ? `fraudstream ${hit.command.name} ${hit.command.usage}\n\n${hit.command.summary}` : help());
    return hit ? 0 : 2;
  }
  const hit = find(argv);
  if (!hit) {
    console.error(`unknown command: ${argv.slice(0, 2).join(' ')}\n\n${help()}`);
    return 2;
  }
  return (await hit.command.run(hit.rest)) ?? 0;
}

main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err: unknown) => {
    if (err instanceof UserInputError || (err instanceof FraudstreamError && err.code !== 'INTERNAL')) {
      console.error(`error: ${err.message}`);
      process.exitCode = 2;
    } else {
      logger('cli').error({ err }, 'failed');
      console.error(err);
      process.exitCode = 1;
    }
  });
