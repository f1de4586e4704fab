// Several nodes (issue 6): PostgreSQL + Redis + 3 chatr nodes on loopback,
// sharing a data dir (uploads, secret) and one database. Run by
// `make test-cluster` (scripts/with-postgres.sh + scripts/with-redis.sh), not
// by `npm test`: it needs both services.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import {
  api, assertEachOnceAcrossJoins, connect, emitAck, keepSending, receivedEvents, register, settle, sleep, startServer, tempDir,
  upload, waitFor,
} from './helpers.js';
import { startPushService } from './push-service.js';

const REDIS = process.env.CHATR_TEST_REDIS;
if (!REDIS || !process.env.CHATR_TEST_POSTGRES) {
  throw new Error('cluster.js needs CHATR_TEST_POSTGRES and CHATR_TEST_REDIS (make test-cluster)');
}

const nodes = [];
let dataDir;
const env = {
  REDIS_URL: REDIS,
  JWT_SECRET: 'a-cluster-test-secret-shared-by-all-three-nodes',
  // The test's push service is http on loopback.
  CHATR_PUSH_ALLOW_INSECURE: '1',
};
before(async () => {
  dataDir = tempDir('chatr-cluster-');
  // One after the other: the first applies the migrations.
  for (let i = 0; i < 3; i++) nodes.push(await startServer({ env, dataDir }));
});
const extra = [];
after(async () => { for (const n of [...nodes, ...extra]) await n.stop(); });

test('clients on different nodes exchange every event of the contract', async () => {
  const [n1, n2, n3] = nodes;
  const a = await register(n1, 'cl');
  const b = await register(n2, 'cl');
  const a1 = await connect(n1, a.token);
  const b2 = await connect(n2, b.token);
  const b3 = await connect(n3, b.token);

  // message:send on node 1 reaches both of Bob's sessions on nodes 2 and 3.
  const ack = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'across nodes', clientMessageId: 'c1' });
  assert.equal(ack.ok, true);
  const id = ack.message.id;
  await waitFor(b2, 'message:received', (m) => m.id === id);
  await waitFor(b3, 'message:received', (m) => m.id === id);
  await waitFor(a1, 'message:status', (s) => s.messageId === id && s.status === 'sent');

  // A send on node 3 reaches the sender's other session on node 2, not the sending one.
  const back = await emitAck(b3, 'message:send', { recipientId: a.user.id, content: 'and back' });
  assert.equal(back.ok, true);
  await waitFor(a1, 'message:received', (m) => m.id === back.message.id);
  await waitFor(b2, 'message:received', (m) => m.id === back.message.id);

  // Receipts from node 2 move the status seen on node 1.
  const delivered = await emitAck(b2, 'message:delivered', { messageId: id, senderId: a.user.id });
  assert.deepEqual(delivered, { ok: true, status: 'delivered' });
  await waitFor(a1, 'message:status', (s) => s.messageId === id && s.status === 'delivered');
  const read = await emitAck(b3, 'message:read', { messageId: id, senderId: a.user.id });
  assert.deepEqual(read, { ok: true, status: 'read' });
  await waitFor(a1, 'message:status', (s) => s.messageId === id && s.status === 'read');

  // Indicators cross nodes both ways.
  b3.emit('typing:start', { recipientId: a.user.id });
  await waitFor(a1, 'typing:indicator', (e) => e.userId === b.user.id && e.isTyping === true);
  b3.emit('typing:stop', { recipientId: a.user.id });
  await waitFor(a1, 'typing:indicator', (e) => e.userId === b.user.id && e.isTyping === false);
  a1.emit('recording:start', { recipientId: b.user.id });
  await waitFor(b2, 'recording:indicator', (e) => e.userId === a.user.id && e.isRecording === true);
  await waitFor(b3, 'recording:indicator', (e) => e.userId === a.user.id && e.isRecording === true);
  a1.emit('recording:stop', { recipientId: b.user.id });
  await waitFor(b2, 'recording:indicator', (e) => e.userId === a.user.id && e.isRecording === false);

  // A voice note uploaded to node 3 is announced on node 1 and served by node 2.
  const voice = fs.readFileSync(new URL('./fixtures/tone.ogg', import.meta.url));
  const up = await upload(n3, '/api/messages/upload', b.token, {
    recipientId: a.user.id, type: 'voice', file: { data: voice, type: 'audio/ogg', name: 'tone.ogg' },
  });
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const note = up.body.message;
  await waitFor(a1, 'message:received', (m) => m.id === note.id);
  const served = await fetch(`${n2.url}${note.fileUrl}`);
  assert.equal(served.status, 200);
  assert.equal(Buffer.from(await served.arrayBuffer()).length, voice.length);

  // Listening receipts and the waveform PATCH, each on another node.
  assert.deepEqual(await emitAck(a1, 'audio:listening', { messageId: note.id, senderId: b.user.id }), { ok: true, status: 'listening' });
  await waitFor(b2, 'message:status', (s) => s.messageId === note.id && s.status === 'listening');
  const patched = await api(n1, 'PATCH', `/api/messages/${note.id}/waveform`, {
    token: b.token, body: { waveform: [0.1, 0.5, 1], duration: 1.5 },
  });
  assert.equal(patched.status, 200);
  await waitFor(a1, 'audio:waveform', (e) => e.messageId === note.id && e.duration === 1.5);
  await waitFor(b3, 'audio:waveform', (e) => e.messageId === note.id);
  assert.deepEqual(await emitAck(a1, 'audio:listened', { messageId: note.id, senderId: b.user.id }), { ok: true, status: 'listened' });
  await waitFor(b3, 'message:status', (s) => s.messageId === note.id && s.status === 'listened');

  // A refused event is refused the same way on any node.
  const refused = await emitAck(a1, 'message:delivered', { messageId: note.id, senderId: a.user.id });
  assert.equal(refused.ok, false);
  assert.equal(refused.error.code, 'forbidden');

  // presence:request on node 1 sees Bob, whose sessions are on nodes 2 and 3;
  // presence:update on node 2 reaches the follower on node 1.
  a1.emit('presence:request', [b.user.id]);
  await waitFor(a1, 'presence:status', (list) => list.some((p) => p.userId === b.user.id && p.status === 'online'));
  b2.emit('presence:update', { status: 'away' });
  await waitFor(a1, 'presence:status', (list) => list.some((p) => p.userId === b.user.id && p.status === 'away'));

  // Each message exactly once per session.
  await settle();
  assert.equal(receivedEvents(b2, 'message:received', (m) => m.id === id).length, 1);
  assert.equal(receivedEvents(b3, 'message:received', (m) => m.id === id).length, 1);
  assert.equal(receivedEvents(b3, 'message:received', (m) => m.id === back.message.id).length, 0, 'not to the sending session');
  assert.equal(receivedEvents(b2, 'message:received', (m) => m.id === back.message.id).length, 1);

  // A session that goes away while typing: the node it was on clears the
  // indicator for the partner on another node.
  b3.emit('typing:start', { recipientId: a.user.id });
  await waitFor(a1, 'typing:indicator', (e) => e.userId === b.user.id && e.isTyping === true);
  b3.close();
  await waitFor(a1, 'typing:indicator', (e) => e.userId === b.user.id && e.isTyping === false);
  for (const s of [a1, b2]) s.close();
});

test('a session joining on one node while another node sends gets each message once', async () => {
  const [n1, n2, n3] = nodes;
  const a = await register(n1, 'cj');
  const b = await register(n2, 'cj');
  const sa = await connect(n1, a.token);
  // Keep sending from node 1 while Bob connects over and over on nodes 2 and 3:
  // a message committed just before a join and broadcast just after it must
  // come either from the backlog or live, never both.
  const stopSending = keepSending(sa, b.user.id, 'join');
  try {
    // Acknowledged, a message leaves the backlog: each join's backlog is
    // what was sent while Bob was away, plus what is in flight.
    await assertEachOnceAcrossJoins(20, (round) => connect(round % 2 ? n3 : n2, b.token), { acknowledge: true });
  } finally {
    await stopSending();
    sa.close();
  }
});

test('a profile picture changed through one node is on the messages another node builds', async () => {
  const [n1, n2] = nodes;
  const a = await register(n1, 'cp');
  const b = await register(n2, 'cp');
  const a1 = await connect(n1, a.token);
  const b2 = await connect(n2, b.token);
  let ack = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'before' });
  assert.equal(ack.message.senderProfileImage, null);
  const photo = fs.readFileSync(new URL('./fixtures/photo.jpg', import.meta.url));
  const res = await upload(n2, '/api/users/profile-image', a.token, { image: { data: photo, name: 'me.jpg' } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const image = res.body.profileImage;
  // Node 1 cached Alice's profile when she connected; node 2's change reaches it.
  await settle();
  ack = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'after' });
  assert.equal(ack.message.senderProfileImage, image);
  const got = await waitFor(b2, 'message:received', (m) => m.id === ack.message.id);
  assert.equal(got.senderProfileImage, image);
  a1.close();
  b2.close();
});

test('a first message makes contacts follow each other on every node', async () => {
  const [n1, n2] = nodes;
  const a = await register(n1, 'cl');
  const b = await register(n2, 'cl');
  const a1 = await connect(n1, a.token);
  const b2 = await connect(n2, b.token);
  assert.equal((await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'hi' })).ok, true);
  await waitFor(b2, 'message:received');
  await settle();
  // Bob's session on node 2 joined presence:{alice} through Redis: it sees her go away.
  a1.emit('presence:update', { status: 'away' });
  await waitFor(b2, 'presence:status', (list) => list.some((p) => p.userId === a.user.id && p.status === 'away'));
  a1.close();
  b2.close();
});

test('presence is cluster-wide: one online and one offline per user, whatever the nodes', async () => {
  const [n1, n2, n3] = nodes;
  const a = await register(n1, 'cl');
  const b = await register(n1, 'cl');
  const a1 = await connect(n1, a.token);
  const first = await connect(n2, b.token);
  assert.equal((await emitAck(first, 'message:send', { recipientId: a.user.id, content: 'be my contact' })).ok, true);
  first.close();
  await waitFor(a1, 'presence:status', (l) => l.some((p) => p.userId === b.user.id && p.status === 'offline'));
  await settle();
  a1.received.length = 0;

  // Two sessions on two nodes: one online.
  const b2 = await connect(n2, b.token);
  const b3 = await connect(n3, b.token);
  await waitFor(a1, 'presence:status', (l) => l.some((p) => p.userId === b.user.id && p.status === 'online'));
  await settle();
  const changes = () => receivedEvents(a1, 'presence:status', (l) => l.some((p) => p.userId === b.user.id));
  assert.equal(changes().length, 1, 'online once');
  // REST on node 1 says lastSeen is now for a user online on other nodes.
  const seen = await api(n1, 'GET', `/api/users/${b.user.id}`, { token: a.token });
  assert.ok(Date.now() - Date.parse(seen.body.lastSeen) < 5000, seen.body.lastSeen);

  // One node's session ends: still online. The last one: offline, once, with lastSeen.
  b2.close();
  await settle();
  assert.equal(changes().length, 1, 'no offline while a session remains on another node');
  b3.close();
  const gone = await waitFor(a1, 'presence:status', (l) => l.some((p) => p.userId === b.user.id && p.status === 'offline'));
  assert.ok(gone.find((p) => p.userId === b.user.id).lastSeen);
  await settle();
  assert.equal(changes().length, 2);
  a1.close();
});

test('a node killed mid-conversation: its users go offline within 60 s, reconnect elsewhere, lose nothing', async () => {
  // The third node of the cluster dies; the rest of the file uses nodes 1 and 2.
  const [n1, , doomed] = nodes;
  const a = await register(n1, 'cl');
  const c = await register(n1, 'cl');
  const a1 = await connect(n1, a.token);
  let c4 = await connect(doomed, c.token);
  c4.on('message:received', (m) => c4.emit('message:delivered', { messageId: m.id, senderId: m.senderId }));
  const sent = [];
  for (let i = 0; i < 5; i++) {
    const ack = await emitAck(a1, 'message:send', { recipientId: c.user.id, content: `before ${i}`, clientMessageId: `b${i}` });
    sent.push(ack.message.id);
  }
  for (const id of sent) await waitFor(a1, 'message:status', (s) => s.messageId === id && s.status === 'delivered');
  a1.emit('presence:request', [c.user.id]);
  await waitFor(a1, 'presence:status', (l) => l.some((p) => p.userId === c.user.id && p.status === 'online'));

  // SIGKILL: no goodbye. Alice keeps writing.
  const killedAt = Date.now();
  await doomed.kill();
  c4.close();
  for (let i = 0; i < 5; i++) {
    const ack = await emitAck(a1, 'message:send', { recipientId: c.user.id, content: `meanwhile ${i}`, clientMessageId: `m${i}` });
    assert.equal(ack.ok, true);
    sent.push(ack.message.id);
  }
  const offline = await waitFor(a1, 'presence:status',
    (l) => l.some((p) => p.userId === c.user.id && p.status === 'offline'), 60000);
  const after = Date.now() - killedAt;
  assert.ok(after < 60000, `offline after ${after} ms`);
  const lastSeen = Date.parse(offline.find((p) => p.userId === c.user.id).lastSeen);
  assert.ok(lastSeen <= killedAt + 1000 && lastSeen > killedAt - 10000, 'lastSeen is when the node was last heard of');

  // Carol comes back on a surviving node: what was sent meanwhile arrives once.
  c4 = await connect(n1, c.token);
  for (let i = 0; i < 5; i++) await waitFor(c4, 'message:received', (m) => m.content === `meanwhile ${i}`);
  await settle();
  for (let i = 0; i < 5; i++) {
    assert.equal(receivedEvents(c4, 'message:received', (m) => m.content === `meanwhile ${i}`).length, 1);
  }
  assert.equal(receivedEvents(c4, 'message:received', (m) => m.content.startsWith('before')).length, 0,
    'what was delivered before the crash is not delivered again');
  const history = await api(n1, 'GET', `/api/messages/history?recipientId=${a.user.id}&limit=50`, { token: c.token });
  assert.deepEqual(history.body.map((m) => m.id), sent, 'stored once each, in order');
  a1.close();
  c4.close();
});

test('rate limits are shared: reconnecting to another node does not reset them', async () => {
  const limitedEnv = { ...env, CHATR_RATE_LIMITS: 'on' };
  const l1 = await startServer({ env: limitedEnv, dataDir });
  const l2 = await startServer({ env: limitedEnv, dataDir });
  extra.push(l1, l2);
  const a = await register(l1, 'cl');
  const b = await register(l1, 'cl');
  const s1 = await connect(l1, a.token);
  const s2 = await connect(l2, a.token);
  // Start at the beginning of a budget window (two seconds, see chat::limits).
  while (Math.floor(Date.now() / 1000) % 2 !== 0 || Date.now() % 1000 > 200) await new Promise((r) => setTimeout(r, 20));
  const burst = (s, n, tag) => Promise.all(Array.from({ length: n }, (_, i) =>
    emitAck(s, 'message:send', { recipientId: b.user.id, content: `${tag} ${i}` })));
  const first = await burst(s1, 150, 'node1');
  const accepted = first.filter((x) => x.ok).length;
  assert.ok(accepted >= 95 && accepted <= 105, `node 1 accepted ${accepted} of 150`);
  assert.ok(first.filter((x) => !x.ok).every((x) => x.error.code === 'rate_limited'));
  // The same user on another node: the budget is spent there too.
  const second = await burst(s2, 50, 'node2');
  assert.equal(second.filter((x) => x.ok).length, 0, 'a fresh node does not bring a fresh budget');
  s1.close();
  s2.close();
});

test('a token logged out through one node stops working on every node, and its sockets there close', async () => {
  // Node 3 died above; a fresh node takes its place here.
  const n3 = await startServer({ env, dataDir });
  extra.push(n3);
  const [n1, n2] = nodes;
  const a = await register(n1, 'cr');
  const s2 = await connect(n2, a.token);
  const s3 = await connect(n3, a.token);
  const closed = Promise.all([s2, s3].map((s) => new Promise((resolve) => s.on('disconnect', resolve))));
  assert.equal((await api(n1, 'POST', '/api/auth/logout', { token: a.token })).status, 204);
  await closed;
  for (const n of [n1, n2, n3]) {
    assert.equal((await api(n, 'GET', '/api/auth/me', { token: a.token })).status, 401);
  }
});

test('the session cap counts the sessions of a user on every node', async () => {
  const capped = [];
  const capEnv = { ...env, CHATR_MAX_SESSIONS_PER_USER: '3' };
  for (let i = 0; i < 2; i++) capped.push(await startServer({ env: capEnv, dataDir }));
  extra.push(...capped);
  const a = await register(capped[0], 'cc');
  const open = [await connect(capped[0], a.token), await connect(capped[1], a.token), await connect(capped[0], a.token)];
  const err = await connect(capped[1], a.token).then((s) => { s.close(); return null; }, (e) => e);
  assert.equal(err?.message, 'Too many sessions');
  open[0].close();
  await settle();
  const again = await connect(capped[1], a.token);
  for (const s of [...open, again]) s.close();
});

test('edits, unsends, reactions, blocks and visibility reach every node', async () => {
  const [n1, n2] = nodes;
  const a = await register(n1, 'cf');
  const b = await register(n2, 'cf');
  const a1 = await connect(n1, a.token);
  const b2 = await connect(n2, b.token);
  const { message } = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'across' });
  await waitFor(b2, 'message:received', (m) => m.id === message.id);
  await emitAck(a1, 'message:edit', { messageId: message.id, content: 'across, edited' });
  await waitFor(b2, 'message:edited', (e) => e.messageId === message.id && e.content === 'across, edited');
  await emitAck(b2, 'message:react', { messageId: message.id, emoji: '🎉' });
  await waitFor(a1, 'message:reactions', (r) => r.messageId === message.id && r.reactions.length === 1);
  await emitAck(a1, 'message:unsend', { messageId: message.id });
  await waitFor(b2, 'message:unsent', (u) => u.messageId === message.id);
  // A block made through node 1 holds on node 2 at once.
  assert.equal((await api(n1, 'POST', `/api/users/${b.user.id}/block`, { token: a.token })).status, 204);
  await settle();
  const refused = await emitAck(b2, 'message:send', { recipientId: a.user.id, content: 'still there?' });
  assert.equal(refused.error.code, 'forbidden');
  assert.equal((await api(n2, 'DELETE', `/api/users/${b.user.id}/block`, { token: a.token })).status, 204);
  await settle();
  assert.equal((await emitAck(b2, 'message:send', { recipientId: a.user.id, content: 'back' })).ok, true);
  // Visibility chosen through node 2 hides Alice from a stranger on node 1.
  const c = await register(n1, 'cf');
  const c1 = await connect(n1, c.token);
  assert.equal((await api(n2, 'PATCH', '/api/users/me', { token: a.token, body: { presenceVisibility: 'contacts' } })).status, 200);
  await settle();
  const seen = await emitAck(c1, 'presence:request', [a.user.id]);
  assert.deepEqual(seen.statuses, [{ userId: a.user.id, status: 'offline', lastSeen: null }]);
  a1.close(); b2.close(); c1.close();
});

test('Web Push: a message is pushed once by the cluster, and not while the user is connected to another node', async () => {
  // Node 3 died above; a fresh node takes its place here.
  const n3 = await startServer({ env, dataDir });
  extra.push(n3);
  const [n1, n2] = nodes;
  const key = (await api(n1, 'GET', '/api/push/vapid-public-key')).body.publicKey;
  for (const n of [n2, n3]) {
    assert.equal((await api(n, 'GET', '/api/push/vapid-public-key')).body.publicKey, key, 'one key for the cluster');
  }
  const push = await startPushService({ expectedKey: key });
  const a = await register(n1, 'cp');
  const b = await register(n2, 'cp');
  const sub = push.subscribe();
  assert.equal((await api(n3, 'POST', '/api/push/subscriptions', { token: b.token, body: sub.json })).status, 201);
  const a1 = await connect(n1, a.token);
  const b3 = await connect(n3, b.token);
  await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'while connected elsewhere' });
  await waitFor(b3, 'message:received');
  await sleep(800);
  assert.equal(sub.attempts.length, 0, 'connected on node 3: node 1 does not push');
  b3.close();
  await sleep(500);
  const away = await emitAck(a1, 'message:send', { recipientId: b.user.id, content: 'away now' });
  const deadline = Date.now() + 8000;
  while (sub.delivered.length < 1) {
    assert.ok(Date.now() < deadline, 'the push arrives');
    await sleep(50);
  }
  await sleep(1000);
  assert.equal(sub.attempts.length, 1, 'once, not once per node');
  assert.equal(sub.delivered[0].messageId, away.message.id);
  assert.deepEqual(push.errors(), []);
  a1.close();
  await push.close();
});
