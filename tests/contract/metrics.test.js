// GET /metrics: Prometheus text behind CHATR_METRICS_TOKEN (or on
// CHATR_METRICS_ADDR without one), with the figures operators need.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { api, connect, emitAck, register, startServer, upload } from './helpers.js';
import fs from 'node:fs';

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

let server;
let metricsPort;
before(async () => {
  metricsPort = await freePort();
  server = await startServer({
    env: { CHATR_METRICS_TOKEN: 'metrics-secret-123', CHATR_METRICS_ADDR: `127.0.0.1:${metricsPort}` },
  });
});
after(async () => { await server.stop(); });

/** The value of the sample `name` (with labels as written), or undefined. */
function sample(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('metrics', () => {
  test('401 without the token, Prometheus text with it and on the metrics address', async () => {
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
    const wrong = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer metrics-secret-123' } });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-type'), /text\/plain/);
    const open = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(open.status, 200);
    const text = await open.text();
    assert.ok(sample(text, 'chatr_process_resident_memory_bytes') > 1e6, 'RSS');
    assert.ok(sample(text, 'chatr_process_open_fds') > 3, 'fds');
  });

  test('sessions, messages, deliveries, acks, commits, uploads and refusals are counted', async () => {
    const read = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const a = await register(server, 'met');
    const b = await register(server, 'met');
    const sa = await connect(server, a.token);
    const sb = await connect(server, b.token);
    const before = await read();
    const sent = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'counted' });
    await emitAck(sb, 'message:delivered', { messageId: sent.message.id, senderId: a.user.id });
    await emitAck(sa, 'message:send', { recipientId: 'nobody', content: 'x' });
    const photo = fs.readFileSync(new URL('./fixtures/photo.jpg', import.meta.url));
    const up = await upload(server, '/api/messages/upload', a.token, {
      file: { data: photo, name: 'p.jpg', type: 'image/jpeg' }, recipientId: b.user.id, type: 'image',
    });
    assert.equal(up.status, 201);
    const after = await read();
    const grew = (name) => (sample(after, name) ?? 0) - (sample(before, name) ?? 0);
    assert.ok(sample(after, 'chatr_sessions') >= 2, 'sessions');
    assert.equal(grew('chatr_messages_stored_total'), 2, 'a text and an upload');
    assert.equal(grew('chatr_messages_delivered_total'), 1);
    assert.ok(grew('chatr_ack_seconds_count') >= 1, 'ack latency');
    assert.ok(grew('chatr_commit_seconds_count') >= 1, 'commit latency');
    assert.ok(grew('chatr_writer_batch_jobs_count') >= 1, 'batch sizes');
    // Batch sizes are counted in writes, not in seconds: the buckets go up
    // to the writer's largest batch.
    assert.ok(after.includes('chatr_writer_batch_jobs_bucket{le="512"}'), 'buckets of writes');
    assert.ok(!after.includes('chatr_writer_batch_jobs_bucket{le="0.0001"}'), 'no buckets of seconds');
    // SQLite's inline writer times its queue; PostgreSQL's has no queue of its own.
    if (!process.env.CHATR_TEST_POSTGRES) assert.ok(grew('chatr_writer_wait_seconds_count') >= 1, 'queue wait');
    assert.equal(grew('chatr_uploads_total'), 1);
    assert.equal(grew('chatr_upload_bytes_total'), up.body.message.fileSize, 'bytes as stored');
    assert.ok(grew('chatr_refused_total{code="invalid_payload"}') >= 1, 'refusals by code');
    sa.close(); sb.close();
    assert.equal((await api(server, 'GET', '/api/health')).status, 200);
  });
});
