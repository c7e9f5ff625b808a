// First: kafkajs must find the linear grouping in the module cache when it loads (core/kafkajs-grouping.ts).
import '../core/kafkajs-grouping.ts';
import { classifyError, ErrorCodes, type FraudstreamError } from '../core/errors.ts';
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

/**
 * Exit codes: 2 = fix the command (flags, files, environment), 75 = a service is down (retry later) or refused us
 * (credentials, certificate: the message gives its reason), 1 = a bug.
 */
function exitCodeFor(err: FraudstreamError): number {
  if (err.retryable || err.code === ErrorCodes.SERVICE_REFUSED) return 75;
  return err.code === ErrorCodes.INTERNAL ? 1 : 2;
}

main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((thrown: unknown) => {
    const err = classifyError(thrown);
    // One line for people; the stack (with its cause) only at LOG_LEVEL=debug.
    const debug = process.env.LOG_LEVEL === 'debug';
    const hint = err.code === ErrorCodes.INTERNAL && !debug ? '; LOG_LEVEL=debug shows the stack' : '';
    console.error(`fraudstream: ${err.message} (${err.code}${hint})`);
    if (debug) logger('cli').error({ err: thrown }, 'failed');
    process.exitCode = exitCodeFor(err);
  });
