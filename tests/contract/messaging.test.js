// Contract §4: message:send, receipts, indicators, over both transports.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  MESSAGE_KEYS, TRANSPORTS, TS_RE, UUID_RE, api, connect, emitAck, receivedEvents, register, settle, startServer, waitFor,
} from './helpers.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

for (const transport of TRANSPORTS) {
  describe(`[${transport}]`, () => {
    async function setup() {
      const a = await register(server, 'ms');
      const b = await register(server, 'ms');
      const a1 = await connect(server, a.token, { transport });
      const a2 = await connect(server, a.token, { transport });
      const b1 = await connect(server, b.token, { transport });
      const close = () => { a1.close(); a2.close(); b1.close(); };
      return { a, b, a1, a2, b1, close };
    }

    test('message:send stores, acks the full Message and announces it to the right sessions', async () => {
      const { a, b, a1, a2, b1, close } = await setup();
      const ack = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: '  hello  ', type: 'text' });
      assert.equal(ack.ok, true);
      const m = ack.message;
      assert.deepEqual(Object.keys(m).sort(), MESSAGE_KEYS);
      assert.match(m.id, UUID_RE);
      assert.equal(m.senderId, a.user.id);
      assert.equal(m.senderUsername, a.user.username);
      assert.equal(m.senderProfileImage, null);
      assert.equal(m.recipientId, b.user.id);
      assert.equal(m.content, 'hello', 'content is trimmed');
      assert.equal(m.type, 'text');
      assert.equal(m.status, 'sent');
      assert.match(m.createdAt, TS_RE);
      assert.equal(m.readAt, null);
      assert.equal(m.clientMessageId, null);
      for (const k of ['fileUrl', 'fileName', 'fileSize', 'fileType', 'waveform', 'duration']) assert.equal(m[k], null, k);

      assert.deepEqual(await waitFor(b1, 'message:received'), m, 'recipient gets the same Message');
      assert.deepEqual(await waitFor(a2, 'message:received'), m, "sender's other session gets it");
      assert.deepEqual(await waitFor(a1, 'message:status'), { messageId: m.id, status: 'sent' });
      assert.deepEqual(await waitFor(a2, 'message:status'), { messageId: m.id, status: 'sent' });
      await settle();
      assert.equal(receivedEvents(a1, 'message:received').length, 0, 'the sending session does not get its own message back');
      assert.equal(receivedEvents(b1, 'message:status').length, 0, 'the recipient gets no sender status');
      close();
    });

    test('content with quotes, backslashes, control characters and non-ASCII arrives exactly as sent', async () => {
      // Clients escape these in JSON; the server reads plain strings by hand
      // and escaped ones through serde (docs/engine.md): both must store the text.
      const { a, b, a1, b1, close } = await setup();
      const texts = [
        'say "hi" \\ back\\slash',
        'two\nlines\tand a tab',
        'é ü 日本 😀 \u0001 \u007f',
        '{"looks":"like json"} ] ,',
        'x'.repeat(40) + '"' + 'y'.repeat(40),
      ];
      for (const content of texts) {
        const ack = await emitAck(a1, 'message:send', { recipientId: b.user.id, content });
        assert.equal(ack.ok, true, content);
        assert.equal(ack.message.content, content);
        const got = await waitFor(b1, 'message:received', (m) => m.id === ack.message.id);
        assert.equal(got.content, content);
      }
      const hist = await api(server, 'GET', `/api/messages/history?recipientId=${b.user.id}`, { token: a.token });
      assert.deepEqual(hist.body.map((m) => m.content).sort(), [...texts].sort(), 'stored as sent');
      close();
    });

    test('a burst far past the 64 writes a session may leave unanswered is all acknowledged and delivered once', async () => {
      // Past 64 unanswered writes a session's next event waits for one to be
      // answered (docs/engine.md): the burst slows down, nothing is refused or lost.
      const { b, a1, b1, close } = await setup();
      const n = 300;
      const acks = await Promise.all(Array.from({ length: n }, (_, i) =>
        emitAck(a1, 'message:send', { recipientId: b.user.id, content: `burst ${i}`, clientMessageId: `burst-${i}` })));
      assert.deepEqual(acks.filter((ack) => !ack.ok), [], 'every send is acknowledged');
      assert.equal(new Set(acks.map((ack) => ack.message.id)).size, n);
      const burst = () => receivedEvents(b1, 'message:received', (m) => m.content.startsWith('burst '));
      const deadline = Date.now() + 10000;
      while (burst().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await settle();
      const contents = burst().map((m) => m.content);
      assert.equal(contents.length, n, 'each arrives once');
      assert.deepEqual(new Set(contents), new Set(acks.map((ack) => ack.message.content)));
      close();
    });

    test('the longest content (10,000 characters, many bytes each) arrives intact', async () => {
      // Far larger than a session's initial WebSocket read buffer (512 bytes).
      const { b, a1, b1, close } = await setup();
      const content = 'é€😀'.repeat(3333) + 'x';
      assert.equal([...content].length, 10000);
      const ack = await emitAck(a1, 'message:send', { recipientId: b.user.id, content });
      assert.equal(ack.ok, true, JSON.stringify(ack.error));
      assert.equal(ack.message.content, content);
      const got = await waitFor(b1, 'message:received', (m) => m.id === ack.message.id);
      assert.equal(got.content, content);
      close();
    });

    test('a repeated clientMessageId returns the stored message and stores nothing new', async () => {
      const { b, a1, b1, close } = await setup();
      const payload = { recipientId: b.user.id, content: 'once', clientMessageId: 'c-1' };
      const first = await emitAck(a1, 'message:send', payload);
      const second = await emitAck(a1, 'message:send', { ...payload, content: 'different body' });
      assert.equal(first.message.clientMessageId, 'c-1');
      assert.equal(second.ok, true);
      assert.equal(second.message.id, first.message.id);
      assert.equal(second.message.content, 'once');
      await settle();
      assert.equal(receivedEvents(b1, 'message:received').length, 1, 'announced once');
      const hist = await api(server, 'GET', `/api/messages/history?recipientId=${b.user.id}`, { token: (await whoami(a1)) });
      assert.equal(hist.body.length, 1);
      close();
    });

    test('delivered then read move the status forward and notify every sender session', async () => {
      const { a, b, a1, a2, b1, close } = await setup();
      const { message: m } = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'tick' });
      await waitFor(b1, 'message:received');
      assert.deepEqual(await emitAck(b1, 'message:delivered', { messageId: m.id, senderId: a.user.id }), { ok: true, status: 'delivered' });
      assert.deepEqual(await waitFor(a1, 'message:status', (p) => p.status === 'delivered'), { messageId: m.id, status: 'delivered' });
      await waitFor(a2, 'message:status', (p) => p.status === 'delivered');
      assert.deepEqual(await emitAck(b1, 'message:read', { messageId: m.id, senderId: a.user.id }), { ok: true, status: 'read' });
      await waitFor(a1, 'message:status', (p) => p.status === 'read');
      const hist = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}`, { token: b.token });
      assert.equal(hist.body[0].status, 'read');
      assert.match(hist.body[0].readAt, TS_RE);
      close();
    });

    test('repeated and backward steps change nothing and emit nothing; read may skip delivered', async () => {
      const { a, b, a1, b1, close } = await setup();
      const { message: m } = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'skip' });
      assert.deepEqual(await emitAck(b1, 'message:read', { messageId: m.id, senderId: a.user.id }), { ok: true, status: 'read' });
      await waitFor(a1, 'message:status', (p) => p.status === 'read');
      assert.deepEqual(await emitAck(b1, 'message:delivered', { messageId: m.id, senderId: a.user.id }), { ok: true, status: 'read' });
      assert.deepEqual(await emitAck(b1, 'message:read', { messageId: m.id, senderId: a.user.id }), { ok: true, status: 'read' });
      await settle();
      assert.deepEqual(receivedEvents(a1, 'message:status').map((p) => p.status), ['sent', 'read']);
      close();
    });

    test('only the recipient may acknowledge, with the right senderId', async () => {
      const { a, b, a1, b1, close } = await setup();
      const c = await register(server, 'ms');
      const c1 = await connect(server, c.token, { transport });
      const { message: m } = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'mine' });
      for (const [socket, senderId, who] of [[a1, a.user.id, 'sender'], [c1, a.user.id, 'stranger'], [b1, c.user.id, 'wrong senderId']]) {
        const ack = await emitAck(socket, 'message:delivered', { messageId: m.id, senderId });
        assert.equal(ack.ok, false, who);
        assert.equal(ack.error.code, 'forbidden', who);
        const err = await waitFor(socket, 'message:error', (e) => e.code === 'forbidden');
        assert.equal(err.event, 'message:delivered');
        assert.equal(err.messageId, m.id);
      }
      const hist = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}`, { token: b.token });
      assert.equal(hist.body[0].status, 'sent', 'nothing changed');
      c1.close(); close();
    });

    test('receipts for unknown messages are not_found; audio events on text are invalid', async () => {
      const { a, b, a1, b1, close } = await setup();
      let ack = await emitAck(b1, 'message:delivered', { messageId: crypto.randomUUID(), senderId: a.user.id });
      assert.equal(ack.error.code, 'not_found');
      const { message: m } = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'text' });
      for (const event of ['audio:listening', 'audio:listened']) {
        ack = await emitAck(b1, event, { messageId: m.id, senderId: a.user.id });
        assert.equal(ack.ok, false);
        assert.equal(ack.error.code, 'invalid_payload', event);
        await waitFor(b1, 'message:error', (e) => e.event === event && e.code === 'invalid_payload');
      }
      close();
    });

    test('typing and recording indicators reach every session of the recipient', async () => {
      const { a, b, a1, a2, b1, close } = await setup();
      for (const [start, stop, event, flag] of [
        ['typing:start', 'typing:stop', 'typing:indicator', 'isTyping'],
        ['recording:start', 'recording:stop', 'recording:indicator', 'isRecording'],
      ]) {
        assert.deepEqual(await emitAck(b1, start, { recipientId: a.user.id }), { ok: true });
        assert.deepEqual(await waitFor(a1, event, (p) => p[flag]), { userId: b.user.id, [flag]: true });
        await waitFor(a2, event, (p) => p[flag]);
        await emitAck(b1, stop, { recipientId: a.user.id });
        assert.deepEqual(await waitFor(a1, event, (p) => !p[flag]), { userId: b.user.id, [flag]: false });
      }
      close();
    });

    test('a session that disconnects while typing or recording clears both indicators', async () => {
      const { a, b, a1, close } = await setup();
      const b2 = await connect(server, b.token, { transport });
      await emitAck(b2, 'typing:start', { recipientId: a.user.id });
      await emitAck(b2, 'recording:start', { recipientId: a.user.id });
      await waitFor(a1, 'typing:indicator', (p) => p.isTyping);
      await waitFor(a1, 'recording:indicator', (p) => p.isRecording);
      b2.close();
      assert.deepEqual(await waitFor(a1, 'typing:indicator', (p) => !p.isTyping), { userId: b.user.id, isTyping: false });
      assert.deepEqual(await waitFor(a1, 'recording:indicator', (p) => !p.isRecording), { userId: b.user.id, isRecording: false });
      close();
    });
  });
}

// The token of a connected socket (tests keep it on the auth option).
async function whoami(socket) {
  return socket.auth.token;
}
