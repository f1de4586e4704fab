// Contract §2 and §3: the REST API.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  MESSAGE_KEYS, TS_RE, UUID_RE, api, connect, emitAck, register, startServer, uniqueName, waitFor,
} from './helpers.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

describe('health', () => {
  test('health answers ok with a timestamp and needs no token', async () => {
    const res = await api(server, 'GET', '/api/health');
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ok');
    assert.match(res.body.timestamp, TS_RE);
  });
});

describe('register', () => {
  test('register returns 201 with a token and the own user record including email', async () => {
    const username = uniqueName('reg');
    const res = await api(server, 'POST', '/api/auth/register', {
      body: { username, email: `${username}@Example.com`, password: 'Secret123' },
    });
    assert.equal(res.status, 201);
    assert.equal(typeof res.body.token, 'string');
    // The own record also says who sees one's presence (contract §6).
    assert.deepEqual(Object.keys(res.body.user).sort(), ['createdAt', 'email', 'id', 'lastSeen', 'presenceVisibility', 'profileImage', 'username']);
    assert.equal(res.body.user.presenceVisibility, 'everyone');
    assert.match(res.body.user.id, UUID_RE);
    assert.equal(res.body.user.username, username);
    assert.equal(res.body.user.profileImage, null);
    assert.match(res.body.user.createdAt, TS_RE);
    const [, claims] = res.body.token.split('.');
    const decoded = JSON.parse(Buffer.from(claims, 'base64url').toString());
    assert.equal(decoded.userId, res.body.user.id);
    assert.equal(decoded.username, username);
    assert.equal(decoded.exp - decoded.iat, 7 * 24 * 3600, 'default lifetime is 7 days');
    const header = JSON.parse(Buffer.from(res.body.token.split('.')[0], 'base64url').toString());
    assert.equal(header.alg, 'HS256');
  });

  const invalid = [
    ['username', { username: 'ab' }],
    ['username', { username: 'a'.repeat(21) }],
    ['username', { username: 'bad name' }],
    ['username', { username: 42 }],
    ['username', { username: undefined }],
    ['email', { email: 'not-an-email' }],
    ['email', { email: undefined }],
    ['password', { password: 'Short1' }],
    ['password', { password: 'nouppercase1' }],
    ['password', { password: 'NoDigitOrSpecial' }],
    ['password', { password: undefined }],
  ];
  for (const [field, override] of invalid) {
    test(`register rejects an invalid ${field} (${JSON.stringify(override)}) with 400 and the field`, async () => {
      const username = uniqueName('inv');
      const body = { username, email: `${username}@example.com`, password: 'Secret123', ...override };
      const res = await api(server, 'POST', '/api/auth/register', { body });
      assert.equal(res.status, 400);
      assert.equal(res.body.field, field);
      assert.equal(typeof res.body.error, 'string');
    });
  }

  test('a taken username (any case) or email is 409', async () => {
    const { user } = await register(server, 'dup');
    const upper = user.username.toUpperCase();
    let res = await api(server, 'POST', '/api/auth/register', {
      body: { username: upper, email: `other_${user.username}@example.com`, password: 'Secret123' },
    });
    assert.equal(res.status, 409);
    assert.equal(res.body.field, 'username');
    res = await api(server, 'POST', '/api/auth/register', {
      body: { username: uniqueName('dup2'), email: user.email.toUpperCase(), password: 'Secret123' },
    });
    assert.equal(res.status, 409);
    assert.equal(res.body.field, 'email');
  });

  test('a body that is not JSON is a 400 JSON error', async () => {
    const res = await api(server, 'POST', '/api/auth/register', { raw: '{"username": ' });
    assert.equal(res.status, 400);
    assert.equal(typeof res.body.error, 'string');
  });
});

describe('login', () => {
  test('login works by username, by email (any case) and with the email/username fields', async () => {
    const { user, password } = await register(server, 'log');
    for (const body of [
      { login: user.username, password },
      { login: user.email.toUpperCase(), password },
      { email: user.email, password },
      { username: user.username, password },
    ]) {
      const res = await api(server, 'POST', '/api/auth/login', { body });
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(res.body.user.id, user.id);
      assert.equal(res.body.user.email, user.email);
      assert.equal(typeof res.body.token, 'string');
    }
  });

  test('a wrong password and an unknown user get the same 401', async () => {
    const { user } = await register(server, 'log');
    const wrong = await api(server, 'POST', '/api/auth/login', { body: { login: user.username, password: 'Wrong123!' } });
    const unknown = await api(server, 'POST', '/api/auth/login', { body: { login: 'nobody_here_x', password: 'Wrong123!' } });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.body.error, unknown.body.error);
  });

  test('login without a login field is a 400', async () => {
    const res = await api(server, 'POST', '/api/auth/login', { body: { password: 'x' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.field, 'login');
  });
});

describe('me and bearer tokens', () => {
  test('/me returns the own record with email', async () => {
    const { token, user } = await register(server, 'me');
    const res = await api(server, 'GET', '/api/auth/me', { token });
    assert.equal(res.status, 200);
    assert.equal(res.body.id, user.id);
    assert.equal(res.body.email, user.email);
  });

  test('a missing, malformed or forged token is a 401 JSON error', async () => {
    const { token } = await register(server, 'me');
    for (const headers of [{}, { authorization: 'Bearer' }, { authorization: 'Basic abc' }, { authorization: `Bearer ${token}x` }]) {
      const res = await api(server, 'GET', '/api/auth/me', { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(typeof res.body.error, 'string');
    }
  });
});

describe('users', () => {
  test('the user list excludes the caller and hides other users\' email', async () => {
    const a = await register(server, 'lst');
    await register(server, 'lst');
    const res = await api(server, 'GET', '/api/users?limit=200', { token: a.token });
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.body));
    assert.ok(res.body.length >= 1);
    assert.ok(res.body.every((u) => u.id !== a.user.id));
    assert.ok(res.body.every((u) => !('email' in u)));
    const page = await api(server, 'GET', '/api/users?limit=1&offset=0', { token: a.token });
    assert.equal(page.body.length, 1);
  });

  test('search matches username or email case-insensitively, never the caller', async () => {
    const a = await register(server, 'srch');
    const b = await register(server, 'srch');
    const needle = b.user.username.slice(-6).toUpperCase();
    let res = await api(server, 'GET', `/api/users/search?q=${encodeURIComponent(needle)}`, { token: a.token });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.map((u) => u.id), [b.user.id]);
    res = await api(server, 'GET', `/api/users/search?q=${encodeURIComponent(a.user.username)}`, { token: a.token });
    assert.ok(res.body.every((u) => u.id !== a.user.id));
    res = await api(server, 'GET', '/api/users/search?q=%25', { token: a.token });
    assert.deepEqual(res.body, [], 'LIKE wildcards are matched literally');
  });

  test('one user by id; unknown and malformed ids are 404', async () => {
    const a = await register(server, 'one');
    const b = await register(server, 'one');
    let res = await api(server, 'GET', `/api/users/${b.user.id}`, { token: a.token });
    assert.equal(res.status, 200);
    assert.equal(res.body.username, b.user.username);
    assert.ok(!('email' in res.body));
    res = await api(server, 'GET', `/api/users/${crypto.randomUUID()}`, { token: a.token });
    assert.equal(res.status, 404);
    res = await api(server, 'GET', '/api/users/not-a-uuid', { token: a.token });
    assert.equal(res.status, 404);
    assert.equal(typeof res.body.error, 'string');
  });

  test('an online user\'s lastSeen is the current time', async () => {
    const a = await register(server, 'ls');
    const b = await register(server, 'ls');
    const s = await connect(server, b.token);
    const res = await api(server, 'GET', `/api/users/${b.user.id}`, { token: a.token });
    assert.ok(Math.abs(Date.parse(res.body.lastSeen) - Date.now()) < 5000);
    s.close();
  });
});

describe('conversations and history', () => {
  async function pair() {
    const a = await register(server, 'cv');
    const b = await register(server, 'cv');
    const sa = await connect(server, a.token);
    return { a, b, sa };
  }
  const send = (socket, recipientId, content) =>
    emitAck(socket, 'message:send', { recipientId, content }).then((ack) => { assert.ok(ack.ok, JSON.stringify(ack)); return ack.message; });

  test('history is oldest first, pages backwards by id or timestamp, and marks nothing read', async () => {
    const { a, b, sa } = await pair();
    const sb = await connect(server, b.token);
    const sent = [];
    // Both directions interleave: pages must merge them in order.
    for (let i = 0; i < 5; i += 1) sent.push(await (i % 2 ? send(sb, a.user.id, `m${i}`) : send(sa, b.user.id, `m${i}`)));
    let res = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}`, { token: b.token });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.map((m) => m.content), ['m0', 'm1', 'm2', 'm3', 'm4']);
    assert.deepEqual(Object.keys(res.body[0]).sort(), MESSAGE_KEYS);
    res = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}&limit=2`, { token: b.token });
    assert.deepEqual(res.body.map((m) => m.content), ['m3', 'm4']);
    res = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}&limit=2&before=${sent[3].id}`, { token: b.token });
    assert.deepEqual(res.body.map((m) => m.content), ['m1', 'm2']);
    res = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}&before=${encodeURIComponent(sent[1].createdAt)}`, { token: b.token });
    assert.ok(res.body.every((m) => m.createdAt < sent[1].createdAt));
    const conv = await api(server, 'GET', '/api/messages/conversations', { token: b.token });
    assert.equal(conv.body[0].unreadCount, 3, 'reading history marks nothing as read');
    assert.ok(res.body.every((m) => m.status === 'sent'));
    sa.close(); sb.close();
  });

  test('history rejects a bad recipientId, a bad cursor, and a cursor from another conversation', async () => {
    const { a, b, sa } = await pair();
    const c = await register(server, 'cv');
    const other = await send(sa, c.user.id, 'elsewhere');
    for (const q of ['', 'recipientId=nope', `recipientId=${a.user.id}&before=yesterday`, `recipientId=${a.user.id}&limit=abc`]) {
      const res = await api(server, 'GET', `/api/messages/history?${q}`, { token: b.token });
      assert.equal(res.status, 400, q);
      assert.equal(typeof res.body.error, 'string');
    }
    const res = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}&before=${other.id}`, { token: b.token });
    assert.equal(res.status, 400);
    sa.close();
  });

  test('unread counts are per partner, delivered still counts, unsent does not', async () => {
    const { a, b, sa } = await pair();
    const c = await register(server, 'uc');
    const sc = await connect(server, c.token);
    await send(sa, b.user.id, 'a to b 1');
    const delivered = await send(sa, b.user.id, 'a to b 2');
    await send(sc, b.user.id, 'c to b 1');
    await send(sc, b.user.id, 'c to b 2');
    const unsent = await send(sc, b.user.id, 'c to b 3');
    assert.equal((await emitAck(sc, 'message:unsend', { messageId: unsent.id })).ok, true);
    const sb = await connect(server, b.token);
    const ack = await emitAck(sb, 'message:delivered', { messageId: delivered.id, senderId: a.user.id });
    assert.deepEqual(ack, { ok: true, status: 'delivered' });
    const counts = async () => {
      const res = await api(server, 'GET', '/api/messages/conversations', { token: b.token });
      assert.equal(res.status, 200);
      return Object.fromEntries(res.body.map((r) => [r.user.id, r.unreadCount]));
    };
    assert.deepEqual(await counts(), { [a.user.id]: 2, [c.user.id]: 2 });
    await emitAck(sb, 'message:read', { messageId: delivered.id, senderId: a.user.id });
    assert.deepEqual(await counts(), { [a.user.id]: 1, [c.user.id]: 2 });
    // A receipt for a message already read counts nothing twice.
    await emitAck(sb, 'message:read', { messageId: delivered.id, senderId: a.user.id });
    assert.deepEqual(await counts(), { [a.user.id]: 1, [c.user.id]: 2 });
    sa.close(); sb.close(); sc.close();
  });

  test('conversations list one row per partner, newest first, with unread counts', async () => {
    const { a, b, sa } = await pair();
    const c = await register(server, 'cv');
    await send(sa, b.user.id, 'to b');
    await send(sa, c.user.id, 'to c 1');
    const last = await send(sa, c.user.id, 'to c 2');
    let res = await api(server, 'GET', '/api/messages/conversations', { token: a.token });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.map((r) => r.user.id), [c.user.id, b.user.id]);
    assert.equal(res.body[0].lastMessage.id, last.id);
    assert.deepEqual(Object.keys(res.body[0].lastMessage).sort(), MESSAGE_KEYS);
    assert.equal(res.body[0].unreadCount, 0, 'own messages are not unread');
    assert.ok(!('email' in res.body[0].user));

    const sc = await connect(server, c.token);
    res = await api(server, 'GET', '/api/messages/conversations', { token: c.token });
    assert.equal(res.body.length, 1);
    assert.equal(res.body[0].unreadCount, 2);
    const ack = await emitAck(sc, 'message:read', { messageId: last.id, senderId: a.user.id });
    assert.deepEqual(ack, { ok: true, status: 'read' });
    res = await api(server, 'GET', '/api/messages/conversations', { token: c.token });
    assert.equal(res.body[0].unreadCount, 1);
    // The receipt moved the message it names, and only that one.
    const hist = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}`, { token: c.token });
    const byId = new Map(hist.body.map((m) => [m.id, m]));
    assert.equal(byId.get(last.id).status, 'read');
    assert.match(byId.get(last.id).readAt, TS_RE);
    const other = hist.body.find((m) => m.id !== last.id);
    assert.notEqual(other.status, 'read');
    assert.equal(other.readAt, null);
    sa.close(); sc.close();
  });
});

describe('errors', () => {
  test('unknown API paths and wrong methods answer JSON errors', async () => {
    let res = await api(server, 'GET', '/api/nope');
    assert.equal(res.status, 404);
    assert.equal(typeof res.body.error, 'string');
    res = await api(server, 'DELETE', '/api/health');
    assert.equal(res.status, 405);
    assert.equal(typeof res.body.error, 'string');
  });

  test('message:received reaches a listener registered before the REST call returns', async () => {
    // guards the helper itself: waitFor sees events that arrived before it was called
    const a = await register(server, 'h');
    const b = await register(server, 'h');
    const sa = await connect(server, a.token);
    const sb = await connect(server, b.token);
    await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'early' });
    await new Promise((r) => setTimeout(r, 200));
    const m = await waitFor(sb, 'message:received');
    assert.equal(m.content, 'early');
    sa.close(); sb.close();
  });
});

describe('CORS', () => {
  test('configured origins are allowed cross-origin, others are not', async () => {
    const cors = await startServer({ env: { CHATR_CORS_ORIGINS: 'http://app.example,http://other.example' } });
    try {
      const preflight = (origin) => fetch(`${cors.url}/api/auth/login`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      let res = await preflight('http://app.example');
      assert.equal(res.headers.get('access-control-allow-origin'), 'http://app.example');
      res = await preflight('http://evil.example');
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      res = await fetch(`${cors.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'http://other.example' } });
      assert.equal(res.headers.get('access-control-allow-origin'), 'http://other.example', 'the Socket.IO endpoint too');
    } finally {
      await cors.stop();
    }
  });

  test('with no origins configured, cross-origin requests get no CORS grant', async () => {
    const res = await fetch(`${server.url}/api/health`, { headers: { origin: 'http://evil.example' } });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });
});
