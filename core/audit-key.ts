/**
 * The key the audit chain's HMAC is made with (issue 18). AUDIT_HMAC_KEY when set. When it is not, a key is
 * generated once, kept in `<DATA_DIR>/audit-hmac.key` (mode 0600) and used by every process on this machine that
 * shares DATA_DIR, with a warning: fine for a laptop and the demo, not for a deployment, where whoever can read the
 * machine's cache can re-sign an edited chain, and processes on other machines would sign with other keys.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.ts';
import { logger } from './logger.ts';

export const DEV_KEY_FILE = 'audit-hmac.key';

export interface AuditKey {
  key: Buffer;
  /** 'env' (AUDIT_HMAC_KEY) or the file the generated key is kept in. */
  source: string;
}

const warned = new Set<string>();

export function auditHmacKey(config: Pick<Config, 'dataDir'> & { ui: Pick<Config['ui'], 'auditHmacKey'> }): AuditKey {
  if (config.ui.auditHmacKey !== undefined) return { key: Buffer.from(config.ui.auditHmacKey, 'utf8'), source: 'env' };
  const file = join(config.dataDir, DEV_KEY_FILE);
  let key: string | undefined;
  try {
    key = readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(config.dataDir, { recursive: true });
    try {
      // wx: of two processes starting at once, one writes the key and the other reads it.
      writeFileSync(file, randomBytes(48).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    key = readFileSync(file, 'utf8').trim();
  }
  if (key.length < 32) throw new Error(`${file}: the generated audit key is shorter than 32 characters (edited?); delete the file or set AUDIT_HMAC_KEY`);
  if (!warned.has(file)) {
    warned.add(file);
    logger('audit').warn({ file }, `AUDIT_HMAC_KEY is not set: the audit chain is signed with a key generated in ${file}; set AUDIT_HMAC_KEY (32+ characters, the same in every process) for a deployment`);
  }
  return { key: Buffer.from(key, 'utf8'), source: file };
}
