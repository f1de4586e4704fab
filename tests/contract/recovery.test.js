// Connection state recovery (Socket.IO 4.6) with the official client: a
// connection cut mid-conversation comes back with the same socket id, its
// rooms, and every event it missed, exactly once; clients that did not ask
// see no offsets; what cannot be resumed falls back to the offline backlog.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  connect, emitAck, receivedEvents, register, sleep, startServer, waitFor,
} from './helpers.js';

let server;
before(async () => { server = await startServer({ env: { CHATR_RECOVERY_SECS: '3' } }); });
after(async () => { await server.stop(); });

/** A socket that asks for recovery and reconnects by itself, quickly. */
function recovering(token, transport = 'websocket') {
  return connect(server, token, {
    transport, auth: { token, recover: true }, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200,
  });
}

/** Cuts the connection under the socket (as a network would) and resolves on its next connect. */
async function cut(socket) {
  const back = new Promise((resolve) => socket.once('connect', resolve));
  socket.io.engine.close();
  await waitUntil(() => !socket.connected);
  return back;
}

async function waitUntil(ok, timeout = 5000) {
  for (let waited = 0; !ok(); waited += 20) {
    if (waited > timeout) throw new Error('timed out');
    await sleep(20);
  }
}

const ids = (socket) => receivedEvents(socket, 'message:received').map((m) => m.id);

describe('connection state recovery', () => {
  for (const transport of ['websocket', 'polling']) {
    test(`a cut ${transport} connection resumes: same id, rooms kept, every missed event once`, async () => {
      const a = await register(server, 'rca');
      const b = await register(server, 'rcb');
      const sa = await recovering(a.token, transport);
      const sb = await connect(server, b.token);
      const first = await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'before the cut' });
      await waitFor(sa, 'message:received', (m) => m.id === first.message.id);
      const id = sa.id;

      // Cut, then b writes while a is away: a message, an edit, a reaction.
      const back = cut(sa);
      const missed = [];
      for (let i = 0; i < 3; i += 1) {
        missed.push((await emitAck(sb, 'message:send', { recipientId: a.user.id, content: `missed ${i}` })).message.id);
      }
      await emitAck(sb, 'message:edit', { messageId: missed[0], content: 'missed 0, edited' });
      await back;

      assert.equal(sa.recovered, true, 'the client was told it recovered');
      assert.equal(sa.id, id, 'the same socket id');
      for (const m of missed) await waitFor(sa, 'message:received', (x) => x.id === m);
      await waitFor(sa, 'message:edited', (e) => e.messageId === missed[0]);
      // Live again, in its rooms: a new message arrives.
      const after = await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'after' });
      await waitFor(sa, 'message:received', (m) => m.id === after.message.id);
      await sleep(300);
      const got = ids(sa);
      assert.deepEqual(got, [first.message.id, ...missed, after.message.id], 'each exactly once, in order');
      // Its rooms came back: b's presence still reaches it.
      sb.close();
      await waitFor(sa, 'presence:status', (p) => p[0].userId === b.user.id && p[0].status === 'offline');
      sa.close();
    });
  }

  test('events carry an offset only for clients that asked for recovery', async () => {
    const a = await register(server, 'rco');
    const b = await register(server, 'rco');
    const plain = await connect(server, a.token);
    const asking = await recovering(a.token);
    const sb = await connect(server, b.token);
    const sent = await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'hello' });
    await waitFor(plain, 'message:received', (m) => m.id === sent.message.id);
    await waitFor(asking, 'message:received', (m) => m.id === sent.message.id);
    const arity = (s) => s.received.find((r) => r.event === 'message:received').args.length;
    assert.equal(arity(plain), 1, 'one argument, as every client expects');
    assert.equal(arity(asking), 2, 'the payload and the offset');
    assert.equal(typeof asking.received.find((r) => r.event === 'message:received').args[1], 'string');
    plain.close(); asking.close(); sb.close();
  });

  test('after the window the client connects afresh and the backlog brings what it missed', async () => {
    const a = await register(server, 'rcw');
    const b = await register(server, 'rcw');
    const sa = await recovering(a.token);
    sa.io.reconnection(false);
    const sb = await connect(server, b.token);
    const id = sa.id;
    sa.io.engine.close();
    await waitUntil(() => !sa.connected);
    const missed = (await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'late' })).message.id;
    await sleep(3500); // past CHATR_RECOVERY_SECS
    const back = new Promise((resolve) => sa.once('connect', resolve));
    sa.connect();
    await back;
    assert.equal(sa.recovered, false);
    assert.notEqual(sa.id, id);
    await waitFor(sa, 'message:received', (m) => m.id === missed);
    await sleep(300);
    assert.equal(ids(sa).filter((x) => x === missed).length, 1, 'once');
    sa.close(); sb.close();
  });

  test("another user's token cannot take over a session", async () => {
    const a = await register(server, 'rcx');
    const b = await register(server, 'rcx');
    const mallory = await register(server, 'rcx');
    const sa = await recovering(a.token);
    sa.io.reconnection(false);
    const sb = await connect(server, b.token);
    const first = await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'for a' });
    await waitFor(sa, 'message:received', (m) => m.id === first.message.id);
    const pid = sa._pid;
    const offset = sa._lastOffset;
    assert.ok(pid && offset, 'the client holds a private id and an offset');
    sa.io.engine.close();
    await waitUntil(() => !sa.connected);
    await emitAck(sb, 'message:send', { recipientId: a.user.id, content: 'secret' });
    const sm = await connect(server, mallory.token, { auth: { token: mallory.token, pid, offset } });
    await sleep(300);
    assert.equal(sm.recovered, false);
    assert.notEqual(sm.id, sa.id);
    assert.equal(receivedEvents(sm, 'message:received').length, 0, "nothing of a's reaches mallory");
    sm.close(); sb.close(); sa.close();
  });
});
