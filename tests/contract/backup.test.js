// `chatr backup` under write load, `chatr restore` into a fresh data dir, and
// a server on the restored data that has every acknowledged message, the
// files, and accepts the tokens it issued before.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BIN, api, connect, emitAck, register, startServer, tempDir, upload,
} from './helpers.js';

// With PostgreSQL the database is copied by pg_dump, not by `chatr backup`.
const skip = process.env.CHATR_TEST_POSTGRES ? 'PostgreSQL: the database is backed up with pg_dump' : false;

let server;
before(async () => {
  if (skip) return;
  // A data directory named with what a database URL gives a meaning to
  // (`%41` would read as `A`, `?` would start options): the server and its
  // backup must both find the one file by its name.
  const dataDir = path.join(tempDir('chatr-backup-data-'), 'a%41?b#c é');
  fs.mkdirSync(dataDir);
  server = await startServer({ dataDir });
});
after(async () => { await server?.stop(); });

/** Runs the chatr binary with a command; resolves { code, stdout, stderr }. */
function chatr(args, env) {
  return new Promise((resolve) => {
    const child = spawn(BIN, args, { env: { ...process.env, RUST_LOG: 'warn', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function history(srv, token, recipientId) {
  const all = [];
  let beforeId;
  for (;;) {
    const q = `/api/messages/history?recipientId=${recipientId}&limit=200${beforeId ? `&before=${beforeId}` : ''}`;
    const res = await api(srv, 'GET', q, { token });
    assert.equal(res.status, 200);
    all.unshift(...res.body);
    if (res.body.length < 200) return all;
    beforeId = res.body[0].id;
  }
}

describe('backup and restore', { skip }, () => {
  test('a backup taken under write load restores every message acknowledged before it, the files and the tokens', async () => {
    const a = await register(server, 'bk');
    const b = await register(server, 'bk');
    const sa = await connect(server, a.token);
    const png = fs.readFileSync(new URL('./fixtures/photo.jpg', import.meta.url));
    const up = await upload(server, '/api/messages/upload', a.token, {
      file: { data: png, name: 'photo.jpg', type: 'image/jpeg' }, recipientId: b.user.id, type: 'image',
    });
    assert.equal(up.status, 201, JSON.stringify(up.body));

    // Keep writing while the backup runs.
    const acked = [];
    let sending = true;
    const pump = (async () => {
      for (let i = 0; sending; i += 1) {
        const res = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: `load ${i}` });
        acked.push(res.message.id);
      }
    })();
    while (acked.length < 50) await new Promise((r) => setTimeout(r, 10));
    const file = path.join(tempDir('chatr-backup-'), 'chatr-backup.zip');
    // Every ack recorded so far came before the backup began (one thread:
    // nothing is pushed between this line and the spawn).
    const ackedBefore = acked.length;
    const made = await chatr(['backup', file], { CHATR_DATA_DIR: server.dataDir });
    sending = false;
    await pump;
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /the database, [1-9]\d* files/, 'the picture and its preview');
    const mustHave = acked.slice(0, ackedBefore);
    assert.ok(mustHave.length >= 50);
    assert.ok(acked.length > mustHave.length, 'writes went on during the backup');

    const fresh = tempDir('chatr-restored-');
    const restored = await chatr(['restore', file], { CHATR_DATA_DIR: fresh });
    assert.equal(restored.code, 0, restored.stderr);
    // Restoring over existing data is refused.
    const again = await chatr(['restore', file], { CHATR_DATA_DIR: fresh });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /empty data dir/);

    const copy = await startServer({ dataDir: fresh, env: { JWT_SECRET: server.secret } });
    try {
      const me = await api(copy, 'GET', '/api/auth/me', { token: a.token });
      assert.equal(me.status, 200, 'a token issued before the backup still works');
      const messages = await history(copy, a.token, b.user.id);
      const ids = new Set(messages.map((m) => m.id));
      const missing = mustHave.filter((id) => !ids.has(id));
      assert.deepEqual(missing, [], 'every message acknowledged before the backup began');
      assert.equal(ids.size, messages.length, 'nothing twice');
      const image = messages.find((m) => m.id === up.body.message.id);
      assert.ok(image?.fileUrl, 'the upload is in the copy');
      const res = await fetch(copy.url + image.fileUrl, { headers: { authorization: `Bearer ${a.token}` } });
      assert.equal(res.status, 200);
      assert.ok((await res.arrayBuffer()).byteLength > 0);
    } finally {
      await copy.stop();
    }
    sa.close();
  });

  test('a backup of a data dir with no database fails with a reason and leaves no file', async () => {
    const empty = tempDir('chatr-empty-');
    const file = path.join(empty, 'out.zip');
    const res = await chatr(['backup', file], { CHATR_DATA_DIR: path.join(empty, 'nothing') });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /no database/);
    assert.equal(fs.existsSync(file), false);
  });
});
