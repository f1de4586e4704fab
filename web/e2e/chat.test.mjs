// The web client end to end: the real chatr binary (with the client embedded),
// two users in two headless Chromium contexts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.CHATR_BIN ?? path.join(ROOT, 'target/debug/chatr');
const SHOTS = path.join(ROOT, 'docs/screenshots');
const T = 10000;

let server;
let url;
let browser;

before(async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatr-e2e-'));
  server = spawn(BIN, [], { env: { ...process.env, PORT: '0', CHATR_DATA_DIR: dataDir, RUST_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => { out += d; const m = /listening on (\S+)/.exec(out); if (m) resolve(m[1]); });
    server.on('exit', (c) => reject(new Error(`chatr exited ${c}`)));
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
  fs.mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

async function signUp(name) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.getByRole('button', { name: 'New here? Create an account' }).click();
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Email').fill(`${name}@example.com`);
  await page.getByLabel('Password').fill('Secret123!');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: T });
  return { context, page };
}

test('two people chat: message, ticks delivered → read, typing, presence, reload', async () => {
  const suffix = Date.now().toString(36).slice(-5);
  const alice = await signUp(`alice_${suffix}`);
  const bob = await signUp(`bob_${suffix}`);

  // Alice finds Bob and writes.
  await alice.page.getByLabel('Find people').fill(`bob_${suffix}`);
  await alice.page.getByRole('button', { name: `bob_${suffix}` }).click();
  await alice.page.getByRole('textbox', { name: 'Message' }).fill('Hello Bob!');
  await alice.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  const aliceBubble = alice.page.locator('.bubble.mine', { hasText: 'Hello Bob!' });
  await aliceBubble.waitFor({ timeout: T });
  // Bob is online with the page open: delivered.
  await aliceBubble.locator('.ticks[data-status="delivered"]').waitFor({ timeout: T });

  // Bob sees the conversation with an unread badge, opens it: read.
  const row = bob.page.getByRole('button', { name: new RegExp(`alice_${suffix}`) });
  await row.waitFor({ timeout: T });
  await bob.page.getByLabel('1 unread').waitFor({ timeout: T });
  await bob.page.screenshot({ path: path.join(SHOTS, 'conversation-list.png') });
  await row.click();
  await bob.page.locator('.bubble.theirs', { hasText: 'Hello Bob!' }).waitFor({ timeout: T });
  await aliceBubble.locator('.ticks[data-status="read"]').waitFor({ timeout: T });
  assert.equal(await aliceBubble.locator('.ticks').getAttribute('aria-label'), 'read');

  // Presence and typing.
  await alice.page.getByTestId('presence').filter({ hasText: 'online' }).waitFor({ timeout: T });
  await bob.page.getByRole('textbox', { name: 'Message' }).pressSequentially('Hi Al', { delay: 30 });
  await alice.page.getByTestId('presence').filter({ hasText: 'typing…' }).waitFor({ timeout: T });
  await bob.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await alice.page.locator('.bubble.theirs', { hasText: 'Hi Al' }).waitFor({ timeout: T });
  await alice.page.getByTestId('presence').filter({ hasText: 'online' }).waitFor({ timeout: T });
  await alice.page.screenshot({ path: path.join(SHOTS, 'chat-ticks.png') });

  // Bob leaves: Alice sees "last seen".
  await bob.context.close();
  await alice.page.getByTestId('presence').filter({ hasText: /last seen today at \d\d:\d\d/ }).waitFor({ timeout: T });

  // A reload keeps the session and the history, without duplicates.
  await alice.page.reload();
  await alice.page.getByRole('button', { name: new RegExp(`bob_${suffix}`) }).click();
  await alice.page.locator('.bubble', { hasText: 'Hi Al' }).waitFor({ timeout: T });
  assert.equal(await alice.page.locator('.bubble', { hasText: 'Hello Bob!' }).count(), 1);
  await alice.context.close();
});
