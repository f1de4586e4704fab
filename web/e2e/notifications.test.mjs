// Notifications and the installable app (issue 14), in headless Chromium
// against the real chatr binary: the service worker registers, the manifest
// is valid and the app installable (DevTools' own checks), a push delivered
// to the worker shows a notification whose click opens the conversation, a
// hidden page raises a desktop notification, the unread count is in the
// title, the prompt asks at a sensible moment, and the app opens offline.
// Pushes are injected with DevTools' ServiceWorker.deliverPushMessage:
// headless Chromium has no push service of its own (the server side of
// push is tested against a real one in tests/contract/push.test.js). Two
// things headless Chromium cannot do are stood in for: a page is never
// hidden there (another tab in front, a minimised window: still visible), so
// the page is told it is hidden and unfocused; and a notification cannot be
// clicked, so the click event is dispatched in the worker.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import { CHROMIUM, CHROMIUM_ARGS, T, createAccount, launchBrowser, startChatr } from './harness.mjs';

let server;
let url;
let browser;
let dataDir;

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatr-e2e-notify-'));
  server = await startChatr(dataDir);
  url = server.url;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function rest(method, urlPath, { token, body } = {}) {
  const res = await fetch(url + urlPath, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.json().catch(() => null);
}

/** Someone outside the browser, with a socket. */
async function person(name) {
  const session = await rest('POST', '/api/auth/register', { body: { username: name, email: `${name}@example.com`, password: 'Secret123!' } });
  const socket = io(url, { auth: { token: session.token }, transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
  return { ...session, socket, say: (to, content) => socket.timeout(T).emitWithAck('message:send', { recipientId: to, content }) };
}

async function signUp(context, name) {
  const page = await context.newPage();
  await createAccount(page, url, name);
  const me = await page.evaluate(() => JSON.parse(localStorage.getItem('chatr.user')));
  return { page, me };
}

/** The notifications the worker shows now. */
/** The notifications with `body`, once there is one. */
const shownWith = (page, body) => async () => {
  const hits = (await shown(page)).filter((n) => n.body === body);
  return hits.length ? hits : null;
};

const shown = (page) => page.evaluate(async () => {
  const reg = await navigator.serviceWorker.ready;
  return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
});

async function until(check, what) {
  const deadline = Date.now() + T;
  for (;;) {
    const value = await check();
    if (value) return value;
    assert.ok(Date.now() < deadline, `timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the service worker registers, the manifest is valid and the app installable', async () => {
  // Installability is not offered in incognito, which every newContext is.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chatr-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const { page } = await signUp(context, `inst${Date.now() % 1e6}`);
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  assert.equal(scope, `${url}/`);
  await page.reload();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: T });
  assert.ok(await page.evaluate(() => Boolean(navigator.serviceWorker.controller)), 'the worker controls the page');
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(manifest.errors, [], JSON.stringify(manifest.errors));
  const parsed = JSON.parse(manifest.data);
  assert.equal(parsed.display, 'standalone');
  assert.ok(parsed.icons.some((i) => i.purpose === 'maskable'), 'a maskable icon');
  for (const icon of parsed.icons) {
    const res = await fetch(new URL(icon.src, url));
    assert.equal(res.status, 200, icon.src);
    assert.equal(res.headers.get('content-type'), icon.type);
  }
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors, [], JSON.stringify(installabilityErrors));
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
});

test('a push shows a notification whose click opens the conversation; a hidden page notifies itself; the title counts unread', async () => {
  const context = await browser.newContext();
  await context.grantPermissions(['notifications'], { origin: url });
  const { page, me } = await signUp(context, `nfy${Date.now() % 1e6}`);
  await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  const bob = await person(`bob${Date.now() % 1e6}`);

  // Unread messages show in the title.
  assert.ok((await bob.say(me.id, 'hello there')).ok);
  await until(async () => (await page.title()) === '(1) Chatr', 'the unread count in the title');

  // A push, as the server sends it, delivered to the worker.
  const cdp = await context.newCDPSession(page);
  const registrations = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
    const reg = e.registrations.find((r) => r.scopeURL === `${url}/` && !r.isDeleted);
    if (reg) resolve(reg.registrationId);
  }));
  await cdp.send('ServiceWorker.enable');
  const registrationId = await registrations;
  const payload = {
    title: bob.user.username, body: 'are you coming?', tag: `chatr:${bob.user.id}`, conversationId: bob.user.id,
    messageId: '00000000-0000-7000-8000-000000000000', url: `/?c=${bob.user.id}`, sentAt: new Date().toISOString(),
  };
  // DevTools may name the registration before its worker takes pushes; one
  // tag means a push delivered twice still shows once, so deliver until shown.
  const [note] = await until(async () => {
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: url, registrationId, data: JSON.stringify(payload) });
    await new Promise((r) => setTimeout(r, 1000));
    return shownWith(page, 'are you coming?')();
  }, 'the push notification');
  assert.equal(note.title, bob.user.username);
  assert.equal(note.tag, `chatr:${bob.user.id}`);
  assert.equal(note.data.conversationId, bob.user.id);

  // Clicking it opens that conversation in the open window.
  const [worker] = context.serviceWorkers();
  assert.ok(worker, 'the worker is reachable');
  await worker.evaluate(async () => {
    const [n] = await self.registration.getNotifications();
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
  });
  await page.getByRole('region', { name: `Conversation with ${bob.user.username}` }).waitFor({ timeout: T });

  // While hidden, a new message raises a desktop notification.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.hasFocus = () => false;
    document.dispatchEvent(new Event('visibilitychange'));
  });
  for (const n of await shown(page)) assert.notEqual(n.body, 'are you still there?');
  assert.ok((await bob.say(me.id, 'are you still there?')).ok);
  const [desktop] = await until(shownWith(page, 'are you still there?'), 'a desktop notification');
  assert.equal(desktop.title, bob.user.username);
  assert.equal(desktop.tag, `chatr:${bob.user.id}`, 'one tag per conversation');

  bob.socket.close();
  await context.close();
});

test('the prompt to turn notifications on waits for a first conversation, and "Not now" is remembered', async () => {
  const context = await browser.newContext();
  const { page, me } = await signUp(context, `ask${Date.now() % 1e6}`);
  const prompt = page.getByRole('region', { name: 'Notifications' });
  await page.waitForTimeout(500);
  assert.equal(await prompt.count(), 0, 'not on first load');
  const bob = await person(`pal${Date.now() % 1e6}`);
  await bob.say(me.id, 'hi');
  await prompt.waitFor({ timeout: T });
  await prompt.getByRole('button', { name: 'Not now' }).click();
  await page.reload();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: T });
  await page.locator('.list button', { hasText: bob.user.username }).waitFor({ timeout: T });
  assert.equal(await prompt.count(), 0, 'not asked again');
  // The settings say where notifications stand, with the previews choice,
  // which reaches the server.
  await page.getByRole('button', { name: 'Profile and settings' }).click();
  await page.getByRole('menuitem', { name: 'Settings' }).click();
  await page.getByTestId('push-state').filter({ hasText: 'Off for this browser.' }).waitFor({ timeout: T });
  const previews = page.getByRole('checkbox', { name: /Show previews/ });
  assert.equal(await previews.isChecked(), true);
  await previews.uncheck();
  await page.getByText('Saved.').waitFor({ timeout: T });
  const token = await page.evaluate(() => localStorage.getItem('chatr.token'));
  assert.deepEqual(await rest('GET', '/api/push/preferences', { token }), { previews: false });
  bob.socket.close();
  await context.close();
});

test('the app opens without a network, says so, and catches up when it returns', async () => {
  const context = await browser.newContext();
  const { page, me } = await signUp(context, `off${Date.now() % 1e6}`);
  await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  await page.reload();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: T });
  await context.setOffline(true);
  await page.reload();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: T });
  await page.getByText(/offline/).first().waitFor({ timeout: T });
  const bob = await person(`back${Date.now() % 1e6}`);
  await bob.say(me.id, 'sent while you were offline');
  await context.setOffline(false);
  await page.locator('.list button', { hasText: bob.user.username }).waitFor({ timeout: 30000 });
  bob.socket.close();
  await context.close();
});
