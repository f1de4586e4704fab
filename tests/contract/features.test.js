// Contract §6: edit, unsend, replies, reactions, search, blocking, presence
// visibility, export and account deletion, with the refusals a client sees.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  api, connect, connectError, emitAck, MESSAGE_KEYS, receivedEvents, register, rssMiB, settle, sleep,
  startServer, tempDir, TS_RE, upload, waitFor,
} from './helpers.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

/** Two users with a socket each and one message from a to b. */
async function pair(prefix) {
  const a = await register(server, prefix);
  const b = await register(server, prefix);
  const sa = await connect(server, a.token);
  const sb = await connect(server, b.token);
  const { message } = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: `hello from ${prefix}` });
  await waitFor(sb, 'message:received', (m) => m.id === message.id);
  return { a, b, sa, sb, message };
}

const history = async (user, other) =>
  (await api(server, 'GET', `/api/messages/history?recipientId=${other.user.id}`, { token: user.token })).body;

describe('every Message carries the new fields', () => {
  test('editedAt, deletedAt, replyTo and reactions are present everywhere a Message appears', async () => {
    const { a, b, sa, sb, message } = await pair('fld');
    assert.deepEqual(Object.keys(message).sort(), MESSAGE_KEYS);
    assert.equal(message.editedAt, null);
    assert.equal(message.deletedAt, null);
    assert.equal(message.replyTo, null);
    assert.deepEqual(message.reactions, []);
    const [got] = receivedEvents(sb, 'message:received');
    assert.deepEqual(Object.keys(got).sort(), MESSAGE_KEYS);
    for (const m of await history(a, b)) assert.deepEqual(Object.keys(m).sort(), MESSAGE_KEYS);
    const conv = (await api(server, 'GET', '/api/messages/conversations', { token: b.token })).body;
    assert.deepEqual(Object.keys(conv[0].lastMessage).sort(), MESSAGE_KEYS);
    assert.equal(conv[0].blocked, false);
    const up = await upload(server, '/api/messages/upload', a.token, {
      file: { data: Buffer.from('plain bytes'), name: 'a.txt' }, recipientId: b.user.id, type: 'file',
    });
    assert.deepEqual(Object.keys(up.body.message).sort(), MESSAGE_KEYS);
    sa.close(); sb.close();
  });
});

describe('replies', () => {
  test('a reply carries a snapshot of the message replied to, cut to 200 characters', async () => {
    const { a, b, sa, sb } = await pair('rep');
    const long = 'x'.repeat(300);
    const { message: original } = await emitAck(sb, 'message:send', { recipientId: a.user.id, content: long });
    const ack = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'answer', replyToId: original.id });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.deepEqual(ack.message.replyTo, {
      id: original.id, senderId: b.user.id, type: 'text', content: 'x'.repeat(200), deleted: false,
    });
    const got = await waitFor(sb, 'message:received', (m) => m.id === ack.message.id);
    assert.deepEqual(got.replyTo, ack.message.replyTo);
    // Once the original is unsent, every reply shows it deleted.
    await emitAck(sb, 'message:unsend', { messageId: original.id });
    const reply = (await history(a, b)).find((m) => m.id === ack.message.id);
    assert.deepEqual(reply.replyTo, { id: original.id, senderId: b.user.id, type: 'text', content: '', deleted: true });
    sa.close(); sb.close();
  });

  test('replying to a message of another conversation, or to nothing, is not_found', async () => {
    const { a, b, sa, sb } = await pair('rep2');
    const c = await register(server, 'rep2');
    const sc = await connect(server, c.token);
    const { message: elsewhere } = await emitAck(sc, 'message:send', { recipientId: b.user.id, content: 'c to b' });
    for (const replyToId of [elsewhere.id, '00000000-0000-4000-8000-000000000000']) {
      const ack = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'hi', replyToId });
      assert.equal(ack.ok, false);
      assert.equal(ack.error.code, 'not_found');
    }
    const bad = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'hi', replyToId: 'nope' });
    assert.equal(bad.error.code, 'invalid_payload');
    sa.close(); sb.close(); sc.close();
  });
});

describe('edits', () => {
  test('the sender edits: both sides hear message:edited, history and the edit history show it', async () => {
    const { a, b, sa, sb, message } = await pair('ed');
    const first = await emitAck(sa, 'message:edit', { messageId: message.id, content: '  corrected  ' });
    assert.equal(first.ok, true, JSON.stringify(first));
    assert.equal(first.message.content, 'corrected');
    assert.match(first.message.editedAt, TS_RE);
    for (const s of [sa, sb]) {
      const e = await waitFor(s, 'message:edited', (x) => x.messageId === message.id && x.content === 'corrected');
      assert.equal(e.editedAt, first.message.editedAt);
    }
    await sleep(5);
    await emitAck(sa, 'message:edit', { messageId: message.id, content: 'twice' });
    const stored = (await history(b, a)).find((m) => m.id === message.id);
    assert.equal(stored.content, 'twice');
    const edits = await api(server, 'GET', `/api/messages/${message.id}/edits`, { token: b.token });
    assert.equal(edits.status, 200);
    assert.deepEqual(edits.body.map((e) => e.content), [message.content, 'corrected']);
    assert.ok(edits.body.every((e) => TS_RE.test(e.editedAt)));
    // The same text again changes nothing and says nothing.
    const same = await emitAck(sa, 'message:edit', { messageId: message.id, content: 'twice' });
    assert.equal(same.ok, true);
    await settle();
    assert.equal(receivedEvents(sb, 'message:edited', (x) => x.content === 'twice').length, 1);
    sa.close(); sb.close();
  });

  test("editing someone else's message, an unsent one, or to empty text is refused", async () => {
    const { a, sa, sb, message } = await pair('ed2');
    const theirs = await emitAck(sb, 'message:edit', { messageId: message.id, content: 'mine now' });
    assert.equal(theirs.error.code, 'forbidden');
    const empty = await emitAck(sa, 'message:edit', { messageId: message.id, content: '   ' });
    assert.equal(empty.error.code, 'invalid_payload');
    await emitAck(sa, 'message:unsend', { messageId: message.id });
    const late = await emitAck(sa, 'message:edit', { messageId: message.id, content: 'too late' });
    assert.equal(late.error.code, 'forbidden');
    const stranger = await register(server, 'ed2');
    const edits = await api(server, 'GET', `/api/messages/${message.id}/edits`, { token: stranger.token });
    assert.equal(edits.status, 404, 'only the two users see the edit history');
    const unknown = await emitAck(sa, 'message:edit', { messageId: '00000000-0000-4000-8000-000000000001', content: 'x' });
    assert.equal(unknown.error.code, 'not_found');
    void a;
    sa.close(); sb.close();
  });
});

describe('unsend', () => {
  test('delete for everyone leaves a tombstone, removes the file and its preview, reactions and edits', async () => {
    const a = await register(server, 'un');
    const b = await register(server, 'un');
    const sa = await connect(server, a.token);
    const sb = await connect(server, b.token);
    const photo = fs.readFileSync(new URL('./fixtures/photo.jpg', import.meta.url));
    const up = await upload(server, '/api/messages/upload', a.token, {
      file: { data: photo, name: 'p.jpg', type: 'image/jpeg' }, recipientId: b.user.id, type: 'image', content: 'look',
    });
    assert.equal(up.status, 201);
    const { message } = up.body;
    await emitAck(sa, 'message:edit', { messageId: message.id, content: 'look again' });
    await emitAck(sb, 'message:react', { messageId: message.id, emoji: '👍' });
    const ack = await emitAck(sa, 'message:unsend', { messageId: message.id });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    const t = ack.message;
    assert.equal(t.content, '');
    assert.match(t.deletedAt, TS_RE);
    for (const k of ['fileUrl', 'fileName', 'fileSize', 'fileType', 'thumbnailUrl', 'waveform', 'duration']) {
      assert.equal(t[k], null, k);
    }
    assert.deepEqual(t.reactions, []);
    for (const s of [sa, sb]) {
      const e = await waitFor(s, 'message:unsent', (x) => x.messageId === message.id);
      assert.equal(e.deletedAt, t.deletedAt);
    }
    assert.equal((await fetch(server.url + message.fileUrl)).status, 404, 'the file is gone');
    assert.equal((await fetch(server.url + message.thumbnailUrl)).status, 404, 'its preview too');
    const edits = await api(server, 'GET', `/api/messages/${message.id}/edits`, { token: a.token });
    assert.deepEqual(edits.body, []);
    const stored = (await history(b, a)).find((m) => m.id === message.id);
    assert.equal(stored.deletedAt, t.deletedAt, 'the tombstone stays in history');
    assert.equal(stored.content, '');
    const again = await emitAck(sa, 'message:unsend', { messageId: message.id });
    assert.equal(again.ok, true);
    await settle();
    assert.equal(receivedEvents(sb, 'message:unsent').length, 1, 'unsending twice says it once');
    const theirs = await emitAck(sb, 'message:unsend', { messageId: message.id });
    assert.equal(theirs.error.code, 'forbidden');
    sa.close(); sb.close();
  });
});

describe('reactions', () => {
  test('one reaction per user: replace, remove by repeating or null; both sides hear it', async () => {
    const { a, b, sa, sb, message } = await pair('re');
    let ack = await emitAck(sb, 'message:react', { messageId: message.id, emoji: '❤️' });
    assert.deepEqual(ack, { ok: true, reactions: [{ userId: b.user.id, emoji: '❤️' }] });
    for (const s of [sa, sb]) {
      await waitFor(s, 'message:reactions', (x) => x.messageId === message.id && x.reactions.length === 1);
    }
    ack = await emitAck(sa, 'message:react', { messageId: message.id, emoji: '👍🏽' });
    assert.equal(ack.reactions.length, 2);
    ack = await emitAck(sb, 'message:react', { messageId: message.id, emoji: '😂' });
    assert.deepEqual(ack.reactions.find((r) => r.userId === b.user.id).emoji, '😂', 'a new emoji replaces the old');
    ack = await emitAck(sb, 'message:react', { messageId: message.id, emoji: '😂' });
    assert.deepEqual(ack.reactions.map((r) => r.userId), [a.user.id], 'the same emoji again removes it');
    ack = await emitAck(sa, 'message:react', { messageId: message.id, emoji: null });
    assert.deepEqual(ack.reactions, []);
    await emitAck(sb, 'message:react', { messageId: message.id, emoji: '🇫🇷' });
    const stored = (await history(a, b)).find((m) => m.id === message.id);
    assert.deepEqual(stored.reactions, [{ userId: b.user.id, emoji: '🇫🇷' }]);
    sa.close(); sb.close();
  });

  test('two emoji, text, strangers and unsent messages are refused', async () => {
    const { sa, sb, message } = await pair('re2');
    for (const emoji of ['👍👍', 'ok', '', 'a👍', 42]) {
      const ack = await emitAck(sb, 'message:react', { messageId: message.id, emoji });
      assert.equal(ack.error?.code, 'invalid_payload', `${emoji}`);
    }
    const c = await register(server, 're2');
    const sc = await connect(server, c.token);
    const stranger = await emitAck(sc, 'message:react', { messageId: message.id, emoji: '👍' });
    assert.equal(stranger.error.code, 'not_found');
    await emitAck(sa, 'message:unsend', { messageId: message.id });
    const late = await emitAck(sb, 'message:react', { messageId: message.id, emoji: '👍' });
    assert.equal(late.error.code, 'forbidden');
    sa.close(); sb.close(); sc.close();
  });
});

describe('search', () => {
  /** Retries a search until `ok` (new messages are indexed within a second). */
  // A stored message must be searchable within a second (issue 13).
  async function searchUntil(token, query, ok) {
    let res;
    for (let i = 0; i < 10; i += 1) {
      res = await api(server, 'GET', `/api/messages/search?${query}`, { token });
      if (ok(res.body)) return res;
      await sleep(100);
    }
    return res;
  }

  test('every word, any case, the last as a prefix, newest first, only in one\'s own conversations', async () => {
    const { a, b, sa, sb } = await pair('se');
    const c = await register(server, 'se');
    const sc = await connect(server, c.token);
    const tag = `zq${Date.now() % 100000}`;
    const sent = [];
    for (const content of [`Apple ${tag} banana`, `apple ${tag} cherry`, `Banana only ${tag}`, `APPLE and ${tag} ${tag}s bananas`]) {
      sent.push((await emitAck(sa, 'message:send', { recipientId: b.user.id, content })).message);
    }
    await emitAck(sc, 'message:send', { recipientId: b.user.id, content: `apple ${tag} from c` });
    let res = await searchUntil(a.token, `q=${encodeURIComponent(`apple ${tag}`)}`, (r) => r.length >= 3);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.map((m) => m.id), [sent[3].id, sent[1].id, sent[0].id], 'prefix on the last word, newest first');
    assert.deepEqual(Object.keys(res.body[0]).sort(), MESSAGE_KEYS);
    // c's message was stored last: an indexing pass may have ended between
    // a's messages and c's, and the next one is due within the second.
    res = await searchUntil(b.token, `q=${tag}&with=${c.user.id}`, (r) => r.length >= 1);
    assert.equal(res.body.length, 1, '`with` keeps one conversation');
    res = await api(server, 'GET', `/api/messages/search?q=${tag}`, { token: b.token });
    assert.equal(res.body.length, 5, 'the recipient finds them too');
    res = await api(server, 'GET', `/api/messages/search?q=${tag}&limit=2`, { token: b.token });
    const next = await api(server, 'GET', `/api/messages/search?q=${tag}&limit=2&before=${res.body[1].id}`, { token: b.token });
    assert.equal(next.body.length, 2);
    assert.ok(!next.body.some((m) => res.body.some((x) => x.id === m.id)), 'the cursor moves on');
    // Someone else's conversation is never searched.
    res = await api(server, 'GET', `/api/messages/search?q=${tag}`, { token: c.token });
    assert.equal(res.body.length, 1);
    // Unsent text never matches; edited text matches as it is now.
    await emitAck(sa, 'message:unsend', { messageId: sent[0].id });
    await emitAck(sa, 'message:edit', { messageId: sent[2].id, content: `Kiwi only ${tag}` });
    res = await searchUntil(a.token, `q=${tag}+banana`, (r) => r.length === 1);
    assert.deepEqual(res.body.map((m) => m.id), [sent[3].id]);
    res = await searchUntil(a.token, `q=kiwi`, (r) => r.length === 1);
    assert.deepEqual(res.body.map((m) => m.id), [sent[2].id]);
    const empty = await api(server, 'GET', '/api/messages/search?q=%20%21', { token: a.token });
    assert.deepEqual(empty.body, []);
    sa.close(); sb.close(); sc.close();
  });
});

describe('blocking', () => {
  test('a blocked user cannot reach the blocker; neither sees the other; history stays; unblock restores', async () => {
    const { a, b, sa, sb, message } = await pair('bl');
    sa.emit('presence:request', [b.user.id]);
    sb.emit('presence:request', [a.user.id]);
    await settle();
    assert.equal((await api(server, 'POST', `/api/users/${b.user.id}/block`, { token: a.token })).status, 204);
    await waitFor(sb, 'presence:status', (l) => l.some((p) => p.userId === a.user.id && p.status === 'offline' && p.lastSeen === null));
    const send = await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'let me in' });
    assert.equal(send.error.code, 'forbidden');
    const back = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'bye' });
    assert.equal(back.error.code, 'forbidden', 'the blocker unblocks before writing');
    const react = await emitAck(sb, 'message:react', { messageId: message.id, emoji: '👍' });
    assert.equal(react.error.code, 'forbidden');
    const typing = await emitAck(sb, 'typing:start', { recipientId: a.user.id });
    assert.equal(typing.error.code, 'forbidden');
    const up = await upload(server, '/api/messages/upload', b.token, {
      file: { data: Buffer.from('x'), name: 'x.txt' }, recipientId: a.user.id, type: 'file',
    });
    assert.equal(up.status, 403);
    const seen = await emitAck(sb, 'presence:request', [a.user.id]);
    assert.deepEqual(seen.statuses, [{ userId: a.user.id, status: 'offline', lastSeen: null }]);
    const rest = await api(server, 'GET', `/api/users/${a.user.id}`, { token: b.token });
    assert.equal(rest.body.lastSeen, null);
    const before = receivedEvents(sb, 'presence:status', (l) => l.some((p) => p.userId === a.user.id)).length;
    await emitAck(sa, 'presence:update', { status: 'away' });
    await settle();
    assert.equal(receivedEvents(sb, 'presence:status', (l) => l.some((p) => p.userId === a.user.id)).length, before, 'no presence flows');
    const conv = (await api(server, 'GET', '/api/messages/conversations', { token: a.token })).body;
    assert.equal(conv.find((c) => c.user.id === b.user.id).blocked, true);
    assert.deepEqual((await api(server, 'GET', '/api/users/blocked', { token: a.token })).body.map((u) => u.id), [b.user.id]);
    assert.equal((await history(a, b)).length, 1, 'the history stays');
    assert.equal((await api(server, 'DELETE', `/api/users/${b.user.id}/block`, { token: a.token })).status, 204);
    await emitAck(sa, 'presence:update', { status: 'online' });
    const ok = await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'friends again' });
    assert.equal(ok.ok, true);
    const self = await api(server, 'POST', `/api/users/${a.user.id}/block`, { token: a.token });
    assert.equal(self.status, 400);
    sa.close(); sb.close();
  });
});

describe('presence visibility', () => {
  test('contacts only: strangers see offline with no lastSeen; nobody: contacts too; everyone again restores', async () => {
    const { a, b, sa, sb } = await pair('vis');
    const stranger = await register(server, 'vis');
    const ss = await connect(server, stranger.token);
    let res = await api(server, 'PATCH', '/api/users/me', { token: a.token, body: { presenceVisibility: 'contacts' } });
    assert.equal(res.status, 200);
    assert.equal(res.body.presenceVisibility, 'contacts');
    assert.equal(res.body.email, a.user.email);
    let seen = await emitAck(ss, 'presence:request', [a.user.id]);
    assert.deepEqual(seen.statuses, [{ userId: a.user.id, status: 'offline', lastSeen: null }]);
    seen = await emitAck(sb, 'presence:request', [a.user.id]);
    assert.equal(seen.statuses[0].status, 'online', 'a contact sees it');
    const other = await api(server, 'GET', `/api/users/${a.user.id}`, { token: stranger.token });
    assert.equal(other.body.lastSeen, null);
    assert.equal(other.body.presenceVisibility, undefined, 'only in one\'s own record');
    res = await api(server, 'PATCH', '/api/users/me', { token: a.token, body: { presenceVisibility: 'nobody' } });
    assert.equal(res.body.presenceVisibility, 'nobody');
    await waitFor(sb, 'presence:status', (l) => l.some((p) => p.userId === a.user.id && p.status === 'offline' && p.lastSeen === null));
    seen = await emitAck(sb, 'presence:request', [a.user.id]);
    assert.deepEqual(seen.statuses, [{ userId: a.user.id, status: 'offline', lastSeen: null }]);
    res = await api(server, 'PATCH', '/api/users/me', { token: a.token, body: { presenceVisibility: 'everyone' } });
    await waitFor(sb, 'presence:status', (l) => l.some((p) => p.userId === a.user.id && p.status === 'online'));
    const bad = await api(server, 'PATCH', '/api/users/me', { token: a.token, body: { presenceVisibility: 'friends' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'presenceVisibility');
    void b;
    sa.close(); sb.close(); ss.close();
  });
});

/** The entries of a ZIP file, read by Python's zipfile (the test machine has it). */
function unzip(file) {
  const script = 'import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\n'
    + 'print(json.dumps({i.filename: i.file_size for i in z.infolist()}))\n'
    + 'print(json.dumps(json.loads(z.read("messages.json"))))\nprint(json.dumps(json.loads(z.read("profile.json"))))';
  const [entries, messages, profile] = execFileSync('python3', ['-c', script, file], { encoding: 'utf8', maxBuffer: 1 << 28 }).trim().split('\n');
  return { entries: JSON.parse(entries), messages: JSON.parse(messages), profile: JSON.parse(profile) };
}

describe('your own data', () => {
  test('the export is a ZIP of profile, every message oldest first, and the files sent; streamed in little memory', async (t) => {
    const a = await register(server, 'ex');
    const b = await register(server, 'ex');
    const sa = await connect(server, a.token);
    const sb = await connect(server, b.token);
    for (let i = 0; i < 3; i += 1) await emitAck(sa, 'message:send', { recipientId: b.user.id, content: `m${i}` });
    await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'reply' });
    const chunk = Buffer.alloc(5 * 1024 * 1024, 9);
    for (let i = 0; i < 10; i += 1) {
      const r = await upload(server, '/api/messages/upload', a.token, {
        file: { data: chunk, name: i === 1 ? 'big-0.bin' : `big-${i}.bin` }, recipientId: b.user.id, type: 'file',
      });
      assert.equal(r.status, 201);
    }
    const baseline = rssMiB(server);
    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(server)); }, 20);
    const res = await fetch(`${server.url}/api/users/me/export`, { headers: { authorization: `Bearer ${a.token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/zip');
    const file = path.join(tempDir('chatr-export-'), 'export.zip');
    fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    clearInterval(sampler);
    const { entries, messages, profile } = unzip(file);
    assert.equal(profile.id, a.user.id);
    assert.equal(profile.email, a.user.email);
    assert.equal(messages.length, 14);
    assert.deepEqual(messages.slice(0, 4).map((m) => m.content), ['m0', 'm1', 'm2', 'reply'], 'oldest first, both directions');
    const files = Object.keys(entries).filter((n) => n.startsWith('files/'));
    assert.equal(files.length, 10);
    assert.ok(files.includes('files/big-0.bin') && files.includes('files/2-big-0.bin'), 'two files of one name both arrive');
    assert.ok(files.every((f) => entries[f] === chunk.length));
    t.diagnostic(`export of 50 MiB of files: server RSS ${baseline} -> peak ${peak} MiB`);
    assert.ok(peak - baseline < 40, `exporting 50 MiB of files grew the server by ${peak - baseline} MiB`);
    sa.close(); sb.close();
  });

  test('deleting an account: its tokens fail, its sockets close, its messages become tombstones, its name is free', async () => {
    const a = await register(server, 'gone');
    const b = await register(server, 'gone');
    const sa = await connect(server, a.token);
    const sb = await connect(server, b.token);
    const { message } = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'remember me' });
    const { message: kept } = await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'you are kept' });
    const up = await upload(server, '/api/messages/upload', a.token, {
      file: { data: Buffer.from('secret'), name: 's.txt' }, recipientId: b.user.id, type: 'file',
    });
    const unreadFrom = async (partner) => {
      const conv = await api(server, 'GET', '/api/messages/conversations', { token: b.token });
      return conv.body.find((r) => r.user.id === partner.user.id).unreadCount;
    };
    assert.equal(await unreadFrom(a), 2);
    const wrong = await api(server, 'DELETE', '/api/users/me', { token: a.token, body: { password: 'Nope1234!' } });
    assert.equal(wrong.status, 401);
    const closed = new Promise((resolve) => sa.on('disconnect', resolve));
    const res = await api(server, 'DELETE', '/api/users/me', { token: a.token, body: { password: a.password } });
    assert.equal(res.status, 204);
    await closed;
    await waitFor(sb, 'message:unsent', (x) => x.messageId === message.id);
    assert.equal((await api(server, 'GET', '/api/auth/me', { token: a.token })).status, 401);
    const err = await connectError(server, { auth: { token: a.token } });
    assert.match(err.message, /^Authentication error/);
    const login = await api(server, 'POST', '/api/auth/login', { body: { login: a.user.username, password: a.password } });
    assert.equal(login.status, 401);
    assert.equal((await fetch(server.url + up.body.fileUrl)).status, 404, 'its files are gone');
    const theirs = await history(b, a);
    const tomb = theirs.find((m) => m.id === message.id);
    assert.equal(tomb.content, '');
    assert.match(tomb.deletedAt, TS_RE);
    assert.equal(theirs.find((m) => m.id === kept.id).content, 'you are kept', "the other side's own messages stay");
    assert.equal(await unreadFrom(a), 0, 'tombstones are not unread');
    const again = await api(server, 'POST', '/api/auth/register', {
      body: { username: a.user.username, email: a.user.email, password: 'Secret123!' },
    });
    assert.equal(again.status, 201, 'the username and email are free again');
    sb.close();
  });
});
