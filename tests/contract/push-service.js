// A Web Push service of our own on loopback, as a browser vendor runs one:
// it takes RFC 8030 pushes, checks the VAPID JWT (RFC 8292) against the
// public key the push names and the one the server publishes, and decrypts
// the RFC 8291 aes128gcm payload with the subscription's private key — so a
// test that reads a payload here proves a real browser could read it.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

const b64u = (buf) => Buffer.from(buf).toString('base64url');

function hkdf(ikm, salt, info, length) {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from(info), length));
}

/** Decrypts an aes128gcm body (one record) for a subscription. */
export function decrypt(body, ecdh, authSecret) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const senderPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const secret = ecdh.computeSecret(senderPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), senderPublic]);
  const ikm = hkdf(secret, authSecret, keyInfo, 32);
  const cek = hkdf(ikm, salt, 'Content-Encoding: aes128gcm\0', 16);
  const nonce = hkdf(ikm, salt, 'Content-Encoding: nonce\0', 12);
  const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with 0x02 and zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  assert.equal(padded[end], 2, 'the last record delimiter');
  return JSON.parse(padded.subarray(0, end).toString('utf8'));
}

/** Checks `Authorization: vapid t=…, k=…`; returns the JWT's claims. */
export function checkVapid(header, audience, expectedKey) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  assert.ok(m, `a VAPID authorization: ${header}`);
  const [, jwt, k] = m;
  if (expectedKey) assert.equal(k, expectedKey, 'signed with the key the server publishes');
  const [h, p, s] = jwt.split('.');
  const point = Buffer.from(k, 'base64url');
  assert.equal(point.length, 65);
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) },
    format: 'jwk',
  });
  const signed = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  assert.ok(signed, 'the VAPID JWT signature verifies');
  const head = JSON.parse(Buffer.from(h, 'base64url'));
  assert.equal(head.alg, 'ES256');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  assert.equal(claims.aud, audience, 'aud is the push service origin');
  const now = Date.now() / 1000;
  assert.ok(claims.exp > now && claims.exp <= now + 24 * 3600, 'exp within 24 h');
  assert.match(claims.sub, /^(mailto:|https:)/);
  return claims;
}

/** Starts the service; `expectedKey` is the server's VAPID public key. */
export async function startPushService({ expectedKey } = {}) {
  const subs = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const id = /^\/push\/([\w-]+)$/.exec(req.url)?.[1];
      const sub = subs.get(id);
      if (req.method !== 'POST' || !sub) { res.writeHead(404).end(); return; }
      const attempt = { headers: req.headers, at: Date.now() };
      sub.attempts.push(attempt);
      try {
        checkVapid(req.headers.authorization, service.origin, service.expectedKey);
        assert.equal(req.headers['content-encoding'], 'aes128gcm');
        assert.ok(Number(req.headers.ttl) > 0, 'a TTL');
        attempt.payload = decrypt(Buffer.concat(chunks), sub.ecdh, sub.auth);
      } catch (err) {
        attempt.error = err;
        res.writeHead(400).end(String(err.message));
        return;
      }
      const status = sub.respond.shift() ?? 201;
      if (status < 300) sub.delivered.push(attempt.payload);
      res.writeHead(status, status === 429 ? { 'retry-after': '1' } : {}).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const service = {
    origin,
    expectedKey,
    /** A browser's subscription: `{ id, json, delivered, attempts, respond }`. */
    subscribe() {
      const id = crypto.randomUUID();
      const ecdh = crypto.createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = crypto.randomBytes(16);
      const sub = {
        id, ecdh, auth, delivered: [], attempts: [], respond: [],
        json: { endpoint: `${origin}/push/${id}`, expirationTime: null, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) } },
      };
      subs.set(id, sub);
      return sub;
    },
    errors: () => [...subs.values()].flatMap((s) => s.attempts.filter((a) => a.error).map((a) => a.error)),
    close: () => new Promise((r) => server.close(r)),
  };
  return service;
}
