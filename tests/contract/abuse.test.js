// The abuse suite: what a stranger with free accounts tried against Chatr
// (issue 12), replayed against a real server on loopback. Each test names
// the attack; memory is asserted as bounds on the server's RSS with wide
// margins, never as timings.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  api, apiFrom, connect, connectError, emitAck, receivedEvents, register, rssMiB, settle, sleep,
  startServer, upload,
} from './helpers.js';

const fixture = (name) => fs.readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** A raw TCP connection; resolves once it is open. */
function tcp(server) {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: Number(port) }, () => resolve(s));
    s.on('error', reject);
  });
}

/** Resolves with how long (ms) the server took to close `socket`, or null if it did not within `limit`. */
function closedWithin(socket, limit) {
  const start = Date.now();
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), limit);
    socket.on('error', () => {});
    socket.on('close', () => { clearTimeout(t); resolve(Date.now() - start); });
    socket.resume();
  });
}

let server;
before(async () => {
  server = await startServer({
    env: { CHATR_HEADER_TIMEOUT_SECS: '2', CHATR_BODY_TIMEOUT_SECS: '2', CHATR_MAX_SESSIONS_PER_USER: '64' },
  });
});
after(async () => { await server.stop(); });

describe('1. image bombs', () => {
  test('a 255 KiB PNG of 16384 x 16384 pixels is refused as a message and as a profile picture, in little memory', async (t) => {
    const a = await register(server, 'bomb');
    const b = await register(server, 'bomb');
    const bomb = { data: fixture('bomb.png'), name: 'bomb.png', type: 'image/png' };
    const baseline = rssMiB(server);
    const results = await Promise.all([
      upload(server, '/api/messages/upload', a.token, { file: bomb, recipientId: b.user.id, type: 'image' }),
      upload(server, '/api/messages/upload', a.token, { file: bomb, recipientId: b.user.id, type: 'image' }),
      upload(server, '/api/messages/upload', a.token, { file: bomb, recipientId: b.user.id, type: 'image' }),
      upload(server, '/api/users/profile-image', a.token, { image: bomb }),
    ]);
    for (const r of results) {
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.error, /megapixels/);
    }
    t.diagnostic(`four bombs at once: RSS grew by ${rssMiB(server) - baseline} MiB`);
    assert.ok(rssMiB(server) - baseline < 200, `RSS grew by ${rssMiB(server) - baseline} MiB`);
    const history = await api(server, 'GET', `/api/messages/history?recipientId=${b.user.id}`, { token: a.token });
    assert.deepEqual(history.body, [], 'nothing was stored');
  });
});

describe('fuzzing finds', () => {
  test('an MP4 whose sample table overflowed the demuxer is refused as not audio (400, not 500)', async () => {
    const a = await register(server, 'fz');
    const b = await register(server, 'fz');
    const r = await upload(server, '/api/messages/upload', a.token, {
      file: { data: fixture('bad-stts.m4a'), name: 'v.m4a', type: 'audio/mp4' }, recipientId: b.user.id, type: 'voice',
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.field, 'file');
  });
});

describe('2. oversize frames and too many sessions', () => {
  test('WebSocket frames over 1 MiB close their connection, before the server holds them', async (t) => {
    const baseline = rssMiB(server);
    const sockets = await Promise.all(Array.from({ length: 20 }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      ws.on('open', () => resolve(ws));
      ws.on('error', reject);
    })));
    const closed = sockets.map((ws) => new Promise((resolve) => ws.on('close', (code) => resolve(code))));
    for (const ws of sockets) ws.send(`4${'x'.repeat(15 * 1024 * 1024)}`);
    const codes = await Promise.all(closed);
    assert.ok(codes.every((c) => c === 1009 || c === 1006), `close codes ${codes}`);
    t.diagnostic(`20 frames of 15 MiB: RSS grew by ${rssMiB(server) - baseline} MiB`);
    assert.ok(rssMiB(server) - baseline < 100, `RSS grew by ${rssMiB(server) - baseline} MiB`);
    assert.equal((await api(server, 'GET', '/api/health')).status, 200);
  });

  test('a long-polling POST over 1 MiB is refused with 413 and ends its session', async () => {
    const open = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    const { sid } = JSON.parse((await open.text()).slice(1));
    const post = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: 'POST', body: `4${'y'.repeat(1024 * 1024 + 10)}`,
    });
    assert.equal(post.status, 413);
    const poll = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(poll.status, 400, 'the session is gone');
  });

  test('a user past the session cap gets connect_error "Too many sessions"; others are unaffected', async () => {
    const capped = await startServer({ env: { CHATR_MAX_SESSIONS_PER_USER: '4' } });
    try {
      const a = await register(capped, 'cap');
      const b = await register(capped, 'cap');
      const mine = [];
      for (let i = 0; i < 4; i += 1) mine.push(await connect(capped, a.token));
      const refusals = await Promise.all(Array.from({ length: 30 }, () => connectError(capped, { auth: { token: a.token } })));
      assert.ok(refusals.every((e) => e.message === 'Too many sessions'), refusals.map((e) => e.message).join());
      const other = await connect(capped, b.token);
      mine[0].close();
      await sleep(200);
      mine.push(await connect(capped, a.token));
      for (const s of [...mine, other]) s.close();
    } finally {
      await capped.stop();
    }
  });
});

describe('3. HTTP timeouts and the connection cap', () => {
  test('a request whose headers never finish is closed at the header deadline', async () => {
    const s = await tcp(server);
    s.write('GET /api/health HTTP/1.1\r\nHost: x\r\n');
    const ms = await closedWithin(s, 6000);
    assert.ok(ms !== null, 'closed');
  });

  test('an idle keep-alive connection is closed', async () => {
    const s = await tcp(server);
    s.write('GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n');
    const ms = await closedWithin(s, 6000);
    assert.ok(ms !== null, 'closed after its request');
  });

  test('a stalled upload body is cut off and its temporary file removed', async () => {
    const a = await register(server, 'stall');
    const s = await tcp(server);
    const boundary = 'XyZ';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n`;
    s.write(`POST /api/messages/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\n`
      + `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 10000000\r\n\r\n${head}`);
    s.write(Buffer.alloc(64 * 1024, 1));
    const ms = await closedWithin(s, 8000);
    assert.ok(ms !== null, 'the stalled upload was cut off');
    await settle();
    const tmp = path.join(server.dataDir, 'uploads', '.tmp');
    assert.deepEqual(fs.readdirSync(tmp), [], 'no temporary file is left');
  });

  test('past the connection cap new connections are closed, and half-sent requests cannot hold the server for long', async () => {
    const capped = await startServer({ env: { CHATR_MAX_CONNECTIONS: '20', CHATR_HEADER_TIMEOUT_SECS: '2' } });
    try {
      const hogs = await Promise.all(Array.from({ length: 25 }, () => tcp(capped)));
      for (const h of hogs) h.write('GET / HTTP/1.1\r\n');
      const refused = await Promise.all(hogs.slice(20).map((h) => closedWithin(h, 1000)));
      assert.ok(refused.every((ms) => ms !== null), 'connections past the cap are closed at once');
      // The half-sent ones run out of time, and everyone else gets in again.
      await Promise.all(hogs.slice(0, 20).map((h) => closedWithin(h, 6000)));
      assert.equal((await api(capped, 'GET', '/api/health')).status, 200);
    } finally {
      await capped.stop();
    }
  });

  test('the open-file limit is raised to the hard limit', () => {
    const limits = fs.readFileSync(`/proc/${server.child.pid}/limits`, 'utf8');
    const [, soft, hard] = /Max open files\s+(\S+)\s+(\S+)/.exec(limits);
    assert.equal(soft, hard);
  });
});

describe('4. offline backlogs', () => {
  test('3,000 long messages waiting for a user cost non-reading sessions little, and an acknowledging one gets every one', async (t) => {
    const victim = await register(server, 'bl');
    const senders = await Promise.all(Array.from({ length: 10 }, () => register(server, 'bls')));
    const long = 'z'.repeat(9_980);
    await Promise.all(senders.map(async (s, i) => {
      const sock = await connect(server, s.token);
      for (let k = 0; k < 300; k += 25) {
        await Promise.all(Array.from({ length: 25 }, (_, j) =>
          emitAck(sock, 'message:send', { recipientId: victim.user.id, content: `${i}-${k + j} ${long}` })));
      }
      sock.close();
    }));
    const baseline = rssMiB(server);
    const idle = [];
    for (let i = 0; i < 40; i += 1) idle.push(await connect(server, victim.token));
    await sleep(1000);
    const grew = rssMiB(server) - baseline;
    t.diagnostic(`40 sessions with 3,000 messages waiting: RSS grew by ${grew} MiB`);
    assert.ok(grew < 200, `40 non-reading sessions grew the server by ${grew} MiB`);
    assert.ok(idle.every((s) => receivedEvents(s, 'message:received').length <= 50), 'each got one page');
    for (const s of idle) s.close();

    const reader = await connect(server, victim.token);
    const seen = new Set();
    const acknowledge = (m) => {
      seen.add(m.id);
      reader.emit('message:delivered', { messageId: m.id, senderId: m.senderId });
    };
    // The first page may arrive with the connection itself, before a
    // listener added now could hear it: those the helper recorded.
    receivedEvents(reader, 'message:received').forEach(acknowledge);
    reader.on('message:received', acknowledge);
    for (let waited = 0; seen.size < 3000 && waited < 60000; waited += 200) await sleep(200);
    assert.equal(seen.size, 3000, 'every message arrived once it was acknowledged');
    reader.close();
  });
});

describe('5 and 9. logins, registrations and tokens', () => {
  let limited;
  before(async () => { limited = await startServer({ env: { CHATR_RATE_LIMITS: 'on' } }); });
  after(async () => { await limited.stop(); });

  test('password guessing is answered 429 with Retry-After, and the owner still logs in from elsewhere', async () => {
    const a = await register(limited, 'guess');
    let res;
    for (let i = 0; i < 8; i += 1) {
      res = await apiFrom(limited, '127.0.0.1', 'POST', '/api/auth/login', { body: { login: a.user.username, password: `Wrong${i}!!` } });
    }
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    const refused = await apiFrom(limited, '127.0.0.1', 'POST', '/api/auth/login', { body: { login: a.user.username, password: a.password } });
    assert.equal(refused.status, 429, 'even the right password waits on that address');
    const owner = await apiFrom(limited, '127.0.0.2', 'POST', '/api/auth/login', { body: { login: a.user.username, password: a.password } });
    assert.equal(owner.status, 200, 'the owner elsewhere is not locked out');
  });

  test('a flood of registrations from one address is answered 429', async () => {
    const statuses = [];
    for (let i = 0; i < 8; i += 1) {
      const name = `flood${process.pid % 1000}_${i}_${Date.now() % 100000}`.slice(0, 20);
      const r = await apiFrom(limited, '127.0.0.3', 'POST', '/api/auth/register', {
        body: { username: name, email: `${name}@example.com`, password: 'Secret123!' },
      });
      statuses.push(r.status);
    }
    assert.ok(statuses.includes(429), statuses.join());
    assert.ok(statuses.slice(0, 3).every((s) => s === 201), statuses.join());
  });

  test('logout revokes the token on REST and on connect, and its open socket is disconnected', async () => {
    const a = await register(server, 'out');
    const login = await api(server, 'POST', '/api/auth/login', { body: { login: a.user.username, password: a.password } });
    const other = login.body.token;
    const s = await connect(server, a.token);
    const gone = new Promise((resolve) => s.on('disconnect', resolve));
    assert.equal((await api(server, 'POST', '/api/auth/logout', { token: a.token })).status, 204);
    await gone;
    assert.equal((await api(server, 'GET', '/api/auth/me', { token: a.token })).status, 401);
    const err = await connectError(server, { auth: { token: a.token } });
    assert.match(err.message, /^Authentication error: token revoked/);
    assert.equal((await api(server, 'GET', '/api/auth/me', { token: other })).status, 200, 'the other token still works');
  });

  test('logout-all and a password change revoke every earlier token; the new one works', async () => {
    const a = await register(server, 'all');
    const second = (await api(server, 'POST', '/api/auth/login', { body: { login: a.user.username, password: a.password } })).body.token;
    const s1 = await connect(server, a.token);
    const s2 = await connect(server, second);
    const both = Promise.all([s1, s2].map((s) => new Promise((resolve) => s.on('disconnect', resolve))));
    assert.equal((await api(server, 'POST', '/api/auth/logout-all', { token: second })).status, 204);
    await both;
    assert.equal((await api(server, 'GET', '/api/auth/me', { token: second })).status, 401);
    const fresh = (await api(server, 'POST', '/api/auth/login', { body: { login: a.user.username, password: a.password } })).body.token;
    const wrong = await api(server, 'POST', '/api/auth/password', { token: fresh, body: { currentPassword: 'Nope123!', newPassword: 'Other456!' } });
    assert.equal(wrong.status, 401);
    const weak = await api(server, 'POST', '/api/auth/password', { token: fresh, body: { currentPassword: a.password, newPassword: 'weak' } });
    assert.equal(weak.status, 400);
    assert.equal(weak.body.field, 'newPassword');
    const changed = await api(server, 'POST', '/api/auth/password', { token: fresh, body: { currentPassword: a.password, newPassword: 'Other456!' } });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.user.id, a.user.id);
    assert.equal((await api(server, 'GET', '/api/auth/me', { token: fresh })).status, 401, 'the token used for the change is revoked too');
    assert.equal((await api(server, 'GET', '/api/auth/me', { token: changed.body.token })).status, 200);
    const old = await api(server, 'POST', '/api/auth/login', { body: { login: a.user.username, password: a.password } });
    assert.equal(old.status, 401);
    const s3 = await connect(server, changed.body.token);
    s3.close();
  });
});

describe('6. searching for hidden emails', () => {
  test('a part of an email never matches; the whole email does; a NUL is refused', async () => {
    const victim = await register(server, 'vic');
    const seeker = await register(server, 'seek');
    const email = `${victim.user.username}@example.com`;
    // Every part that reaches into the email (a username's own letters do match).
    for (const part of ['@', '@example.com', email.slice(-15), email.slice(0, -1), email.slice(3)]) {
      const r = await api(server, 'GET', `/api/users/search?q=${encodeURIComponent(part)}`, { token: seeker.token });
      assert.equal(r.status, 200);
      assert.ok(!r.body.some((u) => u.id === victim.user.id), `"${part}" found the victim`);
    }
    const whole = await api(server, 'GET', `/api/users/search?q=${encodeURIComponent(email.toUpperCase())}`, { token: seeker.token });
    assert.deepEqual(whole.body.map((u) => u.id), [victim.user.id]);
    assert.equal(whole.body[0].email, undefined, 'and the email is still not shown');
    const nul = await api(server, 'GET', '/api/users/search?q=%00', { token: seeker.token });
    assert.equal(nul.status, 400);
  });
});

describe('7 and 8. floods and storage', () => {
  let limited;
  before(async () => {
    limited = await startServer({ env: { CHATR_RATE_LIMITS: 'on', CHATR_STORAGE_QUOTA_BYTES: String(3 * 1024 * 1024) } });
  });
  after(async () => { await limited.stop(); });

  test('presence toggles, receipts and presence requests are rate-limited, and contacts see few of the toggles', async () => {
    const a = await register(limited, 'tog');
    const b = await register(limited, 'tog');
    const sa = await connect(limited, a.token);
    const sb = await connect(limited, b.token);
    const { message } = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'hi' });
    await settle();
    const toggles = await Promise.all(Array.from({ length: 300 }, (_, i) =>
      emitAck(sa, 'presence:update', { status: i % 2 ? 'online' : 'offline' })));
    assert.ok(toggles.filter((x) => !x.ok && x.error.code === 'rate_limited').length > 250);
    await settle();
    assert.ok(receivedEvents(sb, 'presence:status').length < 30, 'the contact heard few toggles');
    const reads = await Promise.all(Array.from({ length: 500 }, () =>
      emitAck(sb, 'message:read', { messageId: message.id, senderId: a.user.id })));
    assert.ok(reads.some((x) => !x.ok && x.error.code === 'rate_limited'));
    const requests = await Promise.all(Array.from({ length: 50 }, () => emitAck(sa, 'presence:request', [b.user.id])));
    assert.ok(requests.some((x) => !x.ok && x.error.code === 'rate_limited'));
    const search = [];
    for (let i = 0; i < 40; i += 1) search.push((await api(limited, 'GET', '/api/users/search?q=tog', { token: a.token })).status);
    assert.ok(search.includes(429));
    sa.close(); sb.close();
  });

  test('uploads are limited in number and stored bytes count against a quota', async () => {
    const a = await register(limited, 'quo');
    const b = await register(limited, 'quo');
    const mib = { data: Buffer.alloc(1024 * 1024, 7), name: 'x.bin' };
    const statuses = [];
    for (let i = 0; i < 4; i += 1) {
      const r = await upload(limited, '/api/messages/upload', a.token, { file: mib, recipientId: b.user.id, type: 'file' });
      statuses.push(r.status);
      // Refused before its body is read, the body is still read to its end:
      // the client sends it whole, then reads the answer.
      assert.equal(r.broken, undefined, `upload ${i + 1} (${r.status}) could not send its body`);
      if (r.status === 413) assert.match(r.body.error, /quota/);
    }
    assert.deepEqual(statuses.slice(0, 2), [201, 201]);
    assert.equal(statuses[3], 413, statuses.join());
    const small = { data: Buffer.from('hello'), name: 'h.txt' };
    const burst = await Promise.all(Array.from({ length: 30 }, () =>
      upload(limited, '/api/messages/upload', b.token, { file: small, recipientId: a.user.id, type: 'file' })));
    assert.ok(burst.some((r) => r.status === 429), burst.map((r) => r.status).join());
  });
});

describe('10. the smaller ones', () => {
  // (A user deleted from the database cannot connect: crates/chatr/tests/messaging.rs.)
  test('an upload refused before its body is read still reaches the client as the answer', async () => {
    const b = await register(server, 'del');
    // A refused upload (bad token) with a body: fetch sees the 401, not a broken pipe.
    const form = new FormData();
    form.append('recipientId', b.user.id);
    form.append('type', 'file');
    form.append('file', new Blob([Buffer.alloc(200 * 1024, 1)]), 'x.bin');
    const res = await fetch(`${server.url}/api/messages/upload`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: form });
    assert.equal(res.status, 401);
  });

  test('a large upload refused before its body is read is still read to its end, so the client gets the answer', async () => {
    const b = await register(server, 'lin');
    // Far more than the socket buffers hold: closing with it unread would
    // break the client's send (EPIPE, then a reset that can lose the answer).
    const big = { data: Buffer.alloc(20 * 1024 * 1024, 1), name: 'big.bin' };
    const refused = await upload(server, '/api/messages/upload', 'nope', { file: big, recipientId: b.user.id, type: 'file' });
    assert.equal(refused.status, 401);
    assert.equal(refused.broken, undefined, 'the body was sent whole');
    assert.equal(refused.headers.get('connection'), 'close', 'and the connection is not kept for another request');
    assert.equal(refused.headers.get('keep-alive'), null, 'nor said to be');
    const after = await api(server, 'GET', '/api/users/search?q=lin', { token: b.token });
    assert.equal(after.status, 200);
    // A refusal with no body to read keeps the connection.
    const bare = await api(server, 'GET', '/api/users/search?q=lin', { token: 'nope' });
    assert.equal(bare.status, 401);
    assert.notEqual(bare.headers.get('connection'), 'close');
  });

  test('at most 64 refused bodies are read after their answer at once, each only while it keeps the minimum rate', async () => {
    // 72 refused uploads (bad token) that send 64 KiB of the 4 MiB they
    // announce and then stall: 64 are read on after their 401, the rest
    // closed at once; the 64 go when they fall below the minimum rate (2 s here).
    const head = 'POST /api/messages/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n'
      + `Content-Type: application/octet-stream\r\nContent-Length: ${4 * 1024 * 1024}\r\n\r\n`;
    const sockets = await Promise.all(Array.from({ length: 72 }, () => tcp(server)));
    const answered = sockets.map((s) => new Promise((resolve) => s.once('data', (d) => resolve(String(d).split(' ')[1]))));
    const closedAt = sockets.map((s) => closedWithin(s, 8000));
    for (const s of sockets) s.write(head + 'x'.repeat(64 * 1024));
    assert.deepEqual(new Set(await Promise.all(answered)), new Set(['401']), 'each gets its answer');
    const closed = await Promise.all(closedAt);
    assert.equal(closed.filter((ms) => ms < 1000).length, 8, `closed at once: ${closed.join()}`);
    assert.ok(closed.every((ms) => ms !== null), 'the stalled bodies are dropped at the minimum rate');
  });

  test('unfinished uploads a crash left are removed at start; CORS * starts; files are private and honest', async () => {
    const dir = server.dataDir;
    const other = await startServer({ env: { CHATR_CORS_ORIGINS: '*' } });
    try {
      const pre = await fetch(`${other.url}/api/auth/login`, {
        method: 'OPTIONS', headers: { origin: 'http://x.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(pre.headers.get('access-control-allow-origin'), '*');
      const left = path.join(other.dataDir, 'uploads', '.tmp', 'left-over');
      fs.writeFileSync(left, 'half an upload');
      const { dataDir } = other;
      await other.stop();
      const again = await startServer({ dataDir });
      assert.equal(fs.existsSync(left), false);
      await again.stop();
    } catch (e) {
      await other.stop();
      throw e;
    }
    const a = await register(server, 'file');
    const b = await register(server, 'file');
    const sent = await upload(server, '/api/messages/upload', a.token, {
      file: { data: Buffer.from('MZ'), name: 'report\u202egpj.exe' }, recipientId: b.user.id, type: 'file',
    });
    assert.equal(sent.status, 201);
    assert.equal(sent.body.message.fileName, 'reportgpj.exe', 'no directional override in a file name');
    const file = await fetch(server.url + sent.body.fileUrl);
    assert.match(file.headers.get('cache-control'), /^private/);
    const missing = sent.body.fileUrl.replace(/[0-9a-f]{8}-/, '00000000-');
    const star = await fetch(server.url + missing, { headers: { 'if-none-match': '*' } });
    assert.equal(star.status, 404, 'If-None-Match: * does not make a missing file exist');
    assert.ok(fs.existsSync(dir));
  });

  test('content of only zero-width characters is empty; the page is served with its security headers', async () => {
    const a = await register(server, 'zw');
    const b = await register(server, 'zw');
    const s = await connect(server, a.token);
    const ack = await emitAck(s, 'message:send', { recipientId: b.user.id, content: '\u200b\u200d\ufeff' });
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'invalid_payload');
    s.close();
    const page = await fetch(`${server.url}/`);
    assert.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  });

  test('a data dir that cannot be written stops the server at start, saying so', async () => {
    await assert.rejects(startServer({ env: { CHATR_DATA_DIR: '/proc/chatr-cannot-write' }, dataDir: '/proc/chatr-cannot-write' }), /chatr-cannot-write/);
  });
});
