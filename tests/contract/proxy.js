// Starts nginx or Caddy in front of a Chatr on loopback with the reference
// configuration of deploy/ (its @…@ placeholders filled in). Used by
// nginx.js / caddy.js and, with CHATR_TEST_PROXY=nginx|caddy, by every
// server the contract suite starts (helpers.js).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Where each proxy listens, and the address it connects to Chatr from
 * (the one Chatr trusts in CHATR_TRUSTED_PROXIES). */
export const PROXY_HOST = '127.0.0.2';
export const PROXY_SOURCE = { nginx: '127.0.0.3', caddy: '127.0.0.1' };

const freePort = (host) => new Promise((resolve) => {
  const s = net.createServer().listen(0, host, () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const listening = (port, host) => new Promise((resolve) => {
  const s = net.connect(port, host, () => { s.end(); resolve(true); }).on('error', () => resolve(false));
});

const live = new Set();
process.on('exit', () => { for (const child of live) child.kill('SIGKILL'); });

const deploy = (file) => fs.readFileSync(new URL(`../../deploy/${file}`, import.meta.url), 'utf8');

/** Starts `kind` in front of `upstream` (host:port); resolves `{ url, stop }`. */
export async function startProxy(kind, upstream) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), `chatr-${kind}-`));
  const port = await freePort(PROXY_HOST);
  let child;
  if (kind === 'nginx') {
    const conf = deploy('nginx.conf')
      .replaceAll('@PREFIX@', prefix)
      .replaceAll('@UPSTREAM@', upstream)
      .replaceAll('@LISTEN@', `${PROXY_HOST}:${port}`)
      .replaceAll('@BIND@', `proxy_bind ${PROXY_SOURCE.nginx};`);
    fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
    child = spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
  } else if (kind === 'caddy') {
    const conf = deploy('Caddyfile')
      // No admin endpoint and no certificates on loopback.
      .replaceAll('@GLOBAL@', 'admin off\n\tauto_https off')
      .replaceAll('@SITE@', `http://${PROXY_HOST}:${port}`)
      .replaceAll('@BIND@', `bind ${PROXY_HOST}`)
      .replaceAll('@UPSTREAM@', upstream);
    fs.writeFileSync(path.join(prefix, 'Caddyfile'), conf);
    child = spawn('caddy', ['run', '--adapter', 'caddyfile', '--config', path.join(prefix, 'Caddyfile')], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, HOME: prefix, XDG_DATA_HOME: prefix, XDG_CONFIG_HOME: prefix },
    });
    let log = '';
    child.stderr.on('data', (d) => { log += d; if (/"level":"(error|fatal)"/.test(String(d))) process.stderr.write(d); });
    child.on('exit', (code) => { if (code) process.stderr.write(`caddy exited with ${code}:\n${log.slice(-2000)}\n`); });
  } else {
    throw new Error(`unknown proxy ${kind}`);
  }
  // Never outlives the tests.
  live.add(child);
  child.on('exit', () => live.delete(child));
  for (let i = 0; !(await listening(port, PROXY_HOST)); i += 1) {
    if (i > 100 || child.exitCode !== null) throw new Error(`${kind} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    url: `http://${PROXY_HOST}:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      fs.rmSync(prefix, { recursive: true, force: true });
    },
  };
}
