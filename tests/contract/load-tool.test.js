// Proves that chatr-load works against a real server (briefly; no speed is asserted).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { BIN, startServer } from './helpers.js';

const LOAD = process.env.CHATR_LOAD_BIN ?? path.join(path.dirname(BIN), 'chatr-load');

function run(server, args) {
  const port = new URL(server.url).port;
  const res = spawnSync(LOAD, ['--server', `127.0.0.1:${port}`, '--pid', String(server.child.pid), ...args], { encoding: 'utf8', timeout: 60000 });
  assert.equal(res.status, 0, res.stderr);
  const line = res.stdout.split('\n').reverse().find((l) => l.startsWith('RESULT '));
  assert.ok(line, res.stdout);
  return JSON.parse(line.slice(7));
}

test('chatr-load chat delivers and confirms every message it sends', async () => {
  const server = await startServer();
  try {
    const r = run(server, ['chat', '--pairs', '4', '--rate', '200', '--seconds', '2', '--warmup', '0.5']);
    assert.equal(r.sent, 400);
    assert.equal(r.received, 400);
    assert.equal(r.confirmed, 400);
    assert.equal(r.lost, 0);
    assert.ok(r.server_cpu_us_per_msg > 0, 'server CPU was read from /proc');
  } finally {
    await server.stop();
  }
});

test('chatr-load conns and storm open, measure and recover sessions', async () => {
  const server = await startServer();
  try {
    // Ten sessions per user: within the default cap of sixteen.
    const c = run(server, ['conns', '--sessions', '100', '--users', '10', '--settle', '0']);
    assert.equal(c.sessions, 100);
    assert.equal(c.failed, 0);
    // Five per user: even a reconnect that overtook its user's every close
    // would stay within the cap.
    const s = run(server, ['storm', '--sessions', '100', '--users', '20', '--messages', '20']);
    assert.equal(s.reconnected, 100);
    assert.equal(s.failed, 0);
    assert.equal(s.lost, 0, 'messages sent during the storm all arrived');
  } finally {
    await server.stop();
  }
});

test('chatr-load ramp reports the highest clean step and retries a failed one once', async () => {
  const server = await startServer();
  try {
    const port = new URL(server.url).port;
    const args = ['--server', `127.0.0.1:${port}`, 'ramp', '--pairs', '8', '--start', '50', '--factor', '2',
      '--step-seconds', '2', '--max-rate', '100', '--retries', '1'];
    const clean = run(server, args.slice(2).concat(['--p99-ms', '1000']));
    assert.equal(clean.highest_clean_rate, 100);
    assert.equal(clean.retried, 0);
    // No step can meet a limit of zero: the first fails, runs once more, and the ramp ends.
    const res = spawnSync(LOAD, args.concat(['--p99-ms', '0']), { encoding: 'utf8', timeout: 60000 });
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout.split('\n').filter((l) => l.startsWith('ramp-retry')).length, 1, res.stdout);
    assert.match(res.stdout, /RESULT .*"highest_clean_rate":null/);
  } finally {
    await server.stop();
  }
});
