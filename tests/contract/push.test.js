// Web Push (issue 14) against a real push service on loopback
// (push-service.js checks the VAPID JWT and decrypts every payload).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  api, connect, emitAck, register, sleep, startServer, waitFor,
} from './helpers.js';
import { startPushService } from './push-service.js';

let server;
let push;

before(async () => {
  server = await startServer({ env: { CHATR_PUSH_ALLOW_INSECURE: '1' } });
  const key = (await api(server, 'GET', '/api/push/vapid-public-key')).body.publicKey;
  push = await startPushService({ expectedKey: key });
});
after(async () => {
  await server.stop();
  await push.close();
});

const subscribe = (token, sub) => api(server, 'POST', '/api/push/subscriptions', { token, body: sub.json });

/** Waits until `sub` has `n` deliveries (or `attempts` attempts). */
async function until(check, what, ms = 8000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    assert.ok(Date.now() < deadline, `timed out: ${what}`);
    await sleep(50);
  }
}

describe('Web Push', () => {
  test('the VAPID public key is an uncompressed P-256 point, the same after a restart', async () => {
    const res = await api(server, 'GET', '/api/push/vapid-public-key');
    assert.equal(res.status, 200);
    const raw = Buffer.from(res.body.publicKey, 'base64url');
    assert.equal(raw.length, 65);
    assert.equal(raw[0], 4);
    const again = await startServer({ dataDir: server.dataDir, env: { JWT_SECRET: server.secret } });
    const later = await api(again, 'GET', '/api/push/vapid-public-key');
    await again.stop();
    assert.equal(later.body.publicKey, res.body.publicKey, 'kept in the data dir');
  });

  test('a user with no session gets one push per message, readable, tagged per conversation', async () => {
    const alice = await register(server, 'pa');
    const bob = await register(server, 'pb');
    const sub = push.subscribe();
    assert.equal((await subscribe(bob.token, sub)).status, 201);
    const a = await connect(server, alice.token);
    const first = await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'Are you there?' });
    const second = await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'Call me' });
    assert.ok(first.ok && second.ok);
    await until(() => sub.delivered.length >= 2, 'two pushes');
    await sleep(500);
    assert.equal(sub.delivered.length, 2, 'exactly one per message');
    const [p1, p2] = sub.delivered;
    assert.equal(p1.title, alice.user.username);
    assert.deepEqual([p1.body, p2.body].sort(), ['Are you there?', 'Call me']);
    assert.equal(p1.conversationId, alice.user.id);
    assert.equal(p1.tag, `chatr:${alice.user.id}`, 'one tag per conversation: they collapse');
    assert.equal(p2.tag, p1.tag);
    assert.deepEqual([p1.messageId, p2.messageId].sort(), [first.message.id, second.message.id].sort());
    assert.ok(sub.attempts.every((x) => x.headers.topic === sub.attempts[0].headers.topic), 'one Topic per conversation');
    assert.equal(sub.attempts[0].headers.urgency, 'high');
    assert.deepEqual(push.errors(), []);
    a.close();
  });

  test('with previews off the push says only "New message"', async () => {
    const alice = await register(server, 'pa');
    const bob = await register(server, 'pb');
    const sub = push.subscribe();
    await subscribe(bob.token, sub);
    const prefs = await api(server, 'PATCH', '/api/push/preferences', { token: bob.token, body: { previews: false } });
    assert.deepEqual(prefs.body, { previews: false });
    assert.deepEqual((await api(server, 'GET', '/api/push/preferences', { token: bob.token })).body, { previews: false });
    assert.equal((await api(server, 'PATCH', '/api/push/preferences', { token: bob.token, body: { previews: 'no' } })).status, 400);
    const a = await connect(server, alice.token);
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'secret plans' });
    await until(() => sub.delivered.length === 1, 'a push');
    assert.equal(sub.delivered[0].body, 'New message');
    assert.ok(!JSON.stringify(sub.delivered[0]).includes('secret plans'));
    assert.ok(!JSON.stringify(sub.delivered[0]).includes(alice.user.username), 'not even who');
    a.close();
  });

  test('a user with a session open anywhere gets no push', async () => {
    const alice = await register(server, 'pa');
    const bob = await register(server, 'pb');
    const sub = push.subscribe();
    await subscribe(bob.token, sub);
    const b = await connect(server, bob.token, { transport: 'polling' });
    const a = await connect(server, alice.token);
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'you are here' });
    await waitFor(b, 'message:received');
    await sleep(800);
    assert.equal(sub.attempts.length, 0);
    a.close();
    b.close();
  });

  test('410 from the push service removes the subscription; 429 is retried after Retry-After', async () => {
    const alice = await register(server, 'pa');
    const bob = await register(server, 'pb');
    const gone = push.subscribe();
    const busy = push.subscribe();
    gone.respond.push(410);
    busy.respond.push(429);
    await subscribe(bob.token, gone);
    await subscribe(bob.token, busy);
    const a = await connect(server, alice.token);
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'one' });
    await until(() => busy.delivered.length === 1, 'the retried push');
    assert.equal(busy.attempts.length, 2, 'one refusal, one retry');
    assert.ok(busy.attempts[1].at - busy.attempts[0].at >= 900, 'after Retry-After: 1');
    assert.equal(gone.attempts.length, 1);
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'two' });
    await until(() => busy.delivered.length === 2, 'the next push');
    await sleep(300);
    assert.equal(gone.attempts.length, 1, 'a gone subscription is not called again');
    a.close();
  });

  test('a message unsent while its push waits is not pushed', async () => {
    const alice = await register(server, 'pa');
    const bob = await register(server, 'pb');
    const sub = push.subscribe();
    sub.respond.push(429);
    await subscribe(bob.token, sub);
    const a = await connect(server, alice.token);
    const sent = await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'oops' });
    await until(() => sub.attempts.length === 1, 'the first attempt');
    await emitAck(a, 'message:unsend', { messageId: sent.message.id });
    await sleep(1800);
    assert.equal(sub.attempts.length, 1, 'no retry for an unsent message');
    assert.equal(sub.delivered.length, 0);
    a.close();
  });

  test("logging out removes that session's subscriptions, and only those", async () => {
    const alice = await register(server, 'pa');
    const bob = await register(server, 'pb');
    const laptop = push.subscribe();
    const phone = push.subscribe();
    const other = await api(server, 'POST', '/api/auth/login', { body: { login: bob.user.username, password: bob.password } });
    await subscribe(bob.token, laptop);
    await subscribe(other.body.token, phone);
    assert.equal((await api(server, 'POST', '/api/auth/logout', { token: bob.token })).status, 204);
    const a = await connect(server, alice.token);
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'after logout' });
    await until(() => phone.delivered.length === 1, 'the other session gets it');
    await sleep(300);
    assert.equal(laptop.attempts.length, 0);
    // Logging out everywhere takes the rest.
    await api(server, 'POST', '/api/auth/logout-all', { token: other.body.token });
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'after logout-all' });
    await sleep(800);
    assert.equal(phone.attempts.length, 1);
    a.close();
  });

  test('a new password or a deleted account takes every subscription along', async () => {
    const alice = await register(server, 'pa');
    const bob = await register(server, 'pb');
    const carol = await register(server, 'pc');
    const bobs = push.subscribe();
    const carols = push.subscribe();
    await subscribe(bob.token, bobs);
    await subscribe(carol.token, carols);
    const changed = await api(server, 'POST', '/api/auth/password', {
      token: bob.token, body: { currentPassword: bob.password, newPassword: 'Another123!' },
    });
    assert.equal(changed.status, 200);
    assert.equal((await api(server, 'DELETE', '/api/users/me', { token: carol.token, body: { password: carol.password } })).status, 204);
    const a = await connect(server, alice.token);
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'after the new password' });
    await sleep(800);
    assert.equal(bobs.attempts.length, 0);
    assert.equal(carols.attempts.length, 0);
    a.close();
  });

  test('unsubscribing stops pushes; a blocked sender causes none', async () => {
    const alice = await register(server, 'pa');
    const bob = await register(server, 'pb');
    const sub = push.subscribe();
    await subscribe(bob.token, sub);
    const removed = await api(server, 'DELETE', '/api/push/subscriptions', { token: bob.token, body: { endpoint: sub.json.endpoint } });
    assert.equal(removed.status, 204);
    const a = await connect(server, alice.token);
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'unheard' });
    await sleep(800);
    assert.equal(sub.attempts.length, 0, 'no push after unsubscribing');
    await subscribe(bob.token, sub);
    await api(server, 'POST', `/api/users/${alice.user.id}/block`, { token: bob.token });
    const refused = await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'blocked' });
    assert.equal(refused.ok, false);
    await sleep(800);
    assert.equal(sub.attempts.length, 0);
    a.close();
  });

  test('malformed subscriptions are refused with the field at fault', async () => {
    const bob = await register(server, 'pb');
    const good = push.subscribe().json;
    const cases = [
      [{}, 'endpoint'],
      [{ ...good, keys: undefined }, 'keys'],
      [{ ...good, keys: { ...good.keys, p256dh: 'AAAA' } }, 'keys.p256dh'],
      [{ ...good, keys: { ...good.keys, auth: 'AAAA' } }, 'keys.auth'],
      [{ ...good, endpoint: 'http://10.0.0.7/push' }, 'endpoint'],
      [{ ...good, endpoint: 'http://169.254.169.254/latest' }, 'endpoint'],
      [{ ...good, endpoint: `ftp://example.com/${'x'.repeat(10)}` }, 'endpoint'],
      [{ ...good, endpoint: `https://example.com/${'x'.repeat(2000)}` }, 'endpoint'],
    ];
    for (const [body, field] of cases) {
      const res = await api(server, 'POST', '/api/push/subscriptions', { token: bob.token, body });
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(res.body.field, field);
    }
    assert.equal((await api(server, 'POST', '/api/push/subscriptions', { body: good })).status, 401);
  });
});

describe('Web Push daily cap', () => {
  test('a subscription gets at most CHATR_PUSH_DAILY_CAP pushes a day', async () => {
    const capped = await startServer({ env: { CHATR_PUSH_ALLOW_INSECURE: '1', CHATR_PUSH_DAILY_CAP: '2' } });
    const key = (await api(capped, 'GET', '/api/push/vapid-public-key')).body.publicKey;
    const service = await startPushService({ expectedKey: key });
    const alice = await register(capped, 'pd');
    const bob = await register(capped, 'pd');
    const sub = service.subscribe();
    await api(capped, 'POST', '/api/push/subscriptions', { token: bob.token, body: sub.json });
    const a = await connect(capped, alice.token);
    for (let i = 0; i < 4; i += 1) await emitAck(a, 'message:send', { recipientId: bob.user.id, content: `n${i}` });
    await until(() => sub.delivered.length === 2, 'two pushes');
    await sleep(800);
    assert.equal(sub.attempts.length, 2, 'the rest wait for tomorrow');
    a.close();
    await capped.stop();
    await service.close();
  });
});

describe('Web Push without CHATR_PUSH_ALLOW_INSECURE', () => {
  test('only https endpoints at public addresses are accepted', async () => {
    const strict = await startServer();
    const bob = await register(strict, 'ps');
    const keys = push.subscribe().json.keys;
    const tryEndpoint = (endpoint) => api(strict, 'POST', '/api/push/subscriptions', { token: bob.token, body: { endpoint, keys } });
    for (const endpoint of [
      `${push.origin}/push/x`, // http
      'https://127.0.0.1/push/x',
      'https://[::1]/push/x',
      'https://10.1.2.3/push/x',
      'https://192.168.1.1/push/x',
      'https://169.254.169.254/latest/meta-data',
      'https://[fd00:ec2::254]/x',
    ]) {
      const res = await tryEndpoint(endpoint);
      assert.equal(res.status, 400, endpoint);
      assert.equal(res.body.field, 'endpoint');
    }
    assert.equal((await tryEndpoint('https://fcm.googleapis.com/fcm/send/abc')).status, 201, 'a public https endpoint');

    // A name is checked where it matters, when it is resolved to connect:
    // `localhost` passes as a name, and no connection is ever made to it.
    let connections = 0;
    const trap = net.createServer((s) => { connections += 1; s.destroy(); });
    await new Promise((r) => trap.listen(0, '127.0.0.1', r));
    assert.equal((await tryEndpoint(`https://localhost:${trap.address().port}/push/x`)).status, 201);
    await api(strict, 'DELETE', '/api/push/subscriptions', { token: bob.token, body: { endpoint: 'https://fcm.googleapis.com/fcm/send/abc' } });
    const alice = await register(strict, 'ps');
    const a = await connect(strict, alice.token);
    await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'to a trap' });
    await sleep(1500);
    assert.equal(connections, 0, 'the resolver refused the loopback address');
    a.close();
    trap.close();
    await strict.stop();
  });
});
