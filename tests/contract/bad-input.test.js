// Contract §4 "Bad input": malformed payloads get message:error and a failed
// ack, the connection stays up, the server keeps running, nothing is stored.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  TRANSPORTS, TIMEOUT, api, connect, emitAck, receivedEvents, register, settle, startServer, waitFor,
} from './helpers.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

const uuid = () => crypto.randomUUID();

for (const transport of TRANSPORTS) {
  describe(`[${transport}]`, () => {
    test('every malformed event is refused with message:error and a failed ack, and changes nothing', async () => {
      const a = await register(server, 'bad');
      const b = await register(server, 'bad');
      const s = await connect(server, a.token, { transport });
      const good = { recipientId: b.user.id, content: 'ok' };
      const cases = [
        ['message:send', 'a string', 'invalid_payload'],
        ['message:send', 42, 'invalid_payload'],
        ['message:send', null, 'invalid_payload'],
        ['message:send', [good], 'invalid_payload'],
        ['message:send', {}, 'invalid_payload'],
        ['message:send', { ...good, recipientId: 'not-a-uuid' }, 'invalid_payload'],
        ['message:send', { ...good, recipientId: b.user.id.toUpperCase() }, 'invalid_payload'],
        ['message:send', { ...good, recipientId: 7 }, 'invalid_payload'],
        ['message:send', { ...good, recipientId: uuid() }, 'not_found'],
        ['message:send', { ...good, recipientId: a.user.id }, 'invalid_payload'],
        ['message:send', { ...good, content: '' }, 'invalid_payload'],
        ['message:send', { ...good, content: ' \n\t ' }, 'invalid_payload'],
        ['message:send', { ...good, content: 'x'.repeat(10001) }, 'invalid_payload'],
        ['message:send', { ...good, content: { text: 'hi' } }, 'invalid_payload'],
        ['message:send', { ...good, type: 'image' }, 'invalid_payload'],
        ['message:send', { ...good, type: 5 }, 'invalid_payload'],
        ['message:send', { ...good, clientMessageId: '' }, 'invalid_payload'],
        ['message:send', { ...good, clientMessageId: 'x'.repeat(65) }, 'invalid_payload'],
        ['message:send', { ...good, clientMessageId: 12 }, 'invalid_payload'],
        ['message:delivered', { messageId: 'x', senderId: b.user.id }, 'invalid_payload'],
        ['message:delivered', { messageId: uuid() }, 'invalid_payload'],
        ['message:read', 'nope', 'invalid_payload'],
        ['audio:listening', { messageId: uuid(), senderId: b.user.id }, 'not_found'],
        ['audio:listened', [], 'invalid_payload'],
        ['typing:start', {}, 'invalid_payload'],
        ['typing:start', { recipientId: uuid() }, 'not_found'],
        ['typing:stop', { recipientId: a.user.id }, 'invalid_payload'],
        ['recording:start', { recipientId: 'zzz' }, 'invalid_payload'],
        ['recording:stop', null, 'invalid_payload'],
        ['presence:update', { status: 'sleeping' }, 'invalid_payload'],
        ['presence:update', 'online', 'invalid_payload'],
        ['presence:request', { 0: uuid() }, 'invalid_payload'],
        ['no:such:event', { any: 'thing' }, 'invalid_payload'],
      ];
      for (const [event, payload, code] of cases) {
        const label = `${event} ${JSON.stringify(payload)?.slice(0, 60)}`;
        const ack = await emitAck(s, event, payload);
        assert.equal(ack.ok, false, label);
        assert.equal(ack.error.code, code, label);
        assert.equal(typeof ack.error.message, 'string', label);
        const err = await waitFor(s, 'message:error', (e) => e.event === event && !e.seen);
        err.seen = true;
        assert.equal(err.code, code, label);
        assert.equal(typeof err.message, 'string', label);
        assert.ok(s.connected, `still connected after ${label}`);
      }
      const hist = await api(server, 'GET', `/api/messages/history?recipientId=${b.user.id}`, { token: a.token });
      assert.deepEqual(hist.body, [], 'nothing was stored');
      const ok = await emitAck(s, 'message:send', good);
      assert.equal(ok.ok, true, 'the same connection still works');
      s.close();
    });

    test('an event without payload or without ack still gets message:error', async () => {
      const a = await register(server, 'bad');
      const s = await connect(server, a.token, { transport });
      const ack = await s.timeout(TIMEOUT).emitWithAck('message:send');
      assert.equal(ack.ok, false);
      assert.equal(ack.error.code, 'invalid_payload');
      s.emit('typing:start', { recipientId: 'nope' });
      const err = await waitFor(s, 'message:error', (e) => e.event === 'typing:start');
      assert.equal(err.code, 'invalid_payload');
      s.close();
    });

    test('message:error echoes a well-formed clientMessageId and messageId', async () => {
      const a = await register(server, 'bad');
      const s = await connect(server, a.token, { transport });
      await emitAck(s, 'message:send', { recipientId: uuid(), content: 'x', clientMessageId: 'cm-1' });
      const err = await waitFor(s, 'message:error', (e) => e.event === 'message:send');
      assert.equal(err.clientMessageId, 'cm-1');
      const messageId = uuid();
      await emitAck(s, 'message:read', { messageId, senderId: uuid() });
      const err2 = await waitFor(s, 'message:error', (e) => e.event === 'message:read');
      assert.equal(err2.messageId, messageId);
      assert.equal(err2.code, 'not_found');
      s.close();
    });
  });
}

/** A raw Engine.IO/Socket.IO session over WebSocket, to send frames no client library would. */
async function rawSession(token) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const frames = [];
  const waiters = [];
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') ws.send('3');
    frames.push(text);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise((resolve) => ws.on('close', resolve));
  const next = (prefix) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${prefix} frame; got ${frames}`)), TIMEOUT);
    const look = () => {
      const i = frames.findIndex((f) => f.startsWith(prefix));
      if (i >= 0) { clearTimeout(t); resolve(frames.splice(i, 1)[0]); } else waiters.push(look);
    };
    look();
  });
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  await next('0{');
  ws.send(`40${JSON.stringify({ token })}`);
  await next('40');
  return { ws, next, closed };
}

describe('frames that cannot be decoded', () => {
  test('garbage and oversize frames may close that connection only; others and the server carry on', async () => {
    const a = await register(server, 'raw');
    const b = await register(server, 'raw');
    const bystander = await connect(server, b.token);
    for (const frame of ['42["message:send",{', '4zzz', '42', '4', 'x'.repeat(10), `42["message:send","${'y'.repeat(1024 * 1024 + 10)}"]`]) {
      const raw = await rawSession(a.token);
      raw.ws.send(frame);
      // Either the server answers message:error or it closes this connection: both are allowed.
      const outcome = await Promise.race([
        raw.closed.then(() => 'closed'),
        raw.next('42["message:error"').then(() => 'error'),
        new Promise((r) => setTimeout(() => r('ignored'), 1500)),
      ]);
      assert.ok(['closed', 'error', 'ignored'].includes(outcome));
      raw.ws.terminate();
      const health = await api(server, 'GET', '/api/health');
      assert.equal(health.status, 200, `server alive after ${frame.slice(0, 20)}`);
      assert.ok(bystander.connected, 'other sessions are untouched');
    }
    const sa = await connect(server, a.token);
    const ack = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'still fine' });
    assert.equal(ack.ok, true);
    await waitFor(bystander, 'message:received', (m) => m.content === 'still fine');
    sa.close(); bystander.close();
  });

  test('a well-formed raw event with a non-object payload is answered, not dropped', async () => {
    const a = await register(server, 'raw');
    const raw = await rawSession(a.token);
    raw.ws.send('421["message:send",123]');
    const ackFrame = await raw.next('431');
    const ack = JSON.parse(ackFrame.slice(3))[0];
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'invalid_payload');
    await raw.next('42["message:error"');
    raw.ws.close();
  });
});

test('rate limits answer rate_limited when they are on', async () => {
  const limited = await startServer({ env: { CHATR_RATE_LIMITS: 'on' } });
  try {
    const a = await register(limited, 'rl');
    const b = await register(limited, 'rl');
    const s = await connect(limited, a.token);
    const acks = await Promise.all(Array.from({ length: 150 }, (_, i) =>
      emitAck(s, 'message:send', { recipientId: b.user.id, content: `flood ${i}` })));
    const refused = acks.filter((x) => !x.ok);
    assert.ok(refused.length > 0, 'a burst of 150 exceeds the send limit');
    assert.ok(refused.every((x) => x.error.code === 'rate_limited'));
    const typing = await Promise.all(Array.from({ length: 80 }, () => emitAck(s, 'typing:start', { recipientId: b.user.id })));
    assert.ok(typing.some((x) => !x.ok && x.error.code === 'rate_limited'), 'indicators are limited too');
    await settle();
    assert.ok(receivedEvents(s, 'message:error', (e) => e.code === 'rate_limited').length > 0);
    assert.ok(s.connected);
    s.close();
  } finally {
    await limited.stop();
  }
});

test('a long-polling GET that arrives just after its client closed the session gets a noop, once', async () => {
  // The official protocol suite sends the GET and the close at once, on two
  // connections: either may reach the server first.
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1));
  const closed = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '1' });
  assert.equal(closed.status, 200);
  const late = await fetch(`${base}&sid=${sid}`);
  assert.equal(late.status, 200);
  assert.equal(await late.text(), '6');
  const again = await fetch(`${base}&sid=${sid}`);
  assert.equal(again.status, 400, 'the session is gone');
  await again.text();
});
