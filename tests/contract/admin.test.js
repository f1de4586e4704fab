// `chatr admin …` against a running server (and with none running), and the
// same operations over REST for users with the role `admin`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  adminCli, api, connect, register, sleep, startServer, tempDir, uniqueName,
} from './helpers.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

const admin = adminCli;

const login = (srv, name, password) => api(srv, 'POST', '/api/auth/login', { body: { login: name, password } });

describe('chatr admin', () => {
  test('create, list, reset a password, disable and enable, delete — on a running server', async () => {
    const name = uniqueName('adm');
    const made = await admin(server, ['create', name, `${name}@example.com`]);
    assert.equal(made.code, 0, made.stderr);
    const password = /password: (\S+)/.exec(made.stdout)[1];
    let res = await login(server, name, password);
    assert.equal(res.status, 200, 'the generated password works');
    const token = res.body.token;

    const listed = await admin(server, ['users', name]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${name}\\s+${name}@example.com\\s+user`));

    // Disabling ends the open session at once and refuses logins.
    const socket = await connect(server, token);
    const gone = new Promise((resolve) => socket.once('disconnect', resolve));
    const disabled = await admin(server, ['disable', name]);
    assert.equal(disabled.code, 0, disabled.stderr);
    await Promise.race([gone, sleep(3000).then(() => { throw new Error('the session stayed'); })]);
    res = await login(server, name, password);
    assert.equal(res.status, 403);
    assert.match(res.body.error, /disabled/);
    assert.equal((await api(server, 'GET', '/api/auth/me', { token })).status, 401, 'its tokens are revoked');
    assert.equal((await admin(server, ['enable', name])).code, 0);
    assert.equal((await login(server, name, password)).status, 200);

    const reset = await admin(server, ['reset-password', name]);
    assert.equal(reset.code, 0, reset.stderr);
    const fresh = /new password for \S+: (\S+)/.exec(reset.stdout)[1];
    assert.equal((await login(server, name, password)).status, 401, 'the old password no longer works');
    assert.equal((await login(server, name, fresh)).status, 200);

    const stats = await admin(server, ['stats']);
    assert.equal(stats.code, 0, stats.stderr);
    assert.ok(JSON.parse(stats.stdout).users >= 1);

    assert.equal((await admin(server, ['delete', name])).code, 0);
    assert.equal((await login(server, name, fresh)).status, 401);
    const none = await admin(server, ['disable', name]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no account/);
  });

  test('the admin role opens /api/admin over REST; others get 403, no token 401', async () => {
    const boss = await register(server, 'boss');
    const plain = await register(server, 'plain');
    assert.equal((await api(server, 'GET', '/api/admin/stats', { token: plain.token })).status, 403);
    assert.equal((await api(server, 'GET', '/api/admin/stats')).status, 401);
    assert.equal((await admin(server, ['role', boss.user.username, 'admin'])).code, 0);
    const stats = await api(server, 'GET', '/api/admin/stats', { token: boss.token });
    assert.equal(stats.status, 200);
    assert.equal(typeof stats.body.messages, 'number');
    const found = await api(server, 'GET', `/api/admin/users?q=${plain.user.username}`, { token: boss.token });
    assert.equal(found.status, 200);
    assert.equal(found.body[0].email, plain.user.email, 'an admin sees emails');
    const off = await api(server, 'POST', `/api/admin/users/${plain.user.id}/disable`, { token: boss.token });
    assert.equal(off.status, 204);
    assert.equal((await login(server, plain.user.username, plain.password)).status, 403);
  });

  test('with no server running, admin starts one on the same data', async () => {
    const offline = { dataDir: tempDir('chatr-admin-'), secret: server.secret };
    const name = uniqueName('off');
    const made = await admin(offline, ['create', name, `${name}@example.com`, '--password', 'Secret123!']);
    assert.equal(made.code, 0, made.stderr);
    const later = await startServer({ dataDir: offline.dataDir, env: { JWT_SECRET: server.secret } });
    try {
      assert.equal((await login(later, name, 'Secret123!')).status, 200);
    } finally {
      await later.stop();
    }
  });
});
