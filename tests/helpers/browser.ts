/**
 * The review console in a real browser for integration tests: playwright-core driving the system chromium
 * (CHROMIUM_PATH, default /usr/bin/chromium) with a fresh profile per run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { ensureUiBuilt as buildUi } from '../../review-ui/build.ts';
import { dropTestKeys } from './services.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Builds review-ui/dist when it is missing or stale, so the server has current pages to serve. */
export async function ensureUiBuilt(): Promise<void> {
  await buildUi({ onProgress: (line) => console.error(line) });
}

export interface ConsoleOptions {
  /** The UI server's base URL. */
  url: string;
  /** Log in through the login page before returning; without it the page is left blank. */
  login?: { user: string; password: string; /** A selector to wait for once logged in. */ waitFor?: string };
  viewport?: { width: number; height: number };
}

export interface ConsoleSession {
  context: BrowserContext;
  page: Page;
  /** Messages of alerts and prompts (confirms are accepted): any entry means injected markup ran. */
  dialogs: string[];
  /** Console messages reporting a Content Security Policy violation. */
  cspViolations: string[];
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

export async function openConsole(opts: ConsoleOptions): Promise<ConsoleSession> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'fraudstream-chromium-'));
  const removeProfile = () => rmSync(userDataDir, { recursive: true, force: true });
  let context: BrowserContext;
  try {
    // launchPersistentContext is how playwright takes a user-data-dir.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: opts.viewport ?? { width: 1400, height: 900 },
      args: ARGS,
    });
  } catch (err) {
    removeProfile();
    throw err;
  }
  const close = async () => {
    await context.close();
    removeProfile();
  };
  const dialogs: string[] = [];
  const cspViolations: string[] = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (d) => {
      // The rollback and promote buttons ask for confirmation; anything else (an alert from injected markup) is a failure.
      if (d.type() === 'confirm') {
        void d.accept();
        return;
      }
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    if (opts.login) {
      await page.goto(`${opts.url}/login`);
      await page.fill('#username', opts.login.user);
      await page.fill('#password', opts.login.password);
      await page.click('#submit');
      await page.waitForURL(`${opts.url}/`);
      if (opts.login.waitFor) await page.waitForSelector(opts.login.waitFor);
    }
    return { context, page, dialogs, cspViolations, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The end of a console test: the browser, the server, the test's Redis keys and connection, and the model folder
 * it wrote (each only if the setup got that far).
 */
export async function closeConsoleTest(t: { browser?: ConsoleSession; ui?: { close(): Promise<void> }; redis?: Redis; config?: Config; modelDir?: string }): Promise<void> {
  await t.browser?.close();
  await t.ui?.close();
  if (t.redis) {
    if (t.config) await dropTestKeys(t.redis, t.config);
    t.redis.disconnect();
  }
  if (t.modelDir) rmSync(t.modelDir, { recursive: true, force: true });
}
