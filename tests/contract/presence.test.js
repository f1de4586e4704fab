// Contract §4 "Presence" and "Offline delivery".
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  TRANSPORTS, TS_RE, api, assertEachOnceAcrossJoins, connect, emitAck, keepSending, receivedEvents, register, settle, startServer, waitFor,
} from './helpers.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

/** Two users who are contacts (one message exchanged). */
async function contacts() {
  const a = await register(server, 'pr');
  const b = await register(server, 'pr');
  const s = await connect(server, a.token);
  await emitAck(s, 'message:send', { recipientId: b.user.id, content: 'hi' });
  s.close();
  await settle();
  return { a, b };
}

for (const transport of TRANSPORTS) {
  describe(`[${transport}]`, () => {
    test('a contact sees online on the first session and offline with lastSeen after the last', async () => {
      const { a, b } = await contacts();
      const watcher = await connect(server, b.token, { transport });
      const a1 = await connect(server, a.token, { transport });
      const [online] = await waitFor(watcher, 'presence:status', (p) => p[0].userId === a.user.id && p[0].status === 'online');
      assert.match(online.lastSeen, TS_RE);
      const a2 = await connect(server, a.token, { transport });
      a1.close();
      await settle();
      assert.equal(receivedEvents(watcher, 'presence:status', (p) => p[0].status === 'offline').length, 0, 'one session left: still online');
      assert.equal(receivedEvents(watcher, 'presence:status', (p) => p[0].status === 'online').length, 1, 'a second session is not a transition');
      a2.close();
      const [offline] = await waitFor(watcher, 'presence:status', (p) => p[0].userId === a.user.id && p[0].status === 'offline');
      assert.match(offline.lastSeen, TS_RE);
      const rest = await api(server, 'GET', `/api/users/${a.user.id}`, { token: b.token });
      assert.equal(rest.body.lastSeen, offline.lastSeen, 'lastSeen was written to the database');
      watcher.close();
    });

    test('presence:update away and offline reach contacts; offline writes lastSeen', async () => {
      const { a, b } = await contacts();
      const watcher = await connect(server, b.token, { transport });
      const a1 = await connect(server, a.token, { transport });
      await waitFor(watcher, 'presence:status', (p) => p[0].status === 'online');
      assert.deepEqual(await emitAck(a1, 'presence:update', { status: 'away' }), { ok: true, status: 'away' });
      await waitFor(watcher, 'presence:status', (p) => p[0].userId === a.user.id && p[0].status === 'away');
      await emitAck(a1, 'presence:update', { status: 'offline' });
      const [off] = await waitFor(watcher, 'presence:status', (p) => p[0].status === 'offline');
      const rest = await api(server, 'GET', `/api/users/${a.user.id}`, { token: b.token });
      assert.equal(rest.body.lastSeen, off.lastSeen, 'an invisible user shows the lastSeen of going offline');
      const ack = await emitAck(a1, 'presence:update', { status: 'busy' });
      assert.equal(ack.error.code, 'invalid_payload');
      a1.close(); watcher.close();
    });

    test('presence:request answers every id and subscribes to known users', async () => {
      const a = await register(server, 'pq');
      const b = await register(server, 'pq');
      const stranger = crypto.randomUUID();
      const sa = await connect(server, a.token, { transport });
      const ack = await emitAck(sa, 'presence:request', [b.user.id, stranger]);
      assert.equal(ack.ok, true);
      const reply = await waitFor(sa, 'presence:status', (p) => p.length === 2);
      assert.deepEqual(reply, ack.statuses);
      assert.deepEqual(reply[0], { userId: b.user.id, status: 'offline', lastSeen: null });
      assert.deepEqual(reply[1], { userId: stranger, status: 'offline', lastSeen: null });
      const sb = await connect(server, b.token, { transport });
      await waitFor(sa, 'presence:status', (p) => p[0].userId === b.user.id && p[0].status === 'online');
      sb.close();
      await waitFor(sa, 'presence:status', (p) => p[0].userId === b.user.id && p[0].status === 'offline');
      sa.close();
    });

    test('presence:request refuses a non-array, non-UUIDs and more than 500 ids', async () => {
      const a = await register(server, 'pq');
      const sa = await connect(server, a.token, { transport });
      const many = Array.from({ length: 501 }, () => crypto.randomUUID());
      for (const payload of [{ ids: [] }, ['nope'], many, 'x']) {
        const ack = await emitAck(sa, 'presence:request', payload);
        assert.equal(ack.ok, false);
        assert.equal(ack.error.code, 'invalid_payload');
      }
      const ok = await emitAck(sa, 'presence:request', many.slice(0, 500));
      assert.equal(ok.statuses.length, 500);
      sa.close();
    });

    test('a first message makes both users follow each other\'s presence at once', async () => {
      const a = await register(server, 'fc');
      const b = await register(server, 'fc');
      const sa = await connect(server, a.token, { transport });
      const sb = await connect(server, b.token, { transport });
      await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'first' });
      await settle();
      const sb2 = await connect(server, b.token, { transport });
      sb.close(); sb2.close();
      await waitFor(sa, 'presence:status', (p) => p[0].userId === b.user.id && p[0].status === 'offline');
      sa.close();
    });

    test('messages sent while the recipient was offline arrive, oldest first, when it connects', async () => {
      const a = await register(server, 'off');
      const b = await register(server, 'off');
      const sa = await connect(server, a.token, { transport });
      const sent = [];
      for (let i = 0; i < 3; i += 1) sent.push((await emitAck(sa, 'message:send', { recipientId: b.user.id, content: `while away ${i}` })).message);
      const sb = await connect(server, b.token, { transport });
      for (const m of sent) assert.equal((await waitFor(sb, 'message:received')).id, m.id);
      await emitAck(sb, 'message:delivered', { messageId: sent[0].id, senderId: a.user.id });
      await waitFor(sa, 'message:status', (p) => p.messageId === sent[0].id && p.status === 'delivered');
      sb.close();
      const again = await connect(server, b.token, { transport });
      await settle();
      assert.deepEqual(receivedEvents(again, 'message:received').map((m) => m.id), [sent[1].id, sent[2].id], 'only what is still sent comes again');
      again.close(); sa.close();
    });
  });
}

test('a session connecting while messages arrive gets each of them exactly once', async () => {
  const a = await register(server, 'race');
  const b = await register(server, 'race');
  const sa = await connect(server, a.token);
  // Keep sending while the recipient connects over and over: each message is
  // either in the backlog or live, never both.
  const stopSending = keepSending(sa, b.user.id, 'race');
  try {
    await assertEachOnceAcrossJoins(15, () => connect(server, b.token));
  } finally {
    await stopSending();
    sa.close();
  }
});
