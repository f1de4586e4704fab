// CHATR_LOG_FORMAT=json: every log line is one JSON object a collector can
// read, and none carries a token or a password.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, register, startServer } from './helpers.js';

test('json logs: one object per line, with level and fields; no secrets', async () => {
  const server = await startServer({ env: { CHATR_LOG_FORMAT: 'json', RUST_LOG: 'info' } });
  const a = await register(server, 'log');
  await api(server, 'POST', '/api/auth/login', { body: { login: a.user.username, password: 'Wrong123!' } });
  await api(server, 'POST', '/api/auth/logout', { token: a.token });
  await server.stop();
  const lines = server.stderr().split('\n').filter((l) => l.trim());
  assert.ok(lines.length >= 2, `some lines were logged: ${lines.length}`);
  for (const line of lines) {
    const entry = JSON.parse(line);
    assert.ok(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(entry.level), line);
    assert.equal(typeof entry.timestamp, 'string');
    assert.equal(typeof entry.fields, 'object');
  }
  const all = lines.join('\n');
  assert.ok(!all.includes(a.token), 'no token in the logs');
  assert.ok(!all.includes(a.password) && !all.includes('Wrong123!'), 'no password in the logs');
  assert.ok(!all.includes(server.secret), 'no secret in the logs');
});

test('at debug, each request has a span with its method and path, never its query', async () => {
  const server = await startServer({ env: { CHATR_LOG_FORMAT: 'json', RUST_LOG: 'tower_http=debug,chatr=debug' } });
  const a = await register(server, 'spn');
  await api(server, 'GET', '/api/users/search?q=HiddenSearchTerm', { token: a.token });
  await server.stop();
  const entries = server.stderr().split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const spans = entries.filter((e) => e.span?.name === 'request');
  assert.ok(spans.some((e) => e.span.method === 'GET' && e.span.path === '/api/users/search'), 'the search request has its span');
  assert.ok(!server.stderr().includes('HiddenSearchTerm'), 'the query is not logged');
  assert.ok(!server.stderr().includes(a.token), 'no token');
});
