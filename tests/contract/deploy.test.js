// deploy/chatr.service is a unit systemd accepts, with the sandboxing the
// docs promise: `systemd-analyze verify` finds no error in it (with
// ExecStart pointing at the built binary), and its offline security
// exposure stays "OK" (≤ 2.0 of 10).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BIN, tempDir } from './helpers.js';

const UNIT = new URL('../../deploy/chatr.service', import.meta.url);

test('the systemd unit verifies, and its exposure is OK', () => {
  const unit = fs.readFileSync(UNIT, 'utf8');
  for (const setting of ['DynamicUser=yes', 'StateDirectory=chatr', 'ProtectSystem=strict', 'NoNewPrivileges=yes']) {
    assert.ok(unit.includes(setting), `${setting} is set`);
  }
  const file = path.join(tempDir('chatr-unit-'), 'chatr.service');
  fs.writeFileSync(file, unit.replace(/^ExecStart=.*$/m, `ExecStart=${BIN}`));
  execFileSync('systemd-analyze', ['verify', file], { stdio: 'pipe' });
  const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=20', file], { encoding: 'utf8' });
  const level = /Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1];
  assert.equal(security.status, 0, `exposure above 2.0: ${level}\n${security.stdout.slice(-1500)}`);
  assert.ok(Number(level) <= 2.0, `exposure ${level}`);
});
