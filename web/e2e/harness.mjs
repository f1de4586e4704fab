// What the browser suites share: the real chatr binary on a free port, the
// system's Chromium (playwright cannot download browsers here), and the
// sign-up form a new person fills in.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Where cargo put it (CARGO_TARGET_DIR moves every build).
export const BIN = process.env.CHATR_BIN ?? path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target', 'debug/chatr');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const T = 10000;

/** Starts chatr on `dataDir`; resolves `{ url, stop }`. Every browser here
 * comes from 127.0.0.1, which the registration throttle counts as one
 * person: rate limits are off. */
export async function startChatr(dataDir) {
  const server = spawn(BIN, [], {
    env: { ...process.env, PORT: '0', CHATR_DATA_DIR: dataDir, RUST_LOG: 'warn', CHATR_RATE_LIMITS: 'off' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => { out += d; const m = /listening on (\S+)/.exec(out); if (m) resolve(m[1]); });
    server.on('exit', (c) => reject(new Error(`chatr exited ${c}`)));
  });
  return {
    url,
    async stop() {
      if (server.exitCode !== null) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    },
  };
}

export function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** Fills in the sign-up form on `page` (at `url`) and waits for the chat. */
export async function createAccount(page, url, name) {
  await page.goto(url);
  await page.getByRole('button', { name: 'New here? Create an account' }).click();
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Email').fill(`${name}@example.com`);
  await page.getByLabel('Password').fill('Secret123!');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: T });
}
