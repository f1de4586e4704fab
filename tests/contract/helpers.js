// Test harness: starts a real chatr binary on a free port with its own data
// directory, and speaks to it like clients do (fetch + socket.io-client v4).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { PROXY_SOURCE, startProxy } from './proxy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Where cargo put it (CARGO_TARGET_DIR moves every build).
export const BIN = process.env.CHATR_BIN ?? path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target', 'debug/chatr');
export const TIMEOUT = 5000;

/**
 * With CHATR_TEST_POSTGRES (set by scripts/with-postgres.sh) each data dir gets
 * its own PostgreSQL database, created on first use so that a restarted server
 * finds its data; without it chatr uses SQLite in the data dir.
 */
export function postgresDatabaseFor(dataDir) {
  const base = process.env.CHATR_TEST_POSTGRES;
  if (!base) return {};
  const name = `c_${path.basename(dataDir).toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
  const server = new URL(base);
  const found = execFileSync('psql', ['-h', server.hostname, '-p', server.port, '-U', 'postgres', '-tAc',
    `select 1 from pg_database where datname = '${name}'`, 'postgres'], { encoding: 'utf8' });
  if (!found.trim()) execFileSync('createdb', ['-h', server.hostname, '-p', server.port, '-U', 'postgres', name]);
  return { DATABASE_URL: `${base}/${name}` };
}

/** Temporary directories this test process made; removed when it exits. */
const scratch = new Set();
process.on('exit', () => { for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true }); });

/** A fresh directory under the system's temp dir, removed when the test process exits. */
export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.add(dir);
  return dir;
}

/** What each server this file started wrote to stderr: shown when a test
 * of the file failed, since the server's side of a failure is otherwise lost
 * with its temporary directory. */
const logs = [];
const LOG_TAIL = 4000;
process.on('exit', (code) => {
  if (code === 0) return;
  for (const { dataDir, stderr } of logs) {
    const text = stderr();
    if (!text) continue;
    const tail = text.length > LOG_TAIL ? `…${text.slice(-LOG_TAIL)}` : text;
    process.stderr.write(`--- chatr in ${dataDir} wrote:\n${tail}\n`);
  }
});

/** With CHATR_TEST_PROXY=nginx|caddy every server a test starts is reached
 * through that proxy with its reference configuration (make test-proxy);
 * `direct` opts a server out (a test that sets up a proxy itself). */
const PROXY = process.env.CHATR_TEST_PROXY;

/** Starts chatr; resolves once it prints the port it listens on. */
export async function startServer({ env = {}, dataDir, generatedSecret = false, direct = false } = {}) {
  dataDir ??= tempDir('chatr-contract-');
  const secret = generatedSecret ? undefined : env.JWT_SECRET ?? crypto.randomBytes(32).toString('hex');
  const { JWT_SECRET: _inherited, ...inherited } = process.env;
  const database = env.DATABASE_URL ? {} : postgresDatabaseFor(dataDir);
  const child = spawn(BIN, [], {
    env: {
      ...inherited,
      ...database,
      PORT: '0',
      CHATR_HOST: '127.0.0.1',
      CHATR_DATA_DIR: dataDir,
      CHATR_RATE_LIMITS: 'off',
      ...(PROXY && !direct ? { CHATR_TRUSTED_PROXIES: PROXY_SOURCE[PROXY] } : {}),
      ...(secret ? { JWT_SECRET: secret } : {}),
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (process.env.CHATR_TEST_LOG) process.stderr.write(d); });
  logs.push({ dataDir, stderr: () => stderr });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`chatr did not start:\n${stderr}`)), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /chatr listening on (http:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`chatr exited with ${code}:\n${stderr}`)); });
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const proxy = PROXY && !direct ? await startProxy(PROXY, new URL(url).host) : null;
  // The proxy goes with its server, however the server ends (a test may
  // signal the process itself).
  const proxyStopped = proxy ? exited.then(() => proxy.stop()) : Promise.resolve();
  const sockets = new Set();
  return {
    url: proxy ? proxy.url : url, direct: url, dataDir, secret, child, sockets,
    stderr: () => stderr,
    /** SIGTERM and wait: a graceful shutdown. */
    async stop() {
      for (const s of sockets) s.disconnect();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await proxyStopped;
      return exited;
    },
    /** SIGKILL: a crash. */
    async kill() {
      child.kill('SIGKILL');
      await proxyStopped;
      return exited;
    },
  };
}

/** How long an upload may go without an answer before it fails. */
const UPLOAD_TIMEOUT = 30000;

/**
 * Multipart upload; `parts` maps field names to strings or `{ data, name, type }` files.
 * Sent with node:http rather than fetch: the server may answer (401, 413) before it
 * has read the body, which fetch reports as a network error instead of the answer.
 */
export async function upload(server, urlPath, token, parts) {
  const form = new FormData();
  for (const [key, value] of Object.entries(parts)) {
    if (value === undefined) continue;
    if (typeof value === 'string') form.append(key, value);
    else form.append(key, new Blob([value.data], { type: value.type ?? 'application/octet-stream' }), value.name ?? 'file');
  }
  const encoded = new Request('http://localhost/', { method: 'POST', body: form });
  const body = Buffer.from(await encoded.arrayBuffer());
  const url = new URL(server.url + urlPath);
  return new Promise((resolve, reject) => {
    // Settles once the answer is read and the body is either sent whole or
    // broken off; `broken` in the result names the error if it broke (the
    // server closed while the body was still coming).
    let answer = null;
    let sent = false;
    let broken;
    let noAnswer = null;
    const settle = () => {
      if (answer && (sent || broken)) resolve({ ...answer, broken });
    };
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: false,
      headers: {
        'content-type': encoded.headers.get('content-type'),
        'content-length': body.length,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    }, (res) => {
      clearTimeout(noAnswer);
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        answer = { status: res.statusCode, body: parsed, headers: new Headers(res.headers) };
        settle();
      });
    });
    req.on('finish', () => { sent = true; settle(); });
    // A broken send with an answer still coming is not an error here. With
    // no answer, the request would wait for ever (a test timeout that says
    // nothing): it fails, saying why.
    req.on('error', (err) => {
      if (!['EPIPE', 'ECONNRESET'].includes(err.code)) return reject(err);
      broken ??= err.code;
      if (answer) return settle();
      noAnswer ??= setTimeout(() => reject(new Error(`upload to ${urlPath}: ${err.code} and no answer`)), 2000);
    });
    req.setTimeout(UPLOAD_TIMEOUT, () => req.destroy(new Error(`upload to ${urlPath}: no answer in ${UPLOAD_TIMEOUT} ms`)));
    req.end(body);
  });
}

/** Plain HTTP; resolves `{ status, body, headers }` with `body` parsed when it is JSON. */
export async function api(server, method, urlPath, { body, token, raw, headers = {} } = {}) {
  const res = await fetch(server.url + urlPath, {
    method,
    headers: {
      ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined),
  });
  const text = await res.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

let counter = 0;
/** A unique valid username for this run. */
export function uniqueName(prefix = 'u') {
  counter += 1;
  return `${prefix}${process.pid % 10000}_${counter}_${crypto.randomBytes(2).toString('hex')}`.slice(0, 20);
}

/** Registers a fresh user; resolves `{ token, user, password }`. */
export async function register(server, prefix = 'u') {
  const username = uniqueName(prefix);
  const password = 'Secret123!';
  const res = await api(server, 'POST', '/api/auth/register', {
    body: { username, email: `${username}@example.com`, password },
  });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...res.body, password };
}

/** Connects a socket.io-client and resolves once connected (rejects on connect_error). */
export function connect(server, token, { transport = 'websocket', auth, ...opts } = {}) {
  const socket = io(server.url, {
    auth: auth ?? { token },
    transports: transport === 'upgrade' ? ['polling', 'websocket'] : [transport],
    reconnection: false,
    forceNew: true,
    timeout: TIMEOUT,
    ...opts,
  });
  server.sockets.add(socket);
  recordEvents(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => { socket.close(); reject(err); });
  });
}

/** Resolves the `connect_error` of a refused connection. */
export function connectError(server, opts) {
  return connect(server, undefined, opts).then(
    (s) => { s.close(); throw new Error('connection was accepted'); },
    (err) => err,
  );
}

// Every event a test socket receives is recorded, so that a test can wait for
// one that arrived before it started waiting, and can assert that one did not.
function recordEvents(socket) {
  socket.received = [];
  socket.onAny((event, ...args) => {
    socket.received.push({ event, payload: args[0], args });
    for (const w of [...(socket.waiters ?? [])]) w();
  });
}

/** Waits for an event matching `predicate` (already received ones count). */
export function waitFor(socket, event, predicate = () => true, timeout = TIMEOUT) {
  return new Promise((resolve, reject) => {
    socket.waiters ??= new Set();
    const check = () => {
      const hit = socket.received.find((r) => r.event === event && predicate(r.payload) && !r.taken);
      if (!hit) return false;
      hit.taken = true;
      socket.waiters.delete(check);
      clearTimeout(timer);
      resolve(hit.payload);
      return true;
    };
    const timer = setTimeout(() => {
      socket.waiters.delete(check);
      reject(new Error(`timed out waiting for ${event}; got ${JSON.stringify(socket.received.map((r) => r.event))}`));
    }, timeout);
    if (!check()) socket.waiters.add(check);
  });
}

/** The events named `event` received so far (optionally matching). */
export function receivedEvents(socket, event, predicate = () => true) {
  return socket.received.filter((r) => r.event === event && predicate(r.payload)).map((r) => r.payload);
}

/** Emits with an acknowledgement; resolves the ack. */
export function emitAck(socket, event, ...args) {
  return socket.timeout(TIMEOUT).emitWithAck(event, ...args);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Keeps `socket` sending messages to `recipientId`, four at a time, each
 * waiting for its ack; the returned function stops and waits for the last ones.
 */
export function keepSending(socket, recipientId, prefix) {
  let sending = true;
  const pump = (async () => {
    for (let i = 0; sending; i += 4) {
      await Promise.all([0, 1, 2, 3].map((k) =>
        emitAck(socket, 'message:send', { recipientId, content: `${prefix} ${i + k}` })));
    }
  })();
  return async () => {
    sending = false;
    await pump.catch(() => {});
  };
}

/**
 * Connects a recipient `rounds` times with `open(round)` while messages keep
 * arriving for it, and checks that each session gets every message at most
 * once (from its backlog or live, never both). With `acknowledge`, each
 * session acknowledges what it gets and waits for a first message, so that
 * the backlogs stay short and every round sees the hand-over.
 */
export async function assertEachOnceAcrossJoins(rounds, open, { acknowledge = false } = {}) {
  for (let round = 0; round < rounds; round += 1) {
    const s = await open(round);
    if (acknowledge) {
      s.on('message:received', (m) => s.emit('message:delivered', { messageId: m.id, senderId: m.senderId }));
      await waitFor(s, 'message:received');
    }
    await sleep(150);
    const ids = receivedEvents(s, 'message:received').map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, `round ${round}: a message arrived twice`);
    s.close();
  }
}

/** Lets in-flight events arrive before asserting that something did not. */
export const settle = () => sleep(300);

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
/** Signs a JWT by hand, so that tests can make expired, foreign or wrong-algorithm tokens. */
export function signToken(secret, claims, alg = 'HS256') {
  const head = b64url({ alg, typ: 'JWT' });
  const body = b64url(claims);
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const sig = hash ? crypto.createHmac(hash, secret).update(`${head}.${body}`).digest('base64url') : '';
  return `${head}.${body}.${sig}`;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// The contract's Message fields plus `thumbnailUrl` (an allowed extra: image previews).
export const MESSAGE_KEYS = [
  'id', 'senderId', 'senderUsername', 'senderProfileImage', 'recipientId', 'content', 'type', 'status',
  'createdAt', 'readAt', 'fileUrl', 'fileName', 'fileSize', 'fileType', 'waveform', 'duration', 'clientMessageId',
  'thumbnailUrl', 'editedAt', 'deletedAt', 'replyTo', 'reactions',
].sort();
export const TRANSPORTS = ['websocket', 'polling'];

/** The server process's resident memory, in MiB (from /proc). */
export function rssMiB(server) {
  const status = fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

/**
 * Plain HTTP from a chosen loopback address (127.0.0.1 is not the only one:
 * the whole 127/8 is this machine), for throttles that count per address.
 */
export function apiFrom(server, localAddress, method, urlPath, { body, token, headers = {} } = {}) {
  const url = new URL(server.url + urlPath);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname + url.search, method, localAddress, agent: false,
      headers: {
        ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, body: parsed, headers: new Headers(res.headers) });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** `chatr admin ARGS` configured like `srv` (its data, its port, its secret). */
export function adminCli(srv, args) {
  const env = { ...process.env, RUST_LOG: 'warn', CHATR_DATA_DIR: srv.dataDir, JWT_SECRET: srv.secret };
  // No server (PORT 0): admin starts one of its own on the data.
  env.PORT = srv.url ? new URL(srv.direct ?? srv.url).port : '0';
  // With no server, admin opens the data itself: the same database a server would.
  if (!srv.url) Object.assign(env, postgresDatabaseFor(srv.dataDir));
  return new Promise((resolve) => {
    const child = spawn(BIN, ['admin', ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
