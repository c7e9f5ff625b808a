import { createInterface } from 'node:readline';
import type { Command } from '../core/command.ts';
import { numberFlag, parseFlags, untilSignal } from '../core/command.ts';
import { loadConfig } from '../core/config.ts';
import { userInfo } from 'node:os';
import { createRedis } from '../core/redis.ts';
import { createKafka, ensureTopics } from '../core/kafka.ts';
import { kafkaChangelog } from '../core/changelog.ts';
import { UserInputError } from '../core/errors.ts';
import { RoleSchema, UserStore } from './server/auth.ts';
import { openAuditLog, type AuditInput } from '../state/audit.ts';
import { startUiServer } from './server/app.ts';
import { ensureUiBuilt } from './build.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new UserInputError('users: no terminal to prompt on; pipe the password with --password-stdin');
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

function oneName(command: Pick<Command, 'name' | 'usage'>, positionals: string[]): string {
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new UserInputError(`${command.name}: give exactly one NAME\nusage: fraudstream ${command.name} ${command.usage}`);
  return name;
}

async function readPassword(command: string, name: string, fromStdin: boolean): Promise<string> {
  if (fromStdin) return readStdin();
  const password = await promptHidden(`password for ${name}: `);
  if ((await promptHidden('again: ')) !== password) throw new UserInputError(`${command}: the two passwords differ`);
  return password;
}

const cliUser = () => `cli:${userInfo().username}`;

/**
 * The account store as the console has it: changes recorded on the accounts topic (issue 18) and audited on the
 * audit topic, signed with the same key. Accounts Redis lost are restored from the topic first.
 */
async function withUsers(work: (users: UserStore, audit: (entry: Omit<AuditInput, 'who'>) => Promise<void>) => Promise<void>): Promise<void> {
  const config = loadConfig();
  const redis = createRedis(config, 'users');
  const kafka = createKafka(config, '-users');
  const ensure = () => ensureTopics(config);
  const record = kafkaChangelog(kafka, config.topics.accounts, { ensure });
  const log = openAuditLog(config, redis, kafka, { ensure });
  try {
    const users = new UserStore(redis, config.redis.keyPrefix, record);
    await users.restore();
    await work(users, async (entry) => {
      const e = await log.audit.record({ who: cliUser(), ...entry });
      if (e.seq === undefined) console.error('audit: Kafka did not take the entry yet; it waits in Redis and the console sends it');
    });
  } finally {
    await log.close();
    await record.close();
    redis.disconnect();
  }
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
    name: 'users add',
    summary: 'create (or with --replace reset) a reviewer account with its role; the password is prompted for or read from stdin',
    usage: 'NAME --role analyst|admin [--password-stdin] [--replace]',
    async run(argv) {
      const { values, positionals } = parseFlags(this, argv, { role: { type: 'string' }, 'password-stdin': { type: 'boolean' }, replace: { type: 'boolean' } });
      const name = oneName(this, positionals);
      const role = RoleSchema.safeParse(values.role);
      if (!role.success) throw new UserInputError(`users add: --role must be analyst or admin${values.role === undefined ? '' : `, got ${JSON.stringify(values.role)}`}\nusage: fraudstream users add ${this.usage}`);
      const password = await readPassword(this.name, name, values['password-stdin'] ?? false);
      await withUsers(async (users, audit) => {
        const before = await users.get(name);
        const created = await users.add(name, password, { replace: values.replace ?? false, role: role.data });
        if (!created) throw new UserInputError(`users add: ${name} already exists (use --replace to reset its password and role)`);
        await audit({ action: values.replace && before ? 'users.replace' : 'users.add', target: `user:${name}`, before: before ? { role: before.role } : null, after: { role: role.data } });
        console.log(`${role.data} ${name} ${values.replace ? 'saved (its sessions ended)' : 'created'}`);
      });
    },
  },
  {
    name: 'users passwd',
    summary: "change a reviewer's password; every session of that account ends",
    usage: 'NAME [--password-stdin]',
    async run(argv) {
      const { values, positionals } = parseFlags(this, argv, { 'password-stdin': { type: 'boolean' } });
      const name = oneName(this, positionals);
      const password = await readPassword(this.name, name, values['password-stdin'] ?? false);
      await withUsers(async (users, audit) => {
        if (!(await users.passwd(name, password))) throw new UserInputError(`users passwd: no account ${name} (see: fraudstream users list)`);
        await audit({ action: 'users.passwd', target: `user:${name}` });
        console.log(`password of ${name} changed; its sessions ended`);
      });
    },
  },
  {
    name: 'users remove',
    summary: 'delete a reviewer account; its sessions end at once',
    usage: 'NAME',
    async run(argv) {
      const { positionals } = parseFlags(this, argv, {});
      const name = oneName(this, positionals);
      await withUsers(async (users, audit) => {
        const before = await users.get(name);
        if (!(await users.remove(name))) throw new UserInputError(`users remove: no account ${name} (see: fraudstream users list)`);
        await audit({ action: 'users.remove', target: `user:${name}`, before: before ? { role: before.role } : null });
        console.log(`${name} removed; its sessions ended`);
      });
    },
  },
  {
    name: 'users list',
    summary: 'list reviewer accounts and their roles',
    usage: '',
    async run(argv) {
      parseFlags(this, argv, {});
      await withUsers(async (users) => {
        const list = await users.listUsers();
        if (!list.length) console.log('(no reviewer accounts; add one with: fraudstream users add NAME --role admin)');
        else console.table(list.map((u) => ({ name: u.name, role: u.role, created: new Date(u.createdAt).toISOString() })));
      });
    },
  },
  {
    name: 'audit verify',
    summary: 'read the audit topic end to end and check the chain: every HMAC (AUDIT_HMAC_KEY), every link, and that it still starts at seq 1',
    usage: '',
    async run(argv) {
      parseFlags(this, argv, {});
      const config = loadConfig();
      const redis = createRedis(config, 'audit');
      const log = openAuditLog(config, redis, createKafka(config, '-audit'), { ensure: () => ensureTopics(config) });
      try {
        const v = await log.audit.verify();
        const span = v.firstSeq === null ? 'the topic holds no entry' : `seq ${v.firstSeq} to ${v.lastSeq}`;
        const verdict = v.ok ? 'intact' : v.truncated && v.problems.length === 1 ? 'TRUNCATED' : 'BROKEN';
        console.log(`${verdict}: ${v.checked} entries read from ${config.topics.audit} (${span})`);
        for (const p of v.problems.slice(0, 50)) console.log(`  ${p}`);
        if (v.problems.length > 50) console.log(`  ... and ${v.problems.length - 50} more`);
        const pending = await log.audit.pending();
        if (pending > 0) console.log(`  (${pending} recorded actions still wait in Redis for Kafka: not in the record yet)`);
        return v.ok ? 0 : 1;
      } finally {
        await log.close();
        redis.disconnect();
      }
    },
  },
];
