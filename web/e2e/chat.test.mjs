// The web client end to end: the real chatr binary (with the client embedded),
// two users in two headless Chromium contexts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, T, createAccount, launchBrowser, startChatr } from './harness.mjs';

const SHOTS = path.join(ROOT, 'docs/screenshots');

let server;
let url;
let browser;
/** Temporary directories made here, removed at the end. */
const scratch = [];
const tempDir = (prefix) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
};

before(async () => {
  server = await startChatr(tempDir('chatr-e2e-'));
  url = server.url;
  browser = await launchBrowser(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--autoplay-policy=no-user-gesture-required']);
  fs.mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

async function signUp(name, viewport = { width: 1100, height: 720 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await createAccount(page, url, name);
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

const FIXTURES = path.join(ROOT, 'tests/contract/fixtures');

async function openChat(page, name) {
  await page.getByLabel('Find people').fill(name);
  await page.getByRole('button', { name }).click();
  await page.getByRole('textbox', { name: 'Message' }).waitFor({ timeout: T });
}

test('pictures, files, voice notes with listening receipts, and a profile picture', async () => {
  const suffix = Date.now().toString(36).slice(-5);
  const alice = await signUp(`alice_${suffix}`);
  const bob = await signUp(`bob_${suffix}`);
  await openChat(alice.page, `bob_${suffix}`);
  await openChat(bob.page, `alice_${suffix}`);

  // A picture: a progress bar while it goes, a thumbnail, full size on click.
  // Slow the uplink so the progress bar can be seen moving.
  const network = await alice.context.newCDPSession(alice.page);
  await network.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 16 * 1024 });
  await alice.page.getByTestId('attach-input').setInputFiles(path.join(ROOT, 'web/e2e/fixtures/landscape.jpg'));
  await alice.page.waitForFunction(() => {
    const bar = document.querySelector('.bubble.mine progress.upload');
    return bar && bar.value > 0 && bar.value < 1;
  }, null, { timeout: T });
  await network.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const sentPhoto = alice.page.locator('.bubble.mine.type-image img[src^="/uploads/"]');
  await sentPhoto.waitFor({ timeout: T });
  const photo = bob.page.locator('.bubble.theirs.type-image');
  const thumbnail = photo.locator('.thumb img');
  await thumbnail.waitFor({ timeout: T });
  assert.match(await thumbnail.getAttribute('alt'), /Photo landscape\.jpg from alice_/);
  await photo.getByRole('button', { name: /^Open / }).click();
  const viewer = bob.page.locator('dialog.viewer img');
  await viewer.waitFor({ timeout: T });
  await bob.page.waitForFunction(() => document.querySelector('dialog.viewer img')?.complete === true);
  const full = await viewer.evaluate((img) => img.naturalWidth);
  const thumb = await thumbnail.evaluate((img) => img.naturalWidth);
  assert.ok(full > thumb, `full size ${full} px is larger than the thumbnail ${thumb} px`);
  await bob.page.keyboard.press('Escape');
  await viewer.waitFor({ state: 'detached', timeout: T });
  await alice.page.locator('.bubble.mine.type-image .ticks[data-status="read"]').waitFor({ timeout: T });

  // A file: name and size, downloaded with its name and bytes.
  const notes = path.join(tempDir('chatr-e2e-file-'), 'notes.txt');
  fs.writeFileSync(notes, 'meeting at 10\n'.repeat(200));
  await alice.page.getByTestId('attach-input').setInputFiles(notes);
  const link = bob.page.locator('.bubble.theirs a.file');
  await link.waitFor({ timeout: T });
  assert.match(await link.innerText(), /notes\.txt[\s\S]*2\.7 KB/);
  const [download] = await Promise.all([bob.page.waitForEvent('download'), link.click()]);
  assert.equal(download.suggestedFilename(), 'notes.txt');
  assert.equal(fs.readFileSync(await download.path(), 'utf8'), fs.readFileSync(notes, 'utf8'));

  // A voice note: recording indicator on the other side, a level meter and a timer here.
  await alice.page.getByRole('button', { name: 'Record a voice note' }).click();
  await bob.page.getByTestId('presence').filter({ hasText: 'recording…' }).waitFor({ timeout: T });
  await alice.page.waitForFunction(() => Number(document.querySelector('[role="meter"]')?.getAttribute('aria-valuenow')) > 0, null, { timeout: T });
  await alice.page.getByRole('timer').filter({ hasText: '0:03' }).waitFor({ timeout: T });
  await alice.page.getByRole('button', { name: 'Send voice note' }).click();
  await bob.page.getByTestId('presence').filter({ hasNotText: 'recording…' }).waitFor({ timeout: T });
  const note = bob.page.locator('.bubble.theirs.type-voice');
  await note.waitFor({ timeout: T });
  // The server measured it: about three seconds, and a waveform that is not flat.
  await note.getByTestId('audio-time').filter({ hasText: /^0:0[2-4]$/ }).waitFor({ timeout: T });
  const heights = await note.locator('.wave span').evaluateAll((bars) => bars.map((b) => b.style.height));
  assert.equal(heights.length, 100);
  assert.ok(new Set(heights).size > 1, 'the waveform has shape');
  const mine = alice.page.locator('.bubble.mine.type-voice .ticks');
  await mine.and(alice.page.locator('[data-status="delivered"]')).waitFor({ timeout: T });

  // Bob plays it: Alice sees "listening…", then a coloured microphone when it is heard.
  await note.getByRole('button', { name: 'Play' }).click();
  await alice.page.locator('.bubble.mine.type-voice .ticks[data-status="listening"]', { hasText: 'listening…' }).waitFor({ timeout: T });
  await note.getByTestId('audio-time').filter({ hasText: /^0:01 \// }).waitFor({ timeout: T });
  await bob.page.screenshot({ path: path.join(SHOTS, 'voice-note.png') });
  await alice.page.locator('.bubble.mine.type-voice .ticks.seen[data-status="listened"]').waitFor({ timeout: 15000 });
  assert.equal(await mine.getAttribute('aria-label'), 'listened');

  // An audio file the server could not measure: the browser extracts the waveform and PATCHes it.
  // The answer is rewritten at the response stage (CDP Fetch), after the browser sent the real
  // file; Playwright's route() would resend the request and loses a streamed multipart body.
  const cdp = await alice.context.newCDPSession(alice.page);
  await cdp.send('Fetch.enable', { patterns: [{ urlPattern: '*/api/messages/upload', requestStage: 'Response' }] });
  cdp.on('Fetch.requestPaused', async ({ requestId, responseStatusCode, responseHeaders }) => {
    const { body, base64Encoded } = await cdp.send('Fetch.getResponseBody', { requestId });
    const answer = JSON.parse(base64Encoded ? Buffer.from(body, 'base64').toString() : body);
    const rewritten = Buffer.from(JSON.stringify({ ...answer, needsWaveformGeneration: true }));
    await cdp.send('Fetch.fulfillRequest', {
      requestId, responseCode: responseStatusCode,
      responseHeaders: responseHeaders.filter((h) => h.name.toLowerCase() !== 'content-length'),
      body: rewritten.toString('base64'),
    });
  });
  const patched = alice.page.waitForResponse((r) => r.request().method() === 'PATCH' && /\/waveform$/.test(r.url()), { timeout: T });
  await alice.page.getByTestId('attach-input').setInputFiles(path.join(FIXTURES, 'tone.ogg'));
  const reply = await patched;
  assert.equal(reply.status(), 200);
  const sent = JSON.parse(reply.request().postData());
  assert.equal(sent.waveform.length, 100);
  assert.ok(sent.waveform.every((v) => v >= 0 && v <= 1) && Math.max(...sent.waveform) === 1);
  assert.ok(sent.duration > 0.5 && sent.duration < 10, `duration ${sent.duration}`);
  await bob.page.locator('.bubble.theirs.type-audio').waitFor({ timeout: T });

  // A profile picture, shown in the header; removable again.
  await alice.page.getByRole('button', { name: 'Profile and settings' }).click();
  await alice.page.getByTestId('profile-input').setInputFiles(path.join(FIXTURES, 'pic.webp'));
  const own = alice.page.locator('.sidebar header img[alt$="\'s picture"]');
  await own.waitFor({ timeout: T });
  assert.match(await own.getAttribute('src'), /^\/uploads\/profiles\/.+_64\.\w+$/);
  await alice.page.getByRole('button', { name: 'Profile and settings' }).click();
  await alice.page.getByRole('menuitem', { name: 'Remove picture' }).click();
  await own.waitFor({ state: 'detached', timeout: T });

  await alice.context.close();
  await bob.context.close();
});

test('a dropped connection recovers: nothing lost, nothing doubled', async () => {
  const suffix = Date.now().toString(36).slice(-5);
  const alice = await signUp(`alice_${suffix}`);
  const bob = await signUp(`bob_${suffix}`);
  await openChat(alice.page, `bob_${suffix}`);
  await alice.page.getByRole('textbox', { name: 'Message' }).fill('before the drop');
  await alice.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await bob.page.getByRole('button', { name: new RegExp(`alice_${suffix}`) }).click();
  await bob.page.locator('.bubble.theirs', { hasText: 'before the drop' }).waitFor({ timeout: T });

  // Bob's network goes away: he sees it, Alice sees him go.
  await bob.context.setOffline(true);
  await bob.page.getByRole('status').filter({ hasText: /offline|connecting/ }).waitFor({ timeout: T });
  await alice.page.getByTestId('presence').filter({ hasText: /last seen/ }).waitFor({ timeout: 60000 });

  // Both write meanwhile: Alice's messages wait on the server, Bob's in his browser.
  for (const text of ['missed one', 'missed two', 'missed three']) {
    await alice.page.getByRole('textbox', { name: 'Message' }).fill(text);
    await alice.page.getByRole('textbox', { name: 'Message' }).press('Enter');
    await alice.page.locator('.bubble.mine', { hasText: text }).locator('.ticks[data-status="sent"]').waitFor({ timeout: T });
  }
  await bob.page.getByRole('textbox', { name: 'Message' }).fill('written offline');
  await bob.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await bob.page.locator('.bubble.mine', { hasText: 'written offline' }).waitFor({ timeout: T });

  // The network comes back: Socket.IO reconnects, everything arrives once.
  await bob.context.setOffline(false);
  await bob.page.locator('.conn.online').waitFor({ state: 'attached', timeout: 30000 });
  for (const text of ['missed one', 'missed two', 'missed three']) {
    await bob.page.locator('.bubble.theirs', { hasText: text }).waitFor({ timeout: T });
    await alice.page.locator('.bubble.mine', { hasText: text }).locator('.ticks[data-status="read"]').waitFor({ timeout: T });
  }
  await alice.page.locator('.bubble.theirs', { hasText: 'written offline' }).waitFor({ timeout: T });
  await bob.page.locator('.bubble.mine', { hasText: 'written offline' }).locator('.ticks[data-status="read"]').waitFor({ timeout: T });
  await alice.page.getByTestId('presence').filter({ hasText: 'online' }).waitFor({ timeout: T });

  for (const text of ['before the drop', 'missed one', 'missed two', 'missed three', 'written offline']) {
    assert.equal(await bob.page.locator('.bubble', { hasText: text }).count(), 1, `Bob sees "${text}" once`);
    assert.equal(await alice.page.locator('.bubble', { hasText: text }).count(), 1, `Alice sees "${text}" once`);
  }
  // And the server stored each once: a reload shows the same.
  await bob.page.reload();
  await bob.page.getByRole('button', { name: new RegExp(`alice_${suffix}`) }).click();
  await bob.page.locator('.bubble', { hasText: 'written offline' }).waitFor({ timeout: T });
  assert.equal(await bob.page.locator('.bubble').count(), 5);
  await alice.context.close();
  await bob.context.close();
});

test('phone-sized screen: the list, then one conversation, and back', async () => {
  const suffix = Date.now().toString(36).slice(-5);
  const alice = await signUp(`alice_${suffix}`, { width: 390, height: 800 });
  await signUp(`bob_${suffix}`).then(({ context }) => context.close());
  await openChat(alice.page, `bob_${suffix}`);
  assert.equal(await alice.page.getByLabel('Find people').isVisible(), false, 'the list gives way to the conversation');
  await alice.page.getByRole('textbox', { name: 'Message' }).fill('from my phone');
  await alice.page.keyboard.press('Enter');
  await alice.page.locator('.bubble.mine', { hasText: 'from my phone' }).waitFor({ timeout: T });
  await alice.page.screenshot({ path: path.join(SHOTS, 'phone.png') });
  await alice.page.getByRole('button', { name: 'Back to conversations' }).click();
  await alice.page.getByRole('button', { name: new RegExp(`bob_${suffix}`) }).waitFor({ timeout: T });
  assert.equal(await alice.page.getByRole('textbox', { name: 'Message' }).count(), 0);
  // A token the server no longer accepts leads back to the login form.
  await alice.page.evaluate(() => localStorage.setItem('chatr.token', 'expired.or.forged'));
  await alice.page.reload();
  await alice.page.getByRole('button', { name: 'Log in' }).waitFor({ timeout: T });
  await alice.context.close();
});

test('history scrolls back page by page and keeps the reader in place', async () => {
  const suffix = Date.now().toString(36).slice(-5);
  const alice = await signUp(`alice_${suffix}`);
  const bob = await signUp(`bob_${suffix}`);
  await openChat(alice.page, `bob_${suffix}`);
  const box = alice.page.getByRole('textbox', { name: 'Message' });
  for (let i = 1; i <= 60; i++) {
    await box.fill(`note ${i}`);
    await box.press('Enter');
  }
  // Match the text paragraph exactly: a bubble's whole text runs on into its
  // time, so "note 6" sent at 00:14 reads "note 600:14".
  const sixty = (page) => page.locator('.bubble', { has: page.locator('p', { hasText: /^note 60$/ }) });
  await sixty(alice.page).locator('.ticks[data-status="delivered"]').waitFor({ timeout: T });

  // A fresh page knows only what history gives it.
  await bob.page.reload();
  await bob.page.getByRole('button', { name: new RegExp(`alice_${suffix}`) }).click();
  await sixty(bob.page).waitFor({ timeout: T });
  assert.equal(await bob.page.locator('.bubble').count(), 50, 'one page of history');
  // Scrolling to the top loads the older page; "note 11" stays where it was on screen.
  const eleven = bob.page.locator('.bubble p', { hasText: /^note 11$/ });
  const messages = bob.page.getByRole('log', { name: 'Messages' });
  await messages.evaluate((el) => { el.scrollTop = 0; });
  await bob.page.locator('.bubble p', { hasText: /^note 1$/ }).waitFor({ timeout: T });
  assert.equal(await bob.page.locator('.bubble').count(), 60);
  const top = await eleven.evaluate((el) => el.getBoundingClientRect().top);
  const viewTop = await messages.evaluate((el) => el.getBoundingClientRect().top);
  assert.ok(top >= viewTop - 5 && top < viewTop + 200, `the message read before the load stays in view (at ${top - viewTop} px)`);
  await alice.context.close();
  await bob.context.close();
});
