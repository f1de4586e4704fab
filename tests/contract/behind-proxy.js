// Chatr behind nginx and behind Caddy with the reference configurations
// (deploy/nginx.conf, deploy/Caddyfile): the official client over WebSocket,
// long-polling and the upgrade, a 50 MiB upload, and throttles that key on
// the client the proxy names in X-Forwarded-For. Run by `make test-proxy`
// (Debian's nginx and Caddy), which also runs the whole contract suite
// through each (CHATR_TEST_PROXY). Addresses: clients on 127.0.0.1,
// 127.0.0.4 and 127.0.1.N, the proxy on 127.0.0.2, connecting to Chatr
// from the one trusted address (proxy.js).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  apiFrom, connect, emitAck, startServer, uniqueName, upload, waitFor,
} from './helpers.js';
import { PROXY_SOURCE, startProxy } from './proxy.js';

let clients = 0;

/** Registers from an address of its own (127.0.1.N): registrations are
 * throttled per client address, which the proxy names. */
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

for (const kind of ['nginx', 'caddy']) {
  describe(`behind ${kind}`, () => {
    let chatr;
    let proxy;
    let proxied;
    before(async () => {
      chatr = await startServer({
        env: { CHATR_RATE_LIMITS: 'on', CHATR_TRUSTED_PROXIES: PROXY_SOURCE[kind] },
        direct: true,
      });
      proxy = await startProxy(kind, new URL(chatr.url).host);
      proxied = { ...chatr, url: proxy.url, sockets: chatr.sockets };
    });
    after(async () => {
      await proxy?.stop();
      await chatr?.stop();
    });

    for (const transport of ['websocket', 'polling', 'upgrade']) {
      test(`a conversation over ${transport}`, async () => {
        const a = await register(proxied, 'ngx');
        const b = await register(proxied, 'ngx');
        const sa = await connect(proxied, a.token, { transport });
        const sb = await connect(proxied, b.token, { transport });
        if (transport === 'upgrade') await new Promise((r) => { if (sa.io.engine.transport.name === 'websocket') r(); else sa.io.engine.once('upgrade', r); });
        const sent = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: `via ${kind} ${transport}` });
        assert.equal(sent.ok, true);
        const got = await waitFor(sb, 'message:received', (m) => m.id === sent.message.id);
        assert.equal(got.content, `via ${kind} ${transport}`);
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

    test(`throttles key on the client ${kind} names; a client's own X-Forwarded-For is not believed`, async () => {
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
      assert.equal(owner.status, 200, `another client, named by ${kind}, is not throttled`);
    });
  });
}
