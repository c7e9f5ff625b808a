import { FraudstreamError, UserInputError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import { allCommands as all, findCommand as find } from './commands.ts';

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
