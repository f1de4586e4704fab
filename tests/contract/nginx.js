// Chatr behind nginx with the reference configuration (deploy/nginx.conf):
// the official client over WebSocket, long-polling and the upgrade, a 50 MiB
// upload, and throttles that key on the client nginx names in
// X-Forwarded-For. Run by `make test-proxy` (Debian's nginx), not by the
// ordinary suite. Addresses: clients on 127.0.0.1 and 127.0.0.4, nginx on
// 127.0.0.2, nginx to Chatr from 127.0.0.3 (the one trusted proxy).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  apiFrom, connect, emitAck, startServer, tempDir, uniqueName, upload, waitFor,
} from './helpers.js';

const freePort = (host) => new Promise((resolve) => {
  const s = net.createServer().listen(0, host, () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

let chatr;
let nginx;
let clients = 0;

/** Registers from an address of its own (127.0.1.N): registrations are
 * throttled per client address, which nginx names. */
async function register(srv, prefix) {
  clients += 1;
  const username = uniqueName(prefix);
  const password = 'Secret123!';
  const res = await apiFrom(srv, `127.0.1.${clients}`, 'POST', '/api/auth/register', {
    body: { username, email: `${username}@example.com`, password },
  });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...res.body, password };
}
let proxied;
before(async () => {
  chatr = await startServer({ env: { CHATR_RATE_LIMITS: 'on', CHATR_TRUSTED_PROXIES: '127.0.0.3' } });
  const prefix = tempDir('chatr-nginx-');
  const port = await freePort('127.0.0.2');
  const conf = fs.readFileSync(new URL('../../deploy/nginx.conf', import.meta.url), 'utf8')
    .replaceAll('@PREFIX@', prefix)
    .replaceAll('@UPSTREAM@', new URL(chatr.url).host)
    .replaceAll('@LISTEN@', `127.0.0.2:${port}`)
    .replaceAll('@BIND@', 'proxy_bind 127.0.0.3;');
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  nginx = spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
  for (let i = 0; ; i += 1) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.2', () => { s.end(); resolve(true); }).on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error('nginx did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  proxied = { ...chatr, url: `http://127.0.0.2:${port}`, sockets: chatr.sockets };
});
after(async () => {
  nginx?.kill('SIGTERM');
  await chatr?.stop();
});

describe('behind nginx', () => {
  for (const transport of ['websocket', 'polling', 'upgrade']) {
    test(`a conversation over ${transport}`, async () => {
      const a = await register(proxied, 'ngx');
      const b = await register(proxied, 'ngx');
      const sa = await connect(proxied, a.token, { transport });
      const sb = await connect(proxied, b.token, { transport });
      if (transport === 'upgrade') await new Promise((r) => { if (sa.io.engine.transport.name === 'websocket') r(); else sa.io.engine.once('upgrade', r); });
      const sent = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: `via nginx ${transport}` });
      assert.equal(sent.ok, true);
      const got = await waitFor(sb, 'message:received', (m) => m.id === sent.message.id);
      assert.equal(got.content, `via nginx ${transport}`);
      await emitAck(sb, 'message:read', { messageId: got.id, senderId: a.user.id });
      await waitFor(sa, 'message:status', (s) => s.messageId === got.id && s.status === 'read');
      sa.close(); sb.close();
    });
  }

  test('a 50 MiB upload passes through', async () => {
    const a = await register(proxied, 'ngu');
    const b = await register(proxied, 'ngu');
    const big = Buffer.alloc(50 * 1024 * 1024 - 4096, 7);
    const res = await upload(proxied, '/api/messages/upload', a.token, {
      file: { data: big, name: 'big.bin', type: 'application/octet-stream' }, recipientId: b.user.id, type: 'file',
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.message.fileSize, big.length);
  });

  test("throttles key on the client nginx names; a client's own X-Forwarded-For is not believed", async () => {
    const user = await register(proxied, 'ngt');
    const guess = (from, forged) => apiFrom(proxied, from, 'POST', '/api/auth/login', {
      body: { login: user.user.username, password: 'Wrong-guess1' },
      headers: forged ? { 'x-forwarded-for': forged } : {},
    });
    let throttled = false;
    for (let i = 0; i < 50 && !throttled; i += 1) throttled = (await guess('127.0.0.1')).status === 429;
    assert.ok(throttled, 'the guesser is throttled');
    assert.equal((await guess('127.0.0.1', '198.51.100.7')).status, 429, 'a forged header does not escape it');
    const owner = await apiFrom(proxied, '127.0.0.4', 'POST', '/api/auth/login', {
      body: { login: user.user.username, password: user.password },
    });
    assert.equal(owner.status, 200, 'another client, named by nginx, is not throttled');
  });
});
