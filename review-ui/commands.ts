import { createInterface } from 'node:readline';
import type { Command } from '../cli/command.ts';
import { numberFlag, parseFlags, untilSignal } from '../cli/command.ts';
import { loadConfig } from '../core/config.ts';
import { createRedis } from '../core/redis.ts';
import { UserInputError } from '../core/errors.ts';
import { UserStore } from './server/auth.ts';
import { startUiServer } from './server/app.ts';
import { ensureUiBuilt } from './build.ts';
import { printAndSave, runUiBench } from './bench.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new UserInputError('users add: no terminal to prompt on; pipe the password with --password-stdin');
  }
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    out._writeToOutput = (s: string) => {
      if (!asked) process.stderr.write(s);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    asked = true;
  });
}

export const commands: Command[] = [
  {
    name: 'ui',
    summary: 'serve the fraud operations console (live feed, review queue, policy, models, replay)',
    usage: '[--port N] [--host ADDR]   (defaults: UI_PORT, UI_HOST; builds the pages first when missing or stale)',
    async run(argv) {
      const { values } = parseFlags(this, argv, { port: { type: 'string' }, host: { type: 'string' } });
      const config = loadConfig();
      const port = numberFlag('port', values.port, config.ui.port, { min: 0, max: 65535, integer: true });
      await ensureUiBuilt({ onProgress: (line) => console.error(line) });
      const ui = await startUiServer({ config, port, host: values.host ?? config.ui.host });
      console.log(`review UI at ${ui.url}  (Ctrl-C to stop)`);
      await untilSignal();
      await ui.close();
    },
  },
  {
    name: 'ui build',
    summary: "build the review console's pages (vite) into review-ui/dist, unless they are up to date with their sources",
    usage: '[--force]',
    async run(argv) {
      const { values } = parseFlags(this, argv, { force: { type: 'boolean' } });
      const r = await ensureUiBuilt({ force: values.force ?? false, onProgress: (line) => console.error(line) });
      for (const w of r.warnings) console.error(`vite: ${w}`);
      if (!r.built) console.error(`review UI: up to date (${r.before.detail}) in ${r.before.distDir}`);
    },
  },
  {
    name: 'ui bench',
    summary: 'measure produce -> live-stream (SSE) latency of the live feed (isolated topics; writes bench-results/review-ui.json)',
    usage: '[--decisions N] [--clients N] [--rate PER_SECOND]',
    async run(argv) {
      const { values } = parseFlags(this, argv, { decisions: { type: 'string' }, clients: { type: 'string' }, rate: { type: 'string' } });
      const opts = {
        decisions: numberFlag('decisions', values.decisions, 5000, { min: 1, max: 1_000_000, integer: true }),
        clients: numberFlag('clients', values.clients, 5, { min: 1, max: 200, integer: true }),
        rate: numberFlag('rate', values.rate, 1000, { min: 1, max: 100_000 }),
      };
      await printAndSave(await runUiBench(loadConfig(), opts));
    },
  },
  {
    name: 'users add',
    summary: 'create (or with --replace reset) a reviewer account; the password is prompted for or read from stdin',
    usage: 'NAME [--password-stdin] [--replace]',
    async run(argv) {
      const { values, positionals } = parseFlags(this, argv, { 'password-stdin': { type: 'boolean' }, replace: { type: 'boolean' } });
      const name = positionals[0];
      if (!name || positionals.length > 1) throw new UserInputError(`users add: give exactly one NAME\nusage: fraudstream users add ${this.usage}`);
      let password: string;
      if (values['password-stdin']) password = await readStdin();
      else {
        password = await promptHidden(`password for ${name}: `);
        if ((await promptHidden('again: ')) !== password) throw new UserInputError('users add: the two passwords differ');
      }
      const config = loadConfig();
      const redis = createRedis(config, 'users');
      try {
        const created = await new UserStore(redis, config.redis.keyPrefix).add(name, password, { replace: values.replace ?? false });
        if (!created) throw new UserInputError(`users add: ${name} already exists (use --replace to reset the password)`);
        console.log(`reviewer ${name} ${values.replace ? 'saved' : 'created'}`);
      } finally {
        redis.disconnect();
      }
    },
  },
  {
    name: 'users list',
    summary: 'list reviewer accounts',
    usage: '',
    async run(argv) {
      parseFlags(this, argv, {});
      const config = loadConfig();
      const redis = createRedis(config, 'users');
      try {
        const names = await new UserStore(redis, config.redis.keyPrefix).list();
        console.log(names.length ? names.join('\n') : '(no reviewer accounts; add one with: fraudstream users add NAME)');
      } finally {
        redis.disconnect();
      }
    },
  },
];
