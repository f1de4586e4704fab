// Contract §3 attachments: upload, storage, serving, waveforms, profile images.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  MESSAGE_KEYS, api, connect, emitAck, receivedEvents, register, settle, startServer, upload, waitFor,
} from './helpers.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name) => fs.readFileSync(path.join(FIXTURES, name));

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

/** A mono 16-bit WAV of `seconds` whose loudness rises (generated, not a fixture). */
function wav(seconds = 2, rate = 8000) {
  const frames = Math.round(seconds * rate);
  const buf = Buffer.alloc(44 + frames * 2);
  buf.write('RIFF', 0); buf.writeUInt32LE(36 + frames * 2, 4); buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24); buf.writeUInt32LE(rate * 2, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34);
  buf.write('data', 36); buf.writeUInt32LE(frames * 2, 40);
  for (let i = 0; i < frames; i += 1) {
    const t = i / rate;
    buf.writeInt16LE(Math.round(Math.sin(2 * Math.PI * 440 * t) * (t / seconds) * 30000), 44 + i * 2);
  }
  return buf;
}

/** Width and height of a baseline JPEG (its SOF0 marker). */
function jpegSize(buf) {
  for (let i = 2; i < buf.length - 9;) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1];
    const len = buf.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc2) return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    i += 2 + len;
  }
  return null;
}

async function fetchBytes(url, headers = {}) {
  const res = await fetch(server.url + url, { headers });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

async function pair() {
  const a = await register(server, 'md');
  const b = await register(server, 'md');
  return { a, b };
}

describe('upload', () => {
  test('an image upload is announced like message:send and served without its metadata, upright', async () => {
    const { a, b } = await pair();
    const a1 = await connect(server, a.token);
    const b1 = await connect(server, b.token);
    const res = await upload(server, '/api/messages/upload', a.token, {
      recipientId: b.user.id, type: 'image', content: ' look ', file: { data: fixture('photo.jpg'), name: 'photo.jpg', type: 'image/jpeg' },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const { message } = res.body;
    assert.equal(res.body.messageId, message.id);
    assert.equal(res.body.fileUrl, message.fileUrl);
    assert.equal(res.body.needsWaveformGeneration, false);
    assert.deepEqual(Object.keys(message).sort(), MESSAGE_KEYS);
    assert.equal(message.type, 'image');
    assert.equal(message.content, 'look');
    assert.equal(message.status, 'sent');
    assert.equal(message.fileName, 'photo.jpg');
    assert.equal(message.fileType, 'image/jpeg');
    assert.match(message.fileUrl, /^\/uploads\/images\/[0-9a-f-]{36}\.jpg$/);
    assert.match(message.thumbnailUrl, /^\/uploads\/images\/[0-9a-f-]{36}_thumb\.jpg$/);

    assert.deepEqual(await waitFor(b1, 'message:received'), message);
    assert.deepEqual(await waitFor(a1, 'message:received'), message, 'every session of the sender gets it (no sending socket)');
    assert.deepEqual(await waitFor(a1, 'message:status'), { messageId: message.id, status: 'sent' });

    const { res: img, bytes } = await fetchBytes(message.fileUrl);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/jpeg');
    assert.equal(img.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(Number(img.headers.get('content-length')), bytes.length);
    assert.equal(message.fileSize, bytes.length);
    assert.ok(!bytes.includes('ChatrTestCam'), 'EXIF is stripped');
    assert.ok(!bytes.includes('Exif'), 'no EXIF block at all');
    assert.deepEqual(jpegSize(bytes), { width: 48, height: 64 }, 'the EXIF orientation was applied');
    const { res: thumb } = await fetchBytes(message.thumbnailUrl);
    assert.equal(thumb.status, 200);
    a1.close(); b1.close();
  });

  test('PNG (metadata dropped), GIF (kept as is) and WebP uploads are accepted', async () => {
    const { a, b } = await pair();
    const png = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'image', file: { data: fixture('alpha.png'), name: 'a.png' } });
    assert.equal(png.status, 201);
    assert.equal(png.body.message.fileType, 'image/png');
    const { bytes: pngBytes } = await fetchBytes(png.body.fileUrl);
    assert.ok(!pngBytes.includes('ChatrSecretComment'));
    const gif = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'image', file: { data: fixture('anim.gif'), name: 'a.gif' } });
    assert.equal(gif.status, 201);
    const { res, bytes } = await fetchBytes(gif.body.fileUrl);
    assert.equal(res.headers.get('content-type'), 'image/gif');
    assert.ok(bytes.equals(fixture('anim.gif')));
    const webp = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'image', file: { data: fixture('pic.webp'), name: 'p.webp' } });
    assert.equal(webp.status, 201);
  });

  test('content decides: a fake or broken image and a fake audio file are 400', async () => {
    const { a, b } = await pair();
    const cases = [
      ['image', Buffer.from('<html><script>alert(1)</script></html>'), 'x.jpg', 'image/jpeg'],
      ['image', Buffer.concat([fixture('alpha.png').subarray(0, 40), Buffer.alloc(100, 7)]), 'broken.png', 'image/png'],
      ['voice', fixture('alpha.png'), 'v.webm', 'audio/webm'],
      ['audio', Buffer.from('RIFF\x24\x00\x00\x00WAVEjunkjunkjunkjunk'), 'a.wav', 'audio/wav'],
    ];
    for (const [type, data, name, mime] of cases) {
      const res = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type, file: { data, name, type: mime } });
      assert.equal(res.status, 400, `${type} ${name}`);
      assert.equal(typeof res.body.error, 'string');
    }
    const hist = await api(server, 'GET', `/api/messages/history?recipientId=${b.user.id}`, { token: a.token });
    assert.deepEqual(hist.body, [], 'nothing stored');
  });

  test('audio: the server reads the duration and computes the waveform when it can decode the codec', async () => {
    const { a, b } = await pair();
    const w = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'voice', file: { data: wav(2), name: 'note.wav' } });
    assert.equal(w.status, 201, JSON.stringify(w.body));
    assert.equal(w.body.needsWaveformGeneration, false);
    assert.ok(Math.abs(w.body.message.duration - 2) < 0.05, String(w.body.message.duration));
    const wf = w.body.message.waveform;
    assert.equal(wf.length, 100);
    assert.ok(wf.every((v) => v >= 0 && v <= 1));
    assert.ok(wf[95] > wf[5] * 3, 'the waveform follows the loudness');
    for (const name of ['tone.ogg', 'tone.flac', 'tone.mp3']) {
      const res = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'audio', file: { data: fixture(name), name } });
      assert.equal(res.status, 201, name);
      assert.ok(Math.abs(res.body.message.duration - 1) < 0.1, `${name}: ${res.body.message.duration}`);
      assert.equal(res.body.message.waveform.length, 100, name);
      assert.equal(res.body.needsWaveformGeneration, false, name);
    }
    // Safari records MP4/AAC; Chrome records WebM/Opus.
    const m4a = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'voice', file: { data: fixture('voice.m4a'), name: 'v.m4a', type: 'audio/mp4' } });
    assert.equal(m4a.status, 201, JSON.stringify(m4a.body));
    assert.equal(m4a.body.message.fileType, 'audio/mp4');
    assert.ok(Math.abs(m4a.body.message.duration - 1) < 0.1, String(m4a.body.message.duration));
    assert.equal(m4a.body.message.waveform.length, 100);
    const webm = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'voice', file: { data: fixture('voice.webm'), name: 'v.webm', type: 'audio/webm;codecs=opus' } });
    assert.equal(webm.status, 201, JSON.stringify(webm.body));
    assert.equal(webm.body.message.fileType, 'audio/webm');
    assert.ok(Math.abs(webm.body.message.duration - 1) < 0.1, String(webm.body.message.duration));
    for (const res of [m4a, webm]) {
      const wave = res.body.message.waveform;
      assert.equal(res.body.needsWaveformGeneration, false);
      assert.ok(wave[90] > wave[10] * 3, 'a real waveform of the rising tone');
    }
    // ALAC is not decoded here: the length still comes from the container, the waveform from the client.
    const alac = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'audio', file: { data: fixture('alac.m4a'), name: 'a.m4a' } });
    assert.equal(alac.status, 201, JSON.stringify(alac.body));
    assert.equal(alac.body.needsWaveformGeneration, true);
    assert.equal(alac.body.message.waveform, null);
    assert.ok(Math.abs(alac.body.message.duration - 1) < 0.1, String(alac.body.message.duration));
    const opus = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'voice', file: { data: fixture('tone.opus'), name: 'v.opus' } });
    assert.equal(opus.status, 201);
    assert.ok(Math.abs(opus.body.message.duration - 1) < 0.1, String(opus.body.message.duration));
    assert.equal(opus.body.message.fileType, 'audio/ogg');
    assert.equal(opus.body.needsWaveformGeneration, false, 'Opus is decoded on the server too');
    assert.equal(opus.body.message.waveform.length, 100);
  });

  test('a file keeps its sanitised name for display and download, never as a path', async () => {
    const { a, b } = await pair();
    const names = [['../../etc/passwd', 'passwd'], ['a/b', 'b'], ['bad\u0000name.txt', 'badname.txt'], ['x'.repeat(300), null]];
    for (const [name, expected] of names) {
      const res = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'file', file: { data: Buffer.from('<html>hi</html>'), name, type: 'text/html' } });
      // A NUL cannot appear in a multipart header: refusing the request is as good as cleaning the name.
      if (name.includes('\u0000') && res.status === 400) continue;
      assert.equal(res.status, 201, name);
      const m = res.body.message;
      if (expected) assert.equal(m.fileName, expected);
      else assert.ok(Buffer.byteLength(m.fileName) <= 255);
      assert.match(m.fileUrl, /^\/uploads\/files\/[0-9a-f-]{36}\.bin$/);
      const got = await fetch(server.url + m.fileUrl);
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('content-type'), 'application/octet-stream', 'never rendered as HTML');
      assert.match(got.headers.get('content-disposition'), /^attachment; filename="/);
      assert.equal(got.headers.get('x-content-type-options'), 'nosniff');
      if (expected) assert.ok(got.headers.get('content-disposition').includes(encodeURIComponent(expected).replace(/\./g, '%2E')));
    }
  });

  test('range requests, caching headers and conditional requests', async () => {
    const { a, b } = await pair();
    const res = await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'voice', file: { data: wav(1), name: 'n.wav' } });
    const url = res.body.fileUrl;
    const part = await fetch(server.url + url, { headers: { range: 'bytes=0-9' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 0-9/${res.body.message.fileSize}`);
    assert.equal((await part.arrayBuffer()).byteLength, 10);
    const full = await fetch(server.url + url);
    const etag = full.headers.get('etag');
    assert.ok(etag);
    assert.match(full.headers.get('cache-control'), /max-age/);
    assert.equal(full.headers.get('content-type'), 'audio/wav');
    const again = await fetch(server.url + url, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  test('unknown recipient 404, oneself 400, bad type or missing parts 400, no token 401', async () => {
    const { a, b } = await pair();
    const file = { data: Buffer.from('hello'), name: 'h.txt' };
    const cases = [
      [404, { recipientId: crypto.randomUUID(), type: 'file', file }],
      [400, { recipientId: a.user.id, type: 'file', file }],
      [400, { recipientId: b.user.id, type: 'text', file }],
      [400, { recipientId: b.user.id, file }],
      [400, { recipientId: 'nope', type: 'file', file }],
      [400, { recipientId: b.user.id, type: 'file' }],
      [400, { recipientId: b.user.id, type: 'file', file, content: 'x'.repeat(10001) }],
    ];
    for (const [status, parts] of cases) {
      const res = await upload(server, '/api/messages/upload', a.token, parts);
      assert.equal(res.status, status, JSON.stringify({ ...parts, file: undefined }));
      assert.equal(typeof res.body.error, 'string');
    }
    assert.equal((await upload(server, '/api/messages/upload', undefined, cases[0][1])).status, 401);
    const notMultipart = await api(server, 'POST', '/api/messages/upload', { token: a.token, body: { recipientId: b.user.id } });
    assert.equal(notMultipart.status, 400);
  });

  test('/uploads serves only stored names', async () => {
    // fetch resolves `..` itself: the server sees /data/chatr.db, which is the web client's page, never the database.
    const dotdot = await fetch(`${server.url}/uploads/../data/chatr.db`);
    assert.ok(!(await dotdot.text()).startsWith('SQLite format'), 'the database is never served');
    for (const p of ['/uploads/images/..%2F..%2Fchatr.db', '/uploads/.tmp/x', '/uploads/jwt_secret', `/uploads/images/${crypto.randomUUID()}.jpg`]) {
      const res = await fetch(server.url + p);
      assert.equal(res.status, 404, p);
    }
  });
});

describe('limits', () => {
  test('an upload over the limit is 413 and stores nothing', async () => {
    const small = await startServer({ env: { CHATR_MAX_UPLOAD_BYTES: '2048' } });
    try {
      const a = await register(small, 'big');
      const b = await register(small, 'big');
      const res = await upload(small, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'file', file: { data: Buffer.alloc(600 * 1024, 1), name: 'big.bin' } });
      assert.equal(res.status, 413);
      assert.equal(typeof res.body.error, 'string');
      const ok = await upload(small, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'file', file: { data: Buffer.alloc(1000, 1), name: 'ok.bin' } });
      assert.equal(ok.status, 201);
      const hist = await api(small, 'GET', `/api/messages/history?recipientId=${b.user.id}`, { token: a.token });
      assert.equal(hist.body.length, 1);
      const leftovers = fs.readdirSync(path.join(small.dataDir, 'uploads', '.tmp'));
      assert.deepEqual(leftovers, [], 'no temp files left behind');
    } finally {
      await small.stop();
    }
  });
});

describe('voice notes', () => {
  test('waveform PATCH: sender only, audio only, validated, and audio:waveform reaches both sides', async () => {
    const { a, b } = await pair();
    const a1 = await connect(server, a.token);
    const b1 = await connect(server, b.token);
    const voice = (await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'voice', file: { data: fixture('tone.opus'), name: 'v.ogg' } })).body.message;
    const image = (await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'image', file: { data: fixture('anim.gif'), name: 'g.gif' } })).body.message;
    const waveform = Array.from({ length: 100 }, (_, i) => i / 100);
    const body = { waveform, duration: 1.5 };
    let res = await api(server, 'PATCH', `/api/messages/${voice.id}/waveform`, { token: b.token, body });
    assert.equal(res.status, 403);
    res = await api(server, 'PATCH', `/api/messages/${image.id}/waveform`, { token: a.token, body });
    assert.equal(res.status, 400);
    res = await api(server, 'PATCH', `/api/messages/${crypto.randomUUID()}/waveform`, { token: a.token, body });
    assert.equal(res.status, 404);
    for (const bad of [{ waveform: [], duration: 1 }, { waveform: [1.5], duration: 1 }, { waveform: Array(257).fill(0.5), duration: 1 },
      { waveform: [0.5], duration: 0 }, { waveform: [0.5] }, { waveform: 'x', duration: 1 }, { waveform: [null], duration: 1 }]) {
      res = await api(server, 'PATCH', `/api/messages/${voice.id}/waveform`, { token: a.token, body: bad });
      assert.equal(res.status, 400, JSON.stringify(bad).slice(0, 50));
    }
    res = await api(server, 'PATCH', `/api/messages/${voice.id}/waveform`, { token: a.token, body });
    assert.equal(res.status, 200);
    assert.equal(res.body.id, voice.id);
    assert.equal(res.body.duration, 1.5);
    assert.equal(res.body.waveform.length, 100);
    for (const s of [a1, b1]) {
      const ev = await waitFor(s, 'audio:waveform');
      assert.deepEqual(ev, { messageId: voice.id, waveform: res.body.waveform, duration: 1.5 });
    }
    a1.close(); b1.close();
  });

  test('a voice note goes delivered → listening → listened; read only stamps readAt', async () => {
    const { a, b } = await pair();
    const a1 = await connect(server, a.token);
    const b1 = await connect(server, b.token);
    const voice = (await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'voice', file: { data: wav(1), name: 'v.wav' } })).body.message;
    const other = (await upload(server, '/api/messages/upload', a.token, { recipientId: b.user.id, type: 'voice', file: { data: wav(1), name: 'w.wav' } })).body.message;
    const unread = async () => (await api(server, 'GET', '/api/messages/conversations', { token: b.token })).body[0].unreadCount;
    assert.equal(await unread(), 2);
    const ids = { messageId: voice.id, senderId: a.user.id };
    assert.deepEqual(await emitAck(b1, 'message:delivered', ids), { ok: true, status: 'delivered' });
    assert.deepEqual(await emitAck(b1, 'message:read', ids), { ok: true, status: 'delivered' }, 'read leaves an audio status alone');
    let hist = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}`, { token: b.token });
    assert.ok(hist.body[0].readAt, 'but stamps readAt');
    assert.deepEqual(await emitAck(b1, 'audio:listening', ids), { ok: true, status: 'listening' });
    assert.deepEqual(await emitAck(b1, 'audio:listened', ids), { ok: true, status: 'listened' });
    assert.deepEqual(await emitAck(b1, 'audio:listening', ids), { ok: true, status: 'listened' }, 'never backwards');
    assert.equal(await unread(), 1, 'read then listened leaves the count once; the other note stays unread');
    assert.deepEqual(await emitAck(b1, 'audio:listened', { messageId: other.id, senderId: a.user.id }), { ok: true, status: 'listened' });
    assert.equal(await unread(), 0, 'listened without read also reads');
    await settle();
    assert.deepEqual(receivedEvents(a1, 'message:status').filter((s) => s.messageId === voice.id).map((s) => s.status), ['sent', 'delivered', 'listening', 'listened']);
    hist = await api(server, 'GET', `/api/messages/history?recipientId=${a.user.id}`, { token: b.token });
    assert.deepEqual(hist.body.map((m) => m.status), ['listened', 'listened']);
    a1.close(); b1.close();
  });
});

describe('profile images', () => {
  test('upload, resize, follow into new messages, replace and delete (files too)', async () => {
    const { a, b } = await pair();
    const sb = await connect(server, b.token);
    let res = await upload(server, '/api/users/profile-image', a.token, { image: { data: fixture('photo.jpg'), name: 'me.jpg' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const first = res.body.profileImage;
    assert.match(first, /^\/uploads\/profiles\/[0-9a-f-]{36}\.jpg$/);
    const { res: got, bytes } = await fetchBytes(first);
    assert.equal(got.status, 200);
    assert.deepEqual(jpegSize(bytes), { width: 256, height: 256 });
    assert.equal((await fetch(server.url + first.replace('.jpg', '_64.jpg'))).status, 200);
    assert.equal((await api(server, 'GET', '/api/auth/me', { token: a.token })).body.profileImage, first);

    const sa = await connect(server, a.token);
    let sent = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'new face' });
    assert.equal(sent.message.senderProfileImage, first);

    res = await upload(server, '/api/users/profile-image', a.token, { image: { data: fixture('alpha.png'), name: 'me.png' } });
    const second = res.body.profileImage;
    assert.notEqual(second, first);
    assert.equal((await fetch(server.url + first)).status, 404, 'the old image is removed');
    sent = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'newer face' });
    assert.equal(sent.message.senderProfileImage, second);

    res = await api(server, 'DELETE', '/api/users/profile-image', { token: a.token });
    assert.equal(res.status, 204);
    assert.equal((await fetch(server.url + second)).status, 404);
    assert.equal((await api(server, 'GET', '/api/auth/me', { token: a.token })).body.profileImage, null);
    sent = await emitAck(sa, 'message:send', { recipientId: b.user.id, content: 'no face' });
    assert.equal(sent.message.senderProfileImage, null);
    sa.close(); sb.close();
  });

  test('a profile image must be a real image of at most 5 MiB', async () => {
    const { a } = await pair();
    let res = await upload(server, '/api/users/profile-image', a.token, { image: { data: Buffer.from('not an image at all'), name: 'x.png', type: 'image/png' } });
    assert.equal(res.status, 400);
    res = await upload(server, '/api/users/profile-image', a.token, { image: { data: Buffer.alloc(5 * 1024 * 1024 + 1024, 1), name: 'big.png' } });
    assert.equal(res.status, 413);
    res = await upload(server, '/api/users/profile-image', a.token, { picture: { data: fixture('anim.gif') } });
    assert.equal(res.status, 400);
  });
});
