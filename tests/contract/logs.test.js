// CHATR_LOG_FORMAT=json: every log line is one JSON object a collector can
// read, and none carries a token or a password. With an OTLP endpoint, the
// same spans are exported to it.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { api, connect, emitAck, register, sleep, startServer } from './helpers.js';

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

/** An OTLP/HTTP receiver (JSON encoding): every span of every export. */
async function otlpReceiver() {
  const spans = [];
  const bodies = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        bodies.push(body);
        for (const rs of JSON.parse(body).resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue;
          for (const ss of rs.scopeSpans ?? []) {
            for (const span of ss.spans ?? []) {
              const attrs = Object.fromEntries((span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]));
              spans.push({ name: span.name, attrs, service, traceId: span.traceId, parent: span.parentSpanId });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { spans, bodies, url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

test('with OTEL_EXPORTER_OTLP_ENDPOINT, request and event spans reach the collector, without content', async () => {
  const collector = await otlpReceiver();
  const server = await startServer({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  });
  const a = await register(server, 'otl');
  const b = await register(server, 'otl');
  await api(server, 'GET', '/api/users/search?q=HiddenSearchTerm', { token: a.token });
  const s = await connect(server, a.token);
  const sent = await emitAck(s, 'message:send', { recipientId: b.user.id, content: 'PrivateWords' });
  await emitAck(s, 'message:edit', { messageId: sent.message.id, content: 'PrivateWords edited' });
  const deadline = Date.now() + 10000;
  const has = (f) => collector.spans.some(f);
  while (!(has((x) => x.name === 'event' && x.attrs.event === 'message:edit')
      && has((x) => x.name === 'request' && x.attrs.path === '/api/users/search'))) {
    assert.ok(Date.now() < deadline, `spans arrive: ${JSON.stringify(collector.spans.map((x) => x.name))}`);
    await sleep(100);
  }
  s.close();
  await server.stop();
  collector.close();
  const edit = collector.spans.find((x) => x.name === 'event' && x.attrs.event === 'message:edit');
  assert.equal(edit.attrs.user, a.user.id);
  assert.equal(edit.attrs.message, sent.message.id);
  assert.equal(edit.service, 'chatr');
  const all = collector.bodies.join('\n');
  for (const secret of ['PrivateWords', 'HiddenSearchTerm', a.token, a.password]) {
    assert.ok(!all.includes(secret), `${secret.slice(0, 12)} is not exported`);
  }
});
