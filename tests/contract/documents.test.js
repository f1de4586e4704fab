// The API documents keep to the server (issue 15): every route the OpenAPI
// document lists is served, real responses and the requests we send validate
// against its schemas (JSON Schema 2020-12, with ajv), and the AsyncAPI
// document names every event of docs/protocol.md, with real payloads and
// acks validating against it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import {
  adminCli, api, connect, emitAck, register, settle, startServer, upload, waitFor,
} from './helpers.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OPENAPI_ID = 'https://chatr.invalid/openapi.json';
const ASYNCAPI_ID = 'https://chatr.invalid/asyncapi.json';

let server;
let openapi;
let asyncapi;
let ajv;

/** `/` and `~` escaped, as a JSON pointer segment. */
const pointer = (s) => s.replaceAll('~', '~0').replaceAll('/', '~1');

before(async () => {
  server = await startServer();
  openapi = (await api(server, 'GET', '/api/openapi.json')).body;
  asyncapi = (await api(server, 'GET', '/api/asyncapi.json')).body;
  ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
  addFormats(ajv);
  for (const f of ['binary', 'int32', 'int64', 'float', 'double']) ajv.addFormat(f, true);
  ajv.addSchema({ ...openapi, $id: OPENAPI_ID });
  ajv.addSchema({ ...asyncapi, $id: ASYNCAPI_ID });
});
after(async () => { await server.stop(); });

/** The operation whose path template matches `urlPath`. */
function operation(method, urlPath) {
  const bare = urlPath.split('?')[0];
  for (const [template, item] of Object.entries(openapi.paths)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(bare) && item[method.toLowerCase()]) {
      return { template, op: item[method.toLowerCase()] };
    }
  }
  return null;
}

function validate(ref, value, what) {
  const check = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
  assert.ok(check(value), `${what}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(value).slice(0, 600)}`);
}

/** Checks a response against the document: its status is listed (or the
 *  default), and a JSON body validates against that response's schema. */
function conforms(method, urlPath, res) {
  const found = operation(method, urlPath);
  assert.ok(found, `${method} ${urlPath} is not in the OpenAPI document`);
  const { template, op } = found;
  const status = String(res.status);
  const key = op.responses[status] ? status : 'default';
  assert.ok(op.responses[key], `${method} ${template}: ${status} is not documented`);
  const json = op.responses[key].content?.['application/json'];
  if (json?.schema && typeof res.body === 'object') {
    validate(
      `${OPENAPI_ID}#/paths/${pointer(template)}/${method.toLowerCase()}/responses/${key}/content/application~1json/schema`,
      res.body, `${method} ${template} → ${status}`,
    );
  }
  return res;
}

/** A JSON request: the body we send is checked against the documented one
 *  (unless it is meant to be refused), and the answer against the
 *  documented response. */
async function call(method, urlPath, { refused = false, ...opts } = {}) {
  if (opts.body !== undefined && !refused) {
    const { template, op } = operation(method, urlPath);
    assert.ok(op.requestBody, `${method} ${template} documents no request body`);
    validate(
      `${OPENAPI_ID}#/paths/${pointer(template)}/${method.toLowerCase()}/requestBody/content/application~1json/schema`,
      opts.body, `request of ${method} ${template}`,
    );
  }
  return conforms(method, urlPath, await api(server, method, urlPath, opts));
}

describe('OpenAPI', () => {
  test('is OpenAPI 3.1, and the docs UI is served from the binary', async () => {
    assert.equal(openapi.openapi, '3.1.0');
    assert.ok(openapi.components.securitySchemes.bearer);
    const page = await api(server, 'GET', '/api/docs/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
    // Every asset the page loads is local (no CDN): the docs work offline.
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(assets.length >= 3, 'the page loads its scripts and styles');
    for (const asset of assets) {
      assert.doesNotMatch(asset, /^(https?:)?\/\//, `${asset} comes from elsewhere`);
      const res = await fetch(new URL(asset, `${server.url}/api/docs/`));
      assert.equal(res.status, 200, `${asset}`);
      await res.arrayBuffer();
    }
    const init = await (await fetch(`${server.url}/api/docs/swagger-initializer.js`)).text();
    assert.match(init, /\/api\/openapi\.json/, 'the UI shows this document');
  });

  test('every documented route is served (none falls through to 404 or 405)', async () => {
    // A user of its own: the probe logs it out at the end.
    const me = await register(server, 'oap');
    const operations = Object.entries(openapi.paths)
      .flatMap(([template, item]) => Object.keys(item).map((method) => ({ template, method })))
      // Logging out last keeps the token valid for the rest.
      .sort((a, b) => Number(a.template.includes('logout')) - Number(b.template.includes('logout')));
    assert.ok(operations.length >= 35, `${operations.length} operations`);
    for (const { template, method } of operations) {
      const urlPath = template
        .replace('{folder}', 'images')
        .replace('{name}', '00000000-0000-4000-8000-000000000000.png')
        .replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      const res = await api(server, method.toUpperCase(), urlPath, { token: me.token });
      assert.notEqual(res.status, 405, `${method} ${template}`);
      const fellThrough = res.status === 404 && res.body?.error === 'not found';
      assert.ok(!fellThrough, `${method} ${template} is not routed`);
      conforms(method, urlPath, res);
    }
  });

  test('real responses and the requests sent validate against the schemas', async () => {
    const health = await call('GET', '/api/health');
    assert.equal(health.status, 200);
    assert.equal((await call('GET', '/api/health/ready')).status, 200);

    const name = `oa${Date.now() % 1e8}`;
    const reg = await call('POST', '/api/auth/register', {
      body: { username: name, email: `${name}@example.com`, password: 'Secret123!' },
    });
    assert.equal(reg.status, 201);
    const dupe = await call('POST', '/api/auth/register', {
      body: { username: name, email: `${name}@example.com`, password: 'Secret123!' },
    });
    assert.equal(dupe.status, 409);
    const login = await call('POST', '/api/auth/login', { body: { login: name, password: 'Secret123!' } });
    assert.equal(login.status, 200);
    const token = login.body.token;
    assert.equal((await call('POST', '/api/auth/login', { body: { login: name, password: 'Wrong123!' } })).status, 401);
    assert.equal((await call('GET', '/api/auth/me')).status, 401);
    assert.equal((await call('GET', '/api/auth/me', { token })).status, 200);
    assert.equal((await call('PATCH', '/api/users/me', { token, body: { presenceVisibility: 'contacts' } })).status, 200);
    assert.equal((await call('PATCH', '/api/users/me', { token, body: { presenceVisibility: 'sometimes' }, refused: true })).status, 400);

    const bob = await register(server, 'oab');
    const alice = { token, user: reg.body.user };
    assert.equal((await call('GET', '/api/users', { token })).status, 200);
    assert.equal((await call('GET', `/api/users/search?q=${bob.user.username}`, { token })).status, 200);
    assert.equal((await call('GET', `/api/users/${bob.user.id}`, { token })).status, 200);
    assert.equal((await call('GET', '/api/users/00000000-0000-4000-8000-000000000000', { token })).status, 404);

    // A conversation with text, an edit, a reaction and a picture.
    const a = await connect(server, alice.token);
    const b = await connect(server, bob.token);
    const sent = await emitAck(a, 'message:send', { recipientId: bob.user.id, content: 'hello schema', clientMessageId: 'c1' });
    assert.equal(sent.ok, true);
    await emitAck(a, 'message:edit', { messageId: sent.message.id, content: 'hello schemas' });
    await emitAck(b, 'message:react', { messageId: sent.message.id, emoji: '👍' });
    const png = fs.readFileSync(path.join(HERE, 'fixtures/alpha.png'));
    const pic = conforms('POST', '/api/messages/upload', await upload(server, '/api/messages/upload', alice.token, {
      recipientId: bob.user.id, type: 'image', content: 'a picture', file: { data: png, name: 'a.png', type: 'image/png' },
    }));
    assert.equal(pic.status, 201);
    const avatar = conforms('POST', '/api/users/profile-image', await upload(server, '/api/users/profile-image', alice.token, {
      image: { data: png, name: 'me.png', type: 'image/png' },
    }));
    assert.equal(avatar.status, 200);
    const file = await api(server, 'GET', pic.body.fileUrl);
    conforms('GET', pic.body.fileUrl, file);
    assert.equal(file.status, 200);
    await settle();

    const conversations = await call('GET', '/api/messages/conversations', { token });
    assert.equal(conversations.body.length, 1);
    const history = await call('GET', `/api/messages/history?recipientId=${bob.user.id}`, { token });
    assert.equal(history.body.length, 2);
    assert.ok(history.body.some((m) => m.reactions.length === 1 && m.editedAt));
    assert.equal((await call('GET', '/api/messages/history', { token })).status, 400);
    assert.ok((await call('GET', '/api/messages/search?q=schemas', { token })).body.length >= 1);
    assert.equal((await call('GET', `/api/messages/${sent.message.id}/edits`, { token })).body.length, 1);
    assert.equal((await call('POST', `/api/users/${bob.user.id}/block`, { token })).status, 204);
    assert.equal((await call('GET', '/api/users/blocked', { token })).body.length, 1);
    assert.equal((await call('DELETE', `/api/users/${bob.user.id}/block`, { token })).status, 204);

    // Administration, as a user with the role admin.
    assert.equal((await call('GET', '/api/admin/stats', { token })).status, 403);
    assert.equal((await adminCli(server, ['role', name, 'admin'])).code, 0);
    assert.equal((await call('GET', '/api/admin/stats', { token })).status, 200);
    assert.ok((await call('GET', `/api/admin/users?q=${name}`, { token })).body.length === 1);
    const made = await call('POST', '/api/admin/users', {
      token, body: { username: `${name}x`, email: `${name}x@example.com` },
    });
    assert.equal(made.status, 201);
    assert.ok(made.body.password, 'a generated password is returned');
    assert.equal((await call('GET', `/api/admin/users/${made.body.user.id}`, { token })).status, 200);
    assert.equal((await call('POST', `/api/admin/users/${made.body.user.id}/password`, { token, body: {} })).status, 200);
    assert.equal((await call('POST', `/api/admin/users/${made.body.user.id}/role`, { token, body: { role: 'user' } })).status, 204);
    assert.equal((await call('POST', `/api/admin/users/${made.body.user.id}/disable`, { token })).status, 204);
    assert.equal((await call('POST', `/api/admin/users/${made.body.user.id}/enable`, { token })).status, 204);
    assert.equal((await call('DELETE', `/api/admin/users/${made.body.user.id}`, { token })).status, 204);

    assert.equal((await call('POST', '/api/auth/password', {
      token, body: { currentPassword: 'Secret123!', newPassword: 'Secret456!' },
    })).status, 200);
    a.close();
    b.close();
  });
});

describe('AsyncAPI', () => {
  const payloadRef = (event) => `${ASYNCAPI_ID}#/components/messages/${event.replace(':', '_')}/payload`;
  const ackRef = (event) => `${ASYNCAPI_ID}#/components/messages/${event.replace(':', '_')}.ack/payload`;

  test('names exactly the events of docs/protocol.md, each an operation', () => {
    assert.equal(asyncapi.asyncapi, '3.0.0');
    const doc = fs.readFileSync(path.join(HERE, '../../docs/protocol.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^### `([^`]+)`/gm)].map((m) => m[1]));
    const events = new Set(Object.values(asyncapi.components.messages)
      .map((m) => m.name).filter((n) => !n.endsWith(' ack')));
    assert.deepEqual([...events].sort(), [...documented].sort());
    for (const op of Object.values(asyncapi.operations)) {
      assert.ok(['send', 'receive'].includes(op.action));
      assert.equal(op.channel.$ref, '#/channels/socket');
    }
  });

  test('what a conversation carries, both ways, validates against it', async () => {
    const alice = await register(server, 'aaa');
    const bob = await register(server, 'aab');
    const a = await connect(server, alice.token);
    const b = await connect(server, bob.token);
    // Every emit and its ack are checked on the way.
    const emit = async (socket, event, payload) => {
      validate(payloadRef(event), payload, `${event} payload`);
      const ack = await emitAck(socket, event, payload);
      validate(ackRef(event), ack, `${event} ack`);
      return ack;
    };
    const sent = await emit(a, 'message:send', { recipientId: bob.user.id, content: 'hi', clientMessageId: 'x1' });
    await waitFor(b, 'message:received');
    await emit(b, 'message:delivered', { messageId: sent.message.id, senderId: alice.user.id });
    await emit(b, 'message:read', { messageId: sent.message.id, senderId: alice.user.id });
    await emit(a, 'typing:start', { recipientId: bob.user.id });
    await emit(a, 'typing:stop', { recipientId: bob.user.id });
    await emit(a, 'recording:start', { recipientId: bob.user.id });
    await emit(a, 'recording:stop', { recipientId: bob.user.id });
    await emit(a, 'presence:request', [bob.user.id]);
    await emit(b, 'presence:update', { status: 'away' });
    await emit(a, 'message:edit', { messageId: sent.message.id, content: 'hi there' });
    await emit(b, 'message:react', { messageId: sent.message.id, emoji: '🎉' });
    await emit(b, 'message:react', { messageId: sent.message.id, emoji: null });
    await emit(a, 'message:unsend', { messageId: sent.message.id });
    // A refusal: the failed ack and message:error.
    const refused = await emitAck(a, 'message:send', { recipientId: 'nobody', content: 'x' });
    validate(ackRef('message:send'), refused, 'failed ack');
    assert.equal(refused.ok, false);
    await waitFor(a, 'message:error');
    await waitFor(a, 'message:unsent');
    await waitFor(b, 'message:unsent');
    await settle();

    const seen = new Set();
    for (const socket of [a, b]) {
      for (const { event, payload } of socket.received) {
        validate(payloadRef(event), payload, `${event} as received`);
        seen.add(event);
      }
    }
    for (const event of ['message:received', 'message:status', 'typing:indicator', 'recording:indicator',
      'presence:status', 'message:edited', 'message:reactions', 'message:unsent', 'message:error']) {
      assert.ok(seen.has(event), `${event} was exercised`);
    }
    a.close();
    b.close();
  });
});
