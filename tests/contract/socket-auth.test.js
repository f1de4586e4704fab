// Contract §2: the token is checked on every Socket.IO connection attempt.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect, connectError, emitAck, register, signToken, startServer } from './helpers.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

const now = () => Math.floor(Date.now() / 1000);

for (const transport of ['websocket', 'polling']) {
  test(`[${transport}] a valid token in auth.token connects`, async () => {
    const { token } = await register(server, 'sa');
    const s = await connect(server, token, { transport });
    assert.ok(s.connected);
    s.close();
  });

  test(`[${transport}] a missing, forged, expired, non-HS256 or unknown-user token is refused with Authentication error`, async () => {
    const { user } = await register(server, 'sa');
    const claims = { userId: user.id, username: user.username, iat: now(), exp: now() + 3600 };
    const cases = [
      ['missing', {}],
      ['garbage', { token: 'not.a.jwt' }],
      ['forged', { token: signToken('x'.repeat(32), claims) }],
      ['expired', { token: signToken(server.secret, { ...claims, iat: now() - 7200, exp: now() - 3600 }) }, /expired/],
      ['HS512', { token: signToken(server.secret, claims, 'HS512') }],
      ['alg none', { token: signToken(server.secret, claims, 'none') }],
      ['unknown user', { token: signToken(server.secret, { ...claims, userId: crypto.randomUUID() }) }],
    ];
    for (const [name, auth, extra] of cases) {
      const err = await connectError(server, { transport, auth });
      assert.match(err.message, /^Authentication error/, name);
      if (extra) assert.match(err.message, extra, name);
    }
  });
}

test('the token is also accepted from the Authorization header of the handshake', async () => {
  const { token } = await register(server, 'sa');
  const s = await connect(server, undefined, { auth: {}, extraHeaders: { authorization: `Bearer ${token}` }, transport: 'polling' });
  assert.ok(s.connected);
  s.close();
});

test('the default client setup (polling, then upgrade to WebSocket) works', async () => {
  const a = await register(server, 'up');
  const b = await register(server, 'up');
  const s = await connect(server, a.token, { transport: 'upgrade' });
  await new Promise((resolve) => { if (s.io.engine.transport.name === 'websocket') resolve(); else s.io.engine.once('upgrade', resolve); });
  const ack = await emitAck(s, 'message:send', { recipientId: b.user.id, content: 'after upgrade' });
  assert.equal(ack.ok, true);
  s.close();
});

test('a reconnect presents the token again: it is checked every time', async () => {
  const { user, token } = await register(server, 'rc');
  const s = await connect(server, token);
  s.close();
  const expired = signToken(server.secret, { userId: user.id, username: user.username, iat: now() - 10, exp: now() - 8 });
  await new Promise((r) => setTimeout(r, 10));
  const err = await connectError(server, { auth: { token: expired } });
  assert.match(err.message, /^Authentication error: token expired/);
});
