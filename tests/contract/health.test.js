// Liveness and readiness: `GET /api/health` stays cheap, `GET
// /api/health/ready` names each part that is down. The database is taken
// away from a running server: on SQLite another process holds the write
// lock (writes cannot commit), on PostgreSQL the server's database stops
// accepting connections and its sessions are ended.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, sleep, startServer } from './helpers.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

async function until(check, timeout = 15000) {
  for (let waited = 0; ; waited += 200) {
    const res = await check();
    if (res) return res;
    if (waited > timeout) throw new Error('timed out');
    await sleep(200);
  }
}

const pg = process.env.CHATR_TEST_POSTGRES;
const database = () => `c_${path.basename(server.dataDir).toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
const psql = (sql) => {
  const url = new URL(pg);
  execFileSync('psql', ['-h', url.hostname, '-p', url.port, '-U', 'postgres', '-tAc', sql, 'postgres']);
};

/** Takes the database away; resolves a function that brings it back. */
async function takeDatabaseAway() {
  if (pg) {
    psql(`alter database ${database()} allow_connections false`);
    psql(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${database()}'`);
    return async () => psql(`alter database ${database()} allow_connections true`);
  }
  const holder = spawn('python3', ['-c', [
    'import sqlite3, sys, time',
    'c = sqlite3.connect(sys.argv[1], isolation_level=None)',
    'c.execute("begin immediate")',
    'print("locked", flush=True)',
    'time.sleep(120)',
  ].join('\n'), path.join(server.dataDir, 'chatr.db')], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    holder.stdout.on('data', (d) => { if (String(d).includes('locked')) resolve(); });
    holder.on('exit', (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  return async () => { holder.kill('SIGKILL'); await new Promise((r) => holder.once('exit', r)); };
}

describe('health and readiness', () => {
  test('ready names every part it checked', async () => {
    const res = await api(server, 'GET', '/api/health/ready');
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ready');
    assert.deepEqual(res.body.checks, { database: 'ok', writer: 'ok' }, 'no Redis on a lone node');
    assert.equal((await api(server, 'GET', '/api/health')).body.status, 'ok');
  });

  test('with the database taken away, ready is 503 naming it; it recovers when the database returns', async () => {
    const restore = await takeDatabaseAway();
    try {
      const down = await until(async () => {
        const res = await api(server, 'GET', '/api/health/ready');
        return res.status === 503 ? res : null;
      });
      assert.equal(down.body.status, 'unavailable');
      assert.ok(down.body.down.includes('writer'), JSON.stringify(down.body));
      if (pg) {
        assert.ok(down.body.down.includes('database'), JSON.stringify(down.body));
        const health = await api(server, 'GET', '/api/health');
        assert.equal(health.status, 503);
        assert.equal(health.body.status, 'degraded');
      }
    } finally {
      await restore();
    }
    const back = await until(async () => {
      const res = await api(server, 'GET', '/api/health/ready');
      return res.status === 200 ? res : null;
    });
    assert.deepEqual(back.body.checks, { database: 'ok', writer: 'ok' });
    assert.equal((await api(server, 'GET', '/api/health')).status, 200);
  });
});
