// X-Forwarded-For names the client only when the request comes from a
// configured proxy: throttles then key on the client, not on the proxy;
// from anyone else the header is ignored (a stranger cannot pick an address).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, register, startServer } from './helpers.js';

let behind;
let direct;
before(async () => {
  [behind, direct] = await Promise.all([
    startServer({ env: { CHATR_RATE_LIMITS: 'on', CHATR_TRUSTED_PROXIES: '127.0.0.1, ::1' } }),
    startServer({ env: { CHATR_RATE_LIMITS: 'on' } }),
  ]);
});
after(async () => { await Promise.all([behind.stop(), direct.stop()]); });

const login = (srv, user, password, from) => api(srv, 'POST', '/api/auth/login', {
  body: { login: user.user.username, password }, headers: { 'x-forwarded-for': from },
});

/** Guesses wrong from `from` until the server answers 429. */
async function throttle(srv, user, from) {
  for (let i = 0; i < 200; i += 1) {
    const res = await login(srv, user, 'Wrong-guess1', from);
    if (res.status === 429) return;
    assert.equal(res.status, 401);
  }
  throw new Error('never throttled');
}

describe('behind a proxy', () => {
  test('from a trusted proxy, the guesser is throttled on their own address; others are not', async () => {
    const user = await register(behind, 'xff');
    await throttle(behind, user, '203.0.113.5');
    assert.equal((await login(behind, user, 'Wrong-guess1', '203.0.113.5')).status, 429);
    const other = await login(behind, user, user.password, '203.0.113.6');
    assert.equal(other.status, 200, 'the owner, from another address, still logs in');
  });

  test('from anyone else, X-Forwarded-For is ignored: changing it does not escape the throttle', async () => {
    const user = await register(direct, 'xff');
    await throttle(direct, user, '203.0.113.5');
    const res = await login(direct, user, 'Wrong-guess1', '203.0.113.77');
    assert.equal(res.status, 429, 'the throttle keys on the real peer');
  });
});
