// The messenger features in the browser, end to end: two people in two
// headless Chromium contexts against the real chatr binary.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { ROOT, T, createAccount, launchBrowser, startChatr } from './harness.mjs';

const SHOTS = path.join(ROOT, 'docs/screenshots');

let server;
let url;
let browser;
let dataDir;

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatr-e2e-features-'));
  server = await startChatr(dataDir);
  url = server.url;
  browser = await launchBrowser();
  fs.mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function signUp(name) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 }, acceptDownloads: true });
  const page = await context.newPage();
  await createAccount(page, url, name);
  return { context, page, name };
}

async function openChat(page, name) {
  await page.getByLabel('Find people').fill(name);
  await page.locator('.list button', { hasText: name }).first().click();
  await page.getByRole('textbox', { name: 'Message' }).waitFor({ timeout: T });
}

async function say(page, text) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

/** The bubble whose own paragraph is exactly `text`. */
const bubble = (page, text) => page.locator('.bubble', { has: page.locator('p', { hasText: new RegExp(`^${text}$`) }) });

async function pair() {
  const suffix = Date.now().toString(36).slice(-5);
  const alice = await signUp(`alice_${suffix}`);
  const bob = await signUp(`bob_${suffix}`);
  await openChat(alice.page, bob.name);
  await say(alice.page, 'First message');
  await bubble(alice.page, 'First message').locator('.ticks[data-status="delivered"], .ticks[data-status="sent"]').waitFor({ timeout: T });
  await bob.page.getByRole('button', { name: new RegExp(alice.name) }).click();
  await bubble(bob.page, 'First message').waitFor({ timeout: T });
  return { alice, bob };
}

async function menuOf(page, text) {
  const b = bubble(page, text);
  await b.hover();
  await b.getByRole('button', { name: 'Message menu' }).click();
  return b.getByRole('menu');
}

test('reply, react, edit and delete for everyone, live on both sides, by mouse and keyboard', async () => {
  const { alice, bob } = await pair();

  // Bob answers Alice's message.
  let menu = await menuOf(bob.page, 'First message');
  await menu.getByRole('menuitem', { name: 'Reply' }).click();
  await bob.page.getByRole('group', { name: 'Replying to a message' }).waitFor({ timeout: T });
  await say(bob.page, 'Answer');
  const answer = bubble(bob.page, 'Answer');
  await answer.locator('.quote', { hasText: 'First message' }).waitFor({ timeout: T });
  await bubble(alice.page, 'Answer').locator('.quote', { hasText: 'You' }).waitFor({ timeout: T });

  // Alice reacts from the quick bar, then changes it through the picker.
  menu = await menuOf(alice.page, 'Answer');
  await alice.page.screenshot({ path: path.join(SHOTS, 'message-menu.png') });
  await menu.getByRole('button', { name: 'React 👍' }).click();
  await bubble(bob.page, 'Answer').locator('.reactions button', { hasText: '👍' }).waitFor({ timeout: T });
  menu = await menuOf(alice.page, 'Answer');
  await menu.getByRole('button', { name: 'More reactions' }).click();
  await alice.page.getByRole('dialog', { name: 'Pick a reaction' }).getByRole('button', { name: 'React 🎉' }).click();
  await bubble(bob.page, 'Answer').locator('.reactions button', { hasText: '🎉' }).waitFor({ timeout: T });
  assert.equal(await bubble(bob.page, 'Answer').locator('.reactions button', { hasText: '👍' }).count(), 0, 'one reaction per person');
  // Bob adds his own from the keyboard: focus the bubble, Enter opens the menu.
  await bubble(bob.page, 'Answer').focus();
  await bob.page.keyboard.press('Enter');
  await bubble(bob.page, 'Answer').getByRole('menu').getByRole('button', { name: 'React ❤️' }).click();
  await bubble(alice.page, 'Answer').locator('.reactions button', { hasText: '❤️' }).waitFor({ timeout: T });

  // Alice edits her last message with ↑ in the empty composer.
  const box = alice.page.getByRole('textbox', { name: 'Message' });
  await box.click();
  await box.press('ArrowUp');
  await alice.page.getByRole('group', { name: 'Editing a message' }).waitFor({ timeout: T });
  await box.fill('First message, edited');
  await box.press('Enter');
  await bubble(bob.page, 'First message, edited').locator('.edited').waitFor({ timeout: T });
  await bubble(bob.page, 'Answer').locator('.quote', { hasText: 'First message, edited' }).waitFor({ timeout: T });
  await bob.page.screenshot({ path: path.join(SHOTS, 'reply-react.png') });

  // A click on the quote brings the original into view, highlighted.
  await bubble(bob.page, 'Answer').locator('.quote').click();
  await bob.page.locator('.flash .bubble', { hasText: 'First message, edited' }).waitFor({ timeout: T });

  // Alice deletes it for everyone, after a confirmation.
  menu = await menuOf(alice.page, 'First message, edited');
  await menu.getByRole('menuitem', { name: 'Delete for everyone' }).click();
  await alice.page.getByRole('dialog', { name: 'Delete for everyone?' }).getByRole('button', { name: 'Delete' }).click();
  await alice.page.locator('.bubble.deleted', { hasText: 'You deleted this message' }).waitFor({ timeout: T });
  await bob.page.locator('.bubble.deleted', { hasText: 'This message was deleted' }).waitFor({ timeout: T });
  await bubble(bob.page, 'Answer').locator('.quote', { hasText: 'This message was deleted' }).waitFor({ timeout: T });
  await alice.context.close();
  await bob.context.close();
});

test('search over the list and inside a conversation highlights hits and jumps into history', async () => {
  const { alice, bob } = await pair();
  // Seventy more messages, so that the needle is well out of the first page.
  const token = await alice.page.evaluate(() => localStorage.getItem('chatr.token'));
  const bobId = await bob.page.evaluate(async () => (await (await fetch('/api/auth/me', { headers: { authorization: `Bearer ${localStorage.getItem('chatr.token')}` } })).json()).id);
  const sock = io(url, { auth: { token }, transports: ['websocket'] });
  await new Promise((resolve) => sock.once('connect', resolve));
  const ask = (content) => new Promise((resolve) => sock.timeout(T).emit('message:send', { recipientId: bobId, content }, resolve));
  await ask('The hidden needle is here');
  for (let i = 0; i < 70; i += 1) await ask(`filler ${i}`);
  sock.close();
  await bob.page.reload();

  await bob.page.getByLabel('Find people').fill('needle');
  const hit = bob.page.locator('.list .hit', { hasText: 'needle' });
  await hit.locator('mark', { hasText: 'needle' }).waitFor({ timeout: T });
  await bob.page.screenshot({ path: path.join(SHOTS, 'search.png') });
  await hit.click();
  await bob.page.locator('.flash .bubble', { hasText: 'The hidden needle is here' }).waitFor({ timeout: T });

  await bob.page.getByRole('button', { name: 'Search in this conversation' }).click();
  await bob.page.getByRole('searchbox', { name: 'Search in this conversation' }).fill('filler 3');
  const inner = bob.page.getByRole('list', { name: 'Found messages' }).locator('.hit', { hasText: 'filler 3' }).first();
  await inner.waitFor({ timeout: T });
  await inner.click();
  await bob.page.locator('.flash .bubble mark', { hasText: 'filler' }).first().waitFor({ timeout: T });
  await alice.context.close();
  await bob.context.close();
});

test('block and unblock from the conversation header', async () => {
  const { alice, bob } = await pair();
  await alice.page.getByRole('button', { name: 'Conversation menu' }).click();
  await alice.page.getByRole('menuitem', { name: `Block ${bob.name}` }).click();
  await alice.page.getByRole('status').filter({ hasText: `You blocked ${bob.name}` }).waitFor({ timeout: T });
  assert.equal(await alice.page.getByRole('textbox', { name: 'Message' }).count(), 0, 'no composer while blocked');
  await alice.page.screenshot({ path: path.join(SHOTS, 'blocked.png') });
  await say(bob.page, 'Can you hear me?');
  await bubble(bob.page, 'Can you hear me\\?').locator('.failed').waitFor({ timeout: T });
  await alice.page.getByRole('button', { name: 'Unblock' }).click();
  await alice.page.getByRole('textbox', { name: 'Message' }).waitFor({ timeout: T });
  await bubble(bob.page, 'Can you hear me\\?').getByRole('button', { name: 'Retry' }).click();
  await bubble(alice.page, 'Can you hear me\\?').waitFor({ timeout: T });
  await alice.context.close();
  await bob.context.close();
});

test('settings: presence visibility, export, password, log out everywhere, delete the account', async () => {
  const { alice, bob } = await pair();
  await bob.page.getByTestId('presence').filter({ hasText: 'online' }).waitFor({ timeout: T });
  await alice.page.getByRole('button', { name: 'Profile and settings' }).click();
  await alice.page.getByRole('menuitem', { name: 'Settings' }).click();
  const settings = alice.page.getByRole('dialog', { name: 'Settings' });
  await settings.getByRole('radio', { name: /Nobody/ }).check();
  await settings.getByRole('status').filter({ hasText: 'Saved.' }).waitFor({ timeout: T });
  await bob.page.getByTestId('presence').filter({ hasNotText: 'online' }).waitFor({ timeout: T });
  await alice.page.screenshot({ path: path.join(SHOTS, 'settings.png') });

  const [download] = await Promise.all([
    alice.page.waitForEvent('download'),
    settings.getByRole('button', { name: 'Export my data' }).click(),
  ]);
  const zip = fs.readFileSync(await download.path());
  assert.equal(zip.subarray(0, 2).toString(), 'PK', 'a ZIP file');

  await settings.getByLabel('Current password').fill('Secret123!');
  await settings.getByLabel('New password').fill('Changed456!');
  await settings.getByRole('button', { name: 'Change password' }).click();
  await settings.getByRole('status').filter({ hasText: 'Password changed' }).waitFor({ timeout: T });
  await settings.getByRole('button', { name: 'Log out everywhere' }).click();
  await alice.page.getByRole('button', { name: 'Log in' }).waitFor({ timeout: T });

  // Back in with the new password, then gone for good.
  await alice.page.getByLabel(/Username or email/i).fill(alice.name);
  await alice.page.getByLabel('Password').fill('Changed456!');
  await alice.page.getByRole('button', { name: 'Log in' }).click();
  await alice.page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: T });
  await alice.page.getByRole('button', { name: 'Profile and settings' }).click();
  await alice.page.getByRole('menuitem', { name: 'Settings' }).click();
  const again = alice.page.getByRole('dialog', { name: 'Settings' });
  await again.getByLabel('Password', { exact: true }).fill('Changed456!');
  await again.getByRole('checkbox', { name: 'I understand' }).check();
  await again.getByRole('button', { name: 'Delete my account' }).click();
  await alice.page.getByRole('button', { name: 'Log in' }).waitFor({ timeout: T });
  await bob.page.locator('.bubble.deleted', { hasText: 'This message was deleted' }).waitFor({ timeout: T });
  await alice.context.close();
  await bob.context.close();
});
