// "Nothing acknowledged is lost": crashes, graceful shutdowns and restarts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BIN, api, connect, emitAck, register, startServer, tempDir, waitFor } from './helpers.js';

test('every acknowledged message survives SIGKILL of the server', async () => {
  let server = await startServer();
  const { dataDir, secret } = server;
  const a = await register(server, 'dur');
  const b = await register(server, 'dur');
  const s = await connect(server, a.token);
  const acked = [];
  let firstAck;
  const first = new Promise((r) => { firstAck = r; });
  const sends = Array.from({ length: 200 }, (_, i) =>
    emitAck(s, 'message:send', { recipientId: b.user.id, content: `durable ${i}`, clientMessageId: `d-${i}` })
      .then((ack) => { if (ack.ok) { acked.push(ack.message.id); firstAck(); } }, () => {}));
  // Kill while sends are in flight, as soon as one was acknowledged (a fixed
  // delay could end before the first commit on a busy machine): whatever
  // was acknowledged must be on disk.
  await Promise.race([first, new Promise((r) => setTimeout(r, 5000))]);
  await server.kill();
  await Promise.allSettled(sends);
  s.close();
  assert.ok(acked.length > 0, 'some sends were acknowledged before the kill');

  server = await startServer({ dataDir, env: { JWT_SECRET: secret } });
  const hist = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}&limit=200`, { token: b.token });
  const stored = new Set(hist.body.map((m) => m.id));
  for (const id of acked) assert.ok(stored.has(id), `acknowledged message ${id} was lost`);
  assert.equal(new Set(hist.body.map((m) => m.clientMessageId)).size, hist.body.length, 'no duplicates');

  // Resending everything with the same clientMessageIds (what a client does after a
  // reconnect) stores nothing twice.
  const s2 = await connect(server, a.token);
  for (let i = 0; i < 200; i += 1) {
    const ack = await emitAck(s2, 'message:send', { recipientId: b.user.id, content: `durable ${i}`, clientMessageId: `d-${i}` });
    assert.equal(ack.ok, true);
  }
  const after = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}&limit=200`, { token: b.token });
  assert.equal(after.body.length, 200);
  s2.close();
  await server.stop();
});

test('SIGTERM shuts down gracefully: sockets closed, lastSeen written, exit code 0', async () => {
  let server = await startServer();
  const { dataDir, secret } = server;
  const a = await register(server, 'term');
  const b = await register(server, 'term');
  const sa = await connect(server, a.token);
  await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'before shutdown' });
  const disconnected = new Promise((resolve) => sa.on('disconnect', resolve));
  // Listen for the exit before signalling: a fast shutdown can exit before
  // the disconnect has been seen here, and a late listener would wait forever.
  const exited = new Promise((resolve) => server.child.on('exit', (c) => resolve({ code: c })));
  server.child.kill('SIGTERM');
  await disconnected;
  const { code } = await exited;
  assert.equal(code, 0);

  server = await startServer({ dataDir, env: { JWT_SECRET: secret } });
  const user = await api(server, 'GET', `/api/users/${a.user.id}`, { token: b.token });
  assert.match(String(user.body.lastSeen), /Z$/, 'lastSeen was written on the way down');
  const hist = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}`, { token: b.token });
  assert.equal(hist.body.length, 1);
  await server.stop();
});

test('a generated JWT secret is kept in the data dir, so tokens survive restarts', async () => {
  let server = await startServer({ generatedSecret: true, env: { RUST_LOG: 'info' } });
  const { dataDir } = server;
  assert.match(server.stderr(), /generated/i, 'a log line says the secret was generated');
  const a = await register(server, 'sec');
  await server.stop();
  assert.ok(fs.existsSync(path.join(dataDir, 'jwt_secret')));
  server = await startServer({ dataDir, generatedSecret: true });
  const me = await api(server, 'GET', '/api/auth/me', { token: a.token });
  assert.equal(me.status, 200);
  const s = await connect(server, a.token);
  assert.ok(s.connected);
  s.close();
  await server.stop();
});

test('a JWT_SECRET shorter than 32 bytes is refused at startup', async () => {
  const child = spawn(BIN, [], { env: { ...process.env, PORT: '0', JWT_SECRET: 'short', CHATR_DATA_DIR: tempDir('chatr-short-') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.notEqual(code, 0);
  assert.match(err, /32/);
});

test('offline delivery after a restart: still-sent messages reach the recipient when it connects', async () => {
  let server = await startServer();
  const { dataDir, secret } = server;
  const a = await register(server, 'ofr');
  const b = await register(server, 'ofr');
  const sa = await connect(server, a.token);
  const { message } = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'while you were away' });
  await server.stop();
  server = await startServer({ dataDir, env: { JWT_SECRET: secret } });
  const sb = await connect(server, b.token);
  const got = await waitFor(sb, 'message:received');
  assert.equal(got.id, message.id);
  sb.close();
  await server.stop();
});

test('with synchronous = full (the writer on a thread of its own) messages and receipts are announced', async () => {
  // The writer announces what it committed before answering; on its own
  // thread that work (push checks spawn tasks) must still reach the runtime.
  const server = await startServer({ env: { CHATR_SQLITE_SYNCHRONOUS: 'full' } });
  try {
    const a = await register(server, 'full');
    const b = await register(server, 'full');
    const sa = await connect(server, a.token);
    const offline = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'while away' });
    assert.equal(offline.ok, true, JSON.stringify(offline));
    const sb = await connect(server, b.token);
    const backlog = await waitFor(sb, 'message:received', (m) => m.id === offline.message.id);
    const delivered = waitFor(sa, 'message:status', (s) => s.messageId === offline.message.id && s.status === 'delivered');
    assert.deepEqual(await emitAck(sb, 'message:delivered', { messageId: backlog.id, senderId: a.user.id }), { ok: true, status: 'delivered' });
    await delivered;
    const live = waitFor(sb, 'message:received', (m) => m.content === 'live');
    assert.equal((await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'live' })).ok, true);
    await live;
    sa.close(); sb.close();
  } finally {
    await server.stop();
  }
});
